"""Renders targets through the one Jinja environment and writes rendered/ atomically.

Output is a pure function of (catalogue, templates): no clock, no machine
facts, sorted everything, so identical input gives byte-identical files.
"""

from __future__ import annotations

import ctypes
import difflib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import jinja2
import jinja2.meta

from factory import model
from factory.errors import RenderError
from factory.schema import HEREDOC_TERMINATOR

TEMPLATE_SUFFIX = ".Dockerfile.j2"
OS_TEMPLATE = "os"
# Inputs of the OS bootstrap (mmdebstrap), rendered beside the OS Dockerfile: template -> file.
OS_BOOTSTRAP = {"os-customize.sh.j2": "customize.sh", "os-dpkg.cfg.j2": "dpkg.cfg"}
OCI = "org.opencontainers.image"
FACTORY_LABELS = "io.factory"


def _raise(message: str) -> NoReturn:
    """Template global: `{{ raise('...') }}` stops rendering with a clear error."""
    raise RenderError(message)


def _dq(value: object) -> str:
    """Dockerfile double-quoted word; `$` is left for Dockerfile variable expansion."""
    text = str(value)
    if "\n" in text or "\r" in text:
        raise RenderError(f"refusing to render a newline inside a Dockerfile value: {text!r}")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _sq(value: object) -> str:
    """POSIX shell single-quoted word."""
    return "'" + str(value).replace("'", "'\"'\"'") + "'"


def make_environment(template_dir: Path) -> jinja2.Environment:
    """The one Jinja environment of the factory.

    StrictUndefined turns a misspelled variable into an error instead of empty
    text (which would silently drop a Dockerfile line); autoescape stays off
    because the output is a Dockerfile, and values are quoted by the `dq`/`sq`
    filters instead; trim/lstrip keep template control lines out of the output.
    """
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
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
        """Every file of rendered/, or only those of the named stacks (`os` = the OS base)."""
        wanted = set(stacks) if stacks is not None else None
        files: list[RenderedFile] = []
        if wanted is None or "os" in wanted:
            files.extend(self._render_os())
        for target in self.catalogue.targets:
            if wanted is None or target.stack in wanted:
                files.extend(self._render_target(target))
        return sorted(files, key=lambda f: f.path)

    # -- per image -------------------------------------------------------------

    def _render_os(self) -> list[RenderedFile]:
        os_base = self.catalogue.os
        directory = f"os/{os_base.release}"
        labels = self._labels(
            title=os_base.image,
            description=os_base.description,
            version=os_base.version,
            extra=os_base.labels,
            factory={"stack": "os", "version": os_base.release, "variant": "base", "os": os_base.id},
        )
        context = {"os": os_base, "labels": labels, "target": None}
        sources = (os_base.source,)
        dockerfile = self._render(OS_TEMPLATE, context, sources, os_base.id)
        ignore = self._dockerignore(sources, allow=["rootfs-*.tar"])
        bootstrap = [
            RenderedFile(f"{directory}/{OS_BOOTSTRAP[name]}", self._render_plain(name, context, sources))
            for name in OS_BOOTSTRAP
        ]
        return [
            RenderedFile(f"{directory}/Dockerfile", dockerfile),
            RenderedFile(f"{directory}/.dockerignore", ignore),
            *bootstrap,
        ]

    def _render_target(self, target: model.Target) -> list[RenderedFile]:
        os_base = self.catalogue.os
        if target.base.kind == "scratch" or target.base.kind == "os":
            base_ref, base_id = self._base_reference(os_base.id, os_base.image, os_base.release), os_base.id
        else:
            parent = self.catalogue.target(target.base.target_id or "")
            base_ref = self._base_reference(parent.id, parent.image, parent.tags[0])
            base_id = parent.id
        labels = self._labels(
            title=target.image,
            description=target.description,
            version=target.version or target.variant,
            extra=target.labels,
            factory={
                "stack": target.stack,
                "version": target.version or "",
                "variant": target.variant,
                "os": os_base.id,
                "base": base_id,
            },
        )
        labels[f"{OCI}.base.name"] = "${BASE_IMAGE}"  # the exact reference built against
        labels = dict(sorted(labels.items()))
        context = {
            "os": os_base,
            "target": target,
            "labels": labels,
            "base_ref": base_ref,
            "base_id": base_id,
            "uses_targetarch": any("TARGETARCH" in v for v in target.env.values()),
            "needs_pin_ignore": any(isinstance(s, model.OsPackages) and not s.all_pinned for s in target.install),
        }
        sources = (*target.sources, os_base.source)
        if self.catalogue.pins:
            sources = (*sources, "pins/images.yaml")
        directory = target.dockerfile.rsplit("/", 1)[0]
        dockerfile = self._render(target.template, context, sources, target.id)
        ignore = self._dockerignore(sources, allow=[])
        return [RenderedFile(target.dockerfile, dockerfile), RenderedFile(f"{directory}/.dockerignore", ignore)]

    def _base_reference(self, target_id: str, image: str, tag: str) -> str:
        return self.catalogue.pinned_reference(target_id, image, tag)

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
    """At most one blank line in a row, no trailing spaces, exactly one final newline."""
    lines = [line.rstrip() for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if line == "" and (not out or out[-1] == ""):
            continue
        out.append(line)
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"


# -- writing rendered/ ---------------------------------------------------------------


def diff(output_dir: Path, files: list[RenderedFile], scope: Iterable[str] | None = None) -> str:
    """Unified diff from what is in `output_dir` to `files` ('' when identical).

    `scope` limits the comparison to the given top-level directories of rendered/.
    """
    wanted = {f.path: f.content for f in files}
    existing = _existing(output_dir, scope)
    chunks: list[str] = []
    for path in sorted(wanted.keys() | existing.keys()):
        old, new = existing.get(path), wanted.get(path)
        if old == new:
            continue
        chunks.extend(
            difflib.unified_diff(
                (old or "").splitlines(keepends=True),
                (new or "").splitlines(keepends=True),
                fromfile=f"a/rendered/{path}" if old is not None else "/dev/null",
                tofile=f"b/rendered/{path}" if new is not None else "/dev/null",
            )
        )
    return "".join(chunks)


def _existing(output_dir: Path, scope: Iterable[str] | None) -> dict[str, str]:
    found: dict[str, str] = {}
    if not output_dir.is_dir():
        return found
    tops = set(scope) if scope is not None else None
    for path in sorted(output_dir.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(output_dir).as_posix()
        if tops is not None and relative.split("/", 1)[0] not in tops:
            continue
        found[relative] = path.read_text(encoding="utf-8", errors="replace")
    return found


def write(output_dir: Path, files: list[RenderedFile], scope: Iterable[str] | None = None) -> list[str]:
    """Replace `output_dir` with `files` atomically; return the paths that changed.

    Everything is written to a sibling temporary directory first and swapped in
    with one rename, so a failure at any point leaves the old rendered/ intact.
    With `scope`, top-level directories outside it are carried over unchanged.
    """
    output_dir = output_dir.resolve()
    parent = output_dir.parent
    staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.new-", dir=parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)  # mkdtemp's 0700 would be swapped in as rendered/'s mode
    try:
        if scope is not None and output_dir.is_dir():
            tops = set(scope)
            for child in output_dir.iterdir():
                if child.name not in tops:
                    _copy(child, staging / child.name)
        for item in files:
            target = staging / item.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(item.content, encoding="utf-8")
        changed = _changed(output_dir, staging)
        _swap(staging, output_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(staging, ignore_errors=True)  # now holds the previous rendered/
    return changed


def _copy(source: Path, dest: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, dest, symlinks=True)
    else:
        shutil.copy2(source, dest)


def _changed(old_dir: Path, new_dir: Path) -> list[str]:
    old, new = _existing(old_dir, None), _existing(new_dir, None)
    return sorted(p for p in old.keys() | new.keys() if old.get(p) != new.get(p))


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _swap(staging: Path, output_dir: Path) -> None:
    """Exchange staging and output_dir in one step (renameat2); staging then holds the old tree."""
    if not output_dir.exists():
        os.rename(staging, output_dir)
        staging.mkdir()
        return
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is not None:
        result = renameat2(_AT_FDCWD, os.fsencode(staging), _AT_FDCWD, os.fsencode(output_dir), _RENAME_EXCHANGE)
        if result == 0:
            return
    # No atomic exchange (old libc or filesystem): two renames, a window of microseconds.
    aside = staging.with_name(staging.name + ".old")
    os.rename(output_dir, aside)
    os.rename(staging, output_dir)
    os.rename(aside, staging)
