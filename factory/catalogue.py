"""Loads stacks/ into a validated Catalogue: YAML -> schema -> extends -> model.

All problems of all files are collected and raised together as one
DefinitionError, each naming file, line and field.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from factory import model
from factory.errors import DefinitionError, Problem
from factory.schema import validate
from factory.yamlmarks import Marked, Path_, format_path, load_file

OS_FILE = "os"
DEFAULTS_FILE = "_defaults"
PINS_FILE = "pins/images.yaml"
RUNTIME_VARIANT = "runtime"


@dataclass(frozen=True)
class _Chain:
    """A stack file and its ancestors, child first, with the merged data."""

    name: str
    files: tuple[Marked, ...]
    data: dict[str, Any]

    def locate(self, path: Path_) -> tuple[str, int | None]:
        """The file (and line) that defines `path` most precisely; the child on ties."""
        best, best_depth = self.files[0], -1
        for marked in self.files:
            depth = next((n for n in range(len(path), -1, -1) if path[:n] in marked.lines), -1)
            if depth > best_depth:
                best, best_depth = marked, depth
        return best.file, best.line(path)

    def problem(self, path: Path_, message: str) -> Problem:
        file, line = self.locate(path)
        return Problem(file, line, format_path(path), message)


def load(root: Path, templates: Iterable[str]) -> model.Catalogue:
    """Load, validate and resolve the catalogue under `root`; raise on any problem."""
    loader = _Loader(root, frozenset(templates))
    return loader.run()


class _Loader:
    def __init__(self, root: Path, templates: frozenset[str]) -> None:
        self.root = root
        self.templates = templates
        self.problems: list[Problem] = []
        self.origins: dict[str, Path_] = {}  # target id -> where its tags are defined

    def run(self) -> model.Catalogue:
        stacks_dir = self.root / "stacks"
        if not stacks_dir.is_dir():
            raise DefinitionError([Problem(str(stacks_dir), None, "", "no stacks/ directory here")])
        files = {p.stem: p for p in sorted(stacks_dir.iterdir()) if p.suffix in (".yaml", ".yml")}
        for stem, path in files.items():
            if path.suffix == ".yml":
                self.problems.append(Problem(self._display(path), None, "", "use the .yaml extension"))
            if stem != OS_FILE and not _valid_stem(stem):
                self.problems.append(
                    Problem(self._display(path), None, "", "file name must be a lower-case name ([a-z0-9-])")
                )
        docs = {stem: self._load(path, "os" if stem == OS_FILE else "stack") for stem, path in files.items()}
        if OS_FILE not in files:
            self.problems.append(Problem("stacks/os.yaml", None, "", "missing: the unified OS definition is required"))
        pins = self._load_pins()
        if self.problems:
            raise DefinitionError(self.problems)
        os_base = self._os(docs.pop(OS_FILE))
        chains = self._chains(docs)
        if self.problems:
            raise DefinitionError(self.problems)
        targets: list[model.Target] = []
        for name, chain in chains.items():
            if not name.startswith("_"):
                targets.extend(self._targets(chain, os_base))
        self._check_unique_tags(targets, chains)
        ordered = self._order(targets)
        if self.problems:
            raise DefinitionError(self.problems)
        return model.Catalogue(os_base, tuple(ordered), pins)

    # -- files ---------------------------------------------------------------

    def _display(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    def _load(self, path: Path, kind: str) -> Marked | None:
        try:
            marked = load_file(path, self._display(path))
        except DefinitionError as exc:
            self.problems.extend(exc.problems)
            return None
        found = validate(marked, kind)
        self.problems.extend(found)
        return None if found else marked

    def _load_pins(self) -> dict[str, model.Pin]:
        path = self.root / PINS_FILE
        if not path.exists():
            return {}
        marked = self._load(path, "pins")
        if marked is None:
            return {}
        images = marked.data.get("images") or {}
        return {key: model.Pin(v["reference"], v["digest"]) for key, v in images.items()}

    # -- the OS ----------------------------------------------------------------

    def _os(self, marked: Marked | None) -> model.OSBase:
        assert marked is not None  # problems were raised before
        data = marked.data
        release = data["release"]
        facts = data["releases"].get(release)
        if facts is None:
            known = ", ".join(sorted(data["releases"]))
            raise DefinitionError(
                [
                    Problem(
                        marked.file, marked.line(("release",)), "release", f"{release!r} is not in releases ({known})"
                    )
                ]
            )
        if data["user"]["uid"] < 1 or data["user"]["gid"] < 1:  # schema enforces; kept for clarity
            raise DefinitionError([Problem(marked.file, marked.line(("user",)), "user", "must not be root")])
        user = model.User(**data["user"])
        return model.OSBase(
            name=data["name"],
            release=release,
            version=facts["version"],
            image=data["image"],
            tags=tuple(facts["tags"]),
            snapshot=data.get("snapshot"),
            mirror=data.get("mirror"),
            description=data.get("description", f"{data['name']} {release}"),
            packages=tuple(data["packages"]),
            path_excludes=tuple(data.get("path_excludes", ())),
            path_includes=tuple(data.get("path_includes", ())),
            timezone=data.get("timezone", "UTC"),
            user=user,
            platforms=tuple(data["platforms"]),
            env=model.frozen_map(data.get("env")),
            labels=model.frozen_map(data.get("labels")),
            cmd=tuple(data.get("cmd", ("bash",))),
            source=marked.file,
        )

    # -- extends -------------------------------------------------------------

    def _chains(self, docs: Mapping[str, Marked | None]) -> dict[str, _Chain]:
        chains: dict[str, _Chain] = {}
        for name, marked in docs.items():
            if marked is None:
                continue
            files = self._ancestry(name, docs)
            if files is None:
                continue
            data: dict[str, Any] = {}
            for parent_file in reversed(files):
                data = _merge(data, parent_file.data)
            data.pop("extends", None)
            chain = _Chain(name, tuple(files), data)
            self._check_platform_subsets(chain)
            chains[name] = chain
        return chains

    def _ancestry(self, name: str, docs: Mapping[str, Marked | None]) -> list[Marked] | None:
        files: list[Marked] = []
        seen: list[str] = []
        current: str | None = name
        while current is not None:
            marked = docs.get(current)
            if marked is None:  # invalid parent: its own problems are reported
                return None
            if current in seen:
                cycle = " -> ".join([*seen[seen.index(current) :], current])
                start = docs[name]
                assert start is not None
                self.problems.append(
                    Problem(start.file, start.line(("extends",)), "extends", f"cycle in extends: {cycle}")
                )
                return None
            seen.append(current)
            files.append(marked)
            parent = marked.data.get("extends")
            if parent is None and current != DEFAULTS_FILE and DEFAULTS_FILE in docs:
                parent = DEFAULTS_FILE
            if parent is not None and parent not in docs:
                hint = difflib.get_close_matches(parent, list(docs), n=1)
                suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
                self.problems.append(
                    Problem(
                        marked.file,
                        marked.line(("extends",)),
                        "extends",
                        f"{parent!r} names no file in stacks/{suggestion}",
                    )
                )
                return None
            current = parent
        return files

    def _check_platform_subsets(self, chain: _Chain) -> None:
        # Each file may only narrow the platforms of the file it extends.
        inherited: set[str] | None = None
        for marked in reversed(chain.files):
            own = marked.data.get("platforms")
            if own is None:
                continue
            extra = sorted(set(own) - inherited) if inherited is not None else []
            if extra:
                self.problems.append(
                    Problem(
                        marked.file,
                        marked.line(("platforms",)),
                        "platforms",
                        f"{', '.join(extra)} not in the platforms of the stack it extends"
                        f" ({', '.join(sorted(inherited or ()))})",
                    )
                )
            inherited = set(own)

    # -- targets ---------------------------------------------------------------

    def _targets(self, chain: _Chain, os_base: model.OSBase) -> list[model.Target]:
        data = chain.data
        variants: dict[str, dict[str, Any]] = data.get("variants") or {}
        if not variants:
            self.problems.append(chain.problem(("variants",), "a stack needs at least one variant"))
            return []
        stack_platforms = data.get("platforms") or list(os_base.platforms)
        outside_os = sorted(set(stack_platforms) - set(os_base.platforms))
        if outside_os:
            self.problems.append(
                chain.problem(("platforms",), f"{', '.join(outside_os)} not built by the OS base ({os_base.source})")
            )
            return []
        if not self._check_variant_graph(chain, variants):
            return []
        targets: list[model.Target] = []
        versioned = [v for v, spec in variants.items() if spec.get("versioned", True)]
        versions = data.get("versions") or []
        if versioned and not versions:
            self.problems.append(
                chain.problem(("versions",), f"variants {', '.join(versioned)} need at least one version")
            )
        seen_versions: dict[tuple[str, str], int] = {}
        for index, entry in enumerate(versions):
            where: Path_ = ("versions", index)
            duplicate = False
            for release in entry.get("releases") or ["*"]:
                first = seen_versions.setdefault((entry["version"], release), index)
                if first != index:
                    duplicate = True
                    self.problems.append(
                        chain.problem((*where, "version"), f"version {entry['version']!r} is already versions[{first}]")
                    )
            if duplicate:
                continue
            if entry.get("releases") and os_base.release not in entry["releases"]:
                continue  # this version belongs to another OS release
            if "tags" not in entry:
                self.problems.append(chain.problem((*where, "tags"), "required field is missing"))
                continue
            selected = entry.get("variants")
            names = list(selected) if selected is not None else versioned
            for name in names:
                if name not in variants:
                    hint = difflib.get_close_matches(name, list(variants), n=1)
                    suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
                    self.problems.append(
                        chain.problem((*where, "variants", name), f"no variant {name!r} in this stack{suggestion}")
                    )
                    continue
                if name not in versioned:
                    self.problems.append(
                        chain.problem((*where, "variants", name), f"variant {name!r} is unversioned (versioned: false)")
                    )
                    continue
                base = variants[name].get("from", "os")
                if base in variants and base not in names:
                    self.problems.append(
                        chain.problem(
                            (*where, "variants"),
                            f"variant {name!r} is built from {base!r}, which this version does not build",
                        )
                    )
                    continue
                extra = (selected or {}).get(name) or {}
                targets.append(self._target(chain, os_base, name, entry, index, extra))
        self._check_parent_platforms(chain, targets)
        for name, spec in variants.items():
            if spec.get("versioned", True):
                continue
            if "tags" not in spec:
                self.problems.append(
                    chain.problem(("variants", name, "tags"), "an unversioned variant needs its own tags")
                )
                continue
            targets.append(self._target(chain, os_base, name, None, None, {}))
        return targets

    def _check_parent_platforms(self, chain: _Chain, targets: list[model.Target]) -> None:
        """A variant built FROM another needs that image for each of its platforms."""
        by_id = {t.id: t for t in targets}
        for target in targets:
            parent = by_id.get(target.base.target_id or "") if target.base.kind == "target" else None
            if parent is not None:
                missing = sorted(set(target.platforms) - set(parent.platforms))
                if missing:
                    self.problems.append(
                        chain.problem(
                            self.origins[target.id][:2],
                            f"{target.id} needs {parent.id} for {', '.join(missing)}, which it is not built for",
                        )
                    )

    def _check_variant_graph(self, chain: _Chain, variants: Mapping[str, Mapping[str, Any]]) -> bool:
        """Report unknown or cyclic `from` between variants; True when the graph is sound."""
        before = len(self.problems)
        for name, spec in variants.items():
            base = spec.get("from", "os")
            if base in ("os", "scratch"):
                continue
            if base not in variants:
                hint = difflib.get_close_matches(base, list(variants), n=1)
                suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
                self.problems.append(
                    chain.problem(
                        ("variants", name, "from"),
                        f"expected 'os', 'scratch' or a variant of this stack, got {base!r}{suggestion}",
                    )
                )
            elif spec.get("versioned", True) != variants[base].get("versioned", True):
                self.problems.append(
                    chain.problem(
                        ("variants", name, "from"), f"{name!r} and {base!r} must both be versioned or both unversioned"
                    )
                )
            seen = [name]
            while base in variants and base not in ("os", "scratch"):
                if base in seen:
                    self.problems.append(
                        chain.problem(("variants", name, "from"), f"cycle in from: {' -> '.join([*seen, base])}")
                    )
                    break
                seen.append(base)
                base = variants[base].get("from", "os")
        return len(self.problems) == before

    def _target(
        self,
        chain: _Chain,
        os_base: model.OSBase,
        variant: str,
        entry: Mapping[str, Any] | None,
        index: int | None,
        extra: Mapping[str, Any],
    ) -> model.Target:
        data = chain.data
        spec = data["variants"][variant]
        image = data.get("image", chain.name)
        version = entry["version"] if entry else None
        if entry is not None:
            suffix = spec.get("tag_suffix", "" if variant == RUNTIME_VARIANT else f"-{variant}")
            tags = tuple(f"{tag}{suffix}" for tag in entry["tags"])
        else:
            tags = tuple(spec["tags"])
        platforms = [p for p in (data.get("platforms") or os_base.platforms)]
        for narrower in ((entry or {}).get("platforms"), spec.get("platforms")):
            if narrower is not None:
                platforms = [p for p in platforms if p in narrower]
        where: Path_ = ("versions", index) if index is not None else ("variants", variant)
        if not platforms:
            self.problems.append(chain.problem(where, "no platform left after narrowing by version and variant"))
        base_name = spec.get("from", "os")
        if base_name == "os":
            base = model.BaseRef("os", os_base.id)
        elif base_name == "scratch":  # the final stage is scratch; its helper stages use the OS base
            base = model.BaseRef("scratch", os_base.id)
        else:
            parent_id = f"{image}:{version}-{base_name}" if version else f"{image}:{base_name}"
            base = model.BaseRef("target", parent_id)
        self.origins[f"{image}:{version}-{variant}" if version else f"{image}:{variant}"] = (
            (*where, "tags") if index is not None else ("variants", variant, "tags")
        )
        own: list[tuple[tuple[Any, ...], Mapping[str, Any]]] = [
            (("variants", variant, "install", i), step) for i, step in enumerate(spec.get("install", ()))
        ]
        own += [
            (("versions", index, "variants", variant, "install", i), step)
            for i, step in enumerate(extra.get("install", ()))
        ]
        steps = tuple(self._install_step(chain, path, step, platforms) for path, step in own)
        template = spec.get("template") or (chain.name if chain.name in self.templates else "stack")
        if template not in self.templates:
            self.problems.append(
                chain.problem(("variants", variant, "template"), f"no template templates/{template}.Dockerfile.j2")
            )
        run = "\n".join(s.strip("\n") for s in (spec.get("run", ""), extra.get("run", "")) if s.strip())
        return model.Target(
            stack=chain.name,
            version=version,
            variant=variant,
            image=image,
            tags=tags,
            platforms=tuple(platforms),
            base=base,
            template=template,
            description=spec.get("description") or data.get("description") or chain.name,
            install=steps,
            run=run,
            env=model.frozen_map(
                {**data.get("env", {}), **(entry or {}).get("env", {}), **spec.get("env", {}), **extra.get("env", {})}
            ),
            labels=model.frozen_map(
                {
                    **data.get("labels", {}),
                    **(entry or {}).get("labels", {}),
                    **spec.get("labels", {}),
                    **extra.get("labels", {}),
                }
            ),
            verify=tuple(
                v if isinstance(v, str) else tuple(v) for v in (*spec.get("verify", ()), *extra.get("verify", ()))
            ),
            cmd=tuple(extra.get("cmd") or spec.get("cmd") or ()),
            sources=tuple(m.file for m in chain.files),
        )

    def _install_step(
        self, chain: _Chain, path: tuple[Any, ...], step: Mapping[str, Any], platforms: list[str]
    ) -> model.InstallStep:
        method = step["method"]
        if method == "os-packages":
            return model.OsPackages(tuple(step["packages"]))
        if method == "copy-from":
            return model.CopyFrom(step["image"], step["src"], step["dest"])
        missing = sorted({p.split("/")[1] for p in platforms} - set(step["url"]))
        if missing:
            self.problems.append(
                chain.problem((*path, "url"), f"download {step['name']!r} has no url for {', '.join(missing)}")
            )
        return model.Download(
            name=step["name"],
            urls=model.frozen_map(step["url"]),
            sha256=model.frozen_map(step["sha256"]),
            dest=step["dest"],
            archive=step.get("archive", False),
            strip_components=step.get("strip_components", 0),
            mode=step.get("mode", "0755"),
        )

    def _check_unique_tags(self, targets: list[model.Target], chains: Mapping[str, _Chain]) -> None:
        owners: dict[str, model.Target] = {}
        for target in targets:
            for reference in target.references:
                other = owners.setdefault(reference, target)
                if other is not target:
                    self.problems.append(
                        chains[target.stack].problem(
                            self.origins[target.id],
                            f"tag {reference} of {target.id} is also a tag of {other.id} ({other.sources[0]})",
                        )
                    )

    def _order(self, targets: list[model.Target]) -> list[model.Target]:
        # Parents before children; otherwise the definition order is kept.
        by_id = {t.id: t for t in targets}
        ordered: list[model.Target] = []
        placed: set[str] = set()

        def place(target: model.Target) -> None:
            if target.id in placed:
                return
            parent = target.base.target_id if target.base.kind == "target" else None
            if parent is not None and parent in by_id:
                place(by_id[parent])
            placed.add(target.id)
            ordered.append(target)

        for target in targets:
            place(target)
        return ordered


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge mappings; any other value (lists included) replaces the base."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _valid_stem(stem: str) -> bool:
    import re

    return re.fullmatch(r"_?[a-z0-9][a-z0-9-]{0,62}", stem) is not None
