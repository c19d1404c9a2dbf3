"""Renders targets through the one Jinja environment and writes rendered/ atomically.

Output is a pure function of (catalogue, templates): no clock, no machine
facts, sorted everything, so identical input gives byte-identical files.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import jinja2
import jinja2.meta

from factory import contract, model
from factory.errors import RenderError
from factory.pins import PINS_FILE
from factory.values import HEREDOC_TERMINATOR, refused_character, shown

TEMPLATE_SUFFIX = ".Dockerfile.j2"
HTML_SUFFIX = ".html.j2"  # the catalogue site's pages: autoescaped
OS_TEMPLATE = "os"
# Inputs of the OS bootstrap (mmdebstrap), rendered beside the OS Dockerfile: template -> file.
OS_BOOTSTRAP = {"os-customize.sh.j2": "customize.sh", "os-dpkg.cfg.j2": "dpkg.cfg"}
OCI = "org.opencontainers.image"
FACTORY_LABELS = "io.factory"
BUILD_LABELS = (f"{OCI}.created", f"{OCI}.revision")  # set from build args by the labels macro


def _raise(message: str) -> NoReturn:
    """Template global: `{{ raise('...') }}` stops rendering with a clear error."""
    raise RenderError(message)


def _one_line(value: object) -> str:
    """`value` as text, refused if it holds anything a consumer may read as a line break or control."""
    text = str(value)
    bad = refused_character(text)
    if bad is not None:
        raise RenderError(f"refusing to render {bad[1]} inside a Dockerfile value: {shown(text)}")
    return text


def _dq(value: object) -> str:
    """Dockerfile double-quoted word; `$` is left for Dockerfile variable expansion."""
    text = _one_line(value)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _sq(value: object) -> str:
    """POSIX shell single-quoted word."""
    return "'" + _one_line(value).replace("'", "'\"'\"'") + "'"


def make_environment(template_dir: Path) -> jinja2.Environment:
    """The one Jinja environment of the factory.

    StrictUndefined turns a misspelled variable into an error instead of empty
    text (which would silently drop a Dockerfile line); trim/lstrip keep
    template control lines out of the output.
    """
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir)),
        undefined=jinja2.StrictUndefined,
        # Escaping is decided per template, by its name: off for Dockerfiles and scripts (HTML escaping
        # would corrupt them; their values are quoted by the `dq`/`sq` filters instead), on for the
        # catalogue site's *.html.j2 pages, where every value from a record, an SBOM or a scan report
        # is text that must never become markup. One environment, so both share filters and loader.
        autoescape=jinja2.select_autoescape(
            enabled_extensions=(HTML_SUFFIX.lstrip("."),), default_for_string=False, default=False
        ),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["raise"] = _raise
    env.globals["EOT"] = HEREDOC_TERMINATOR
    env.filters["dq"] = _dq
    env.filters["sq"] = _sq
    env.filters["join_env"] = lambda item: f"{item[0]}={_dq(item[1])}"
    env.filters["tojson"] = lambda v: json.dumps(v, ensure_ascii=False)
    return env


def available_templates(template_dir: Path) -> set[str]:
    """Names of the Dockerfile templates (without the suffix)."""
    return {p.name[: -len(TEMPLATE_SUFFIX)] for p in template_dir.glob(f"*{TEMPLATE_SUFFIX}")}


@dataclass(frozen=True)
class RenderedFile:
    """One output file, relative to rendered/."""

    path: str
    content: str


class Renderer:
    """Renders a catalogue into the files of rendered/."""

    def __init__(self, template_dir: Path, catalogue: model.Catalogue, *, syntax_line: str | None = None) -> None:
        self.env = make_environment(template_dir)
        self.catalogue = catalogue
        self.syntax_line = syntax_line
        self._template_files: dict[str, tuple[str, ...]] = {}

    def render_all(self, stacks: Iterable[str] | None = None) -> list[RenderedFile]:
        """Every file of rendered/, or only those of the named stacks (`os` = the OS base).

        Every target is rendered even when one fails; the RenderError then names them all.
        """
        files, failures = self.render_each(stacks)
        if failures:
            raise RenderError("\n".join(str(exc) for _, exc in failures))
        return files

    def render_each(
        self, stacks: Iterable[str] | None = None
    ) -> tuple[list[RenderedFile], list[tuple[model.Target, RenderError]]]:
        """The files of every target that renders, and each target that does not with its error."""
        wanted = set(stacks) if stacks is not None else None
        files: list[RenderedFile] = []
        failures: list[tuple[model.Target, RenderError]] = []
        for target in self.catalogue.targets:
            if wanted is None or target.stack in wanted:
                try:
                    files.extend(self.render_target(target))
                except RenderError as exc:
                    failures.append((target, exc))
        return sorted(files, key=lambda f: f.path), failures

    # -- per image -------------------------------------------------------------

    def render_target(self, target: model.Target) -> list[RenderedFile]:
        """The Dockerfile and .dockerignore of one target (the OS base also gets its bootstrap recipe)."""
        os_base = self.catalogue.os
        parent = self.catalogue.parent(target)
        factory_labels = {
            "stack": target.stack,
            "version": target.version or "",
            "variant": target.variant,
            "os": os_base.id,
            "base": parent.id if parent is not None else "",
        }
        labels = self._labels(
            title=target.image,
            description=target.description,
            version=os_base.version if target.is_os else target.version or target.variant,
            extra=target.labels,
            factory=factory_labels,
        )
        if parent is not None:
            labels[f"{OCI}.base.name"] = "${BASE_IMAGE}"  # the exact reference built against
        context = {
            "os": os_base,
            "target": target,
            "labels": dict(sorted(labels.items())),
            "base_ref": self.catalogue.pinned_reference(parent) if parent is not None else None,
            "base_id": parent.id if parent is not None else None,
            "uses_targetarch": any("TARGETARCH" in v for v in target.env.values()),
            "needs_pin_ignore": any(isinstance(s, model.OsPackages) and not s.all_pinned for s in target.install),
        }
        sources = (*target.sources, *((os_base.source,) if not target.is_os else ()))
        if self.catalogue.pins and not target.is_os:
            sources = (*sources, PINS_FILE)
        dockerfile = self._render(target.template, context, sources, target.id)
        problems = contract.check(dockerfile, target, os_base, [*labels, *BUILD_LABELS])
        if problems:
            raise RenderError(f"{target.id}: the rendered Dockerfile breaks the image contract: {'; '.join(problems)}")
        files = [RenderedFile(target.dockerfile, dockerfile)]
        if target.is_os:
            files.append(
                RenderedFile(f"{target.directory}/.dockerignore", self._dockerignore(sources, ["rootfs-*.tar"]))
            )
            files += [
                RenderedFile(f"{target.directory}/{OS_BOOTSTRAP[name]}", self._render_plain(name, context, sources))
                for name in OS_BOOTSTRAP
            ]
        else:
            files.append(RenderedFile(f"{target.directory}/.dockerignore", self._dockerignore(sources, [])))
        return files

    def _labels(
        self, *, title: str, description: str, version: str, extra: Mapping[str, str], factory: Mapping[str, str]
    ) -> dict[str, str]:
        labels = {
            f"{OCI}.title": title,
            f"{OCI}.description": description,
            f"{OCI}.version": version,
        }
        labels.update({f"{FACTORY_LABELS}.{k}": v for k, v in factory.items() if v})
        labels.update(extra)  # vendor, licenses, source, url... from the definitions
        return dict(sorted(labels.items()))

    # -- Jinja -------------------------------------------------------------------

    def _render(self, template_name: str, context: dict[str, Any], sources: tuple[str, ...], what: str) -> str:
        name = template_name + TEMPLATE_SUFFIX
        try:
            template = self.env.get_template(name)
            header_sources = (*sources, *self._templates_of(name))
            text = template.render(**context, sources=header_sources, syntax_line=self.syntax_line)
        except RenderError as exc:
            raise RenderError(f"{what}: {exc}") from exc
        except jinja2.TemplateSyntaxError as exc:
            raise RenderError(f"templates/{exc.name or name}:{exc.lineno}: {exc.message}") from exc
        except jinja2.TemplateError as exc:
            raise RenderError(f"{what}: templates/{name}: {exc}") from exc
        return _normalise(text)

    def _render_plain(self, name: str, context: dict[str, Any], sources: tuple[str, ...]) -> str:
        """A non-Dockerfile template (bootstrap script, dpkg config) with its sources."""
        try:
            text = self.env.get_template(name).render(**context, sources=(*sources, *self._templates_of(name)))
        except jinja2.TemplateError as exc:
            raise RenderError(f"templates/{name}: {exc}") from exc
        return _normalise(text)

    def _templates_of(self, name: str) -> tuple[str, ...]:
        """The template and everything it extends, imports or includes, as repo paths."""
        if name not in self._template_files:
            found: list[str] = []
            pending = [name]
            while pending:
                current = pending.pop(0)
                if current in found:
                    continue
                found.append(current)
                loader = self.env.loader
                assert loader is not None
                source, _, _ = loader.get_source(self.env, current)
                refs = jinja2.meta.find_referenced_templates(self.env.parse(source))
                pending.extend(sorted(r for r in refs if r is not None))
            self._template_files[name] = tuple(f"templates/{t}" for t in found)
        return self._template_files[name]

    def _dockerignore(self, sources: tuple[str, ...], allow: list[str]) -> str:
        template = self.env.get_template("dockerignore.j2")
        return _normalise(template.render(sources=sources, allow=allow))


def _normalise(text: str) -> str:
    """At most one blank line in a row, no trailing spaces, exactly one final newline.

    Lines are split at \\n only: str.splitlines would also split at \\v, \\f,
    \\x1c-\\x1e, \\x85, U+2028 and U+2029 and so turn a value into a new line.
    """
    lines = [line.rstrip(" \t") for line in text.split("\n")]
    out: list[str] = []
    for line in lines:
        if line == "" and (not out or out[-1] == ""):
            continue
        out.append(line)
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"
