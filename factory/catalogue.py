"""Loads stacks/ into a validated Catalogue: YAML -> schema -> extends -> targets -> model.

All problems of all files are collected and raised together as one
DefinitionError, each naming file, line and field. A file that fails its
schema is left out of the later checks, but the other files still get them,
so one broken file never hides the problems of another. os.yaml is what every
stack is checked against: when its schema errors leave the settings stacks
depend on intact (OS_ESSENTIALS), the stacks are checked against the rest.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from factory import lifecycle, model, pins, targets
from factory.errors import DefinitionError, Problem
from factory.schema import validate
from factory.suggest import did_you_mean
from factory.yamlmarks import Marked, Path_, format_path, load_file

OS_FILE = "os"
DEFAULTS_FILE = "_defaults"
PINS_FILE = pins.PINS_FILE
_STEM = re.compile(r"_?[a-z0-9][a-z0-9-]{0,62}")
# What the stacks are checked against (releases, tags, image name, platforms): with these valid,
# stacks are expanded and checked even while other settings of os.yaml are in error.
OS_ESSENTIALS = frozenset({"name", "release", "releases", "image", "platforms"})
# Stand-ins for required settings of os.yaml that are in error, so the stacks can still be checked;
# the catalogue is never returned while os.yaml has a problem.
_OS_STAND_INS: Mapping[str, Any] = {
    "packages": [],
    "user": {"name": "user", "uid": 1, "group": "user", "gid": 1, "home": "/home/user"},
}


@dataclass(frozen=True)
class Chain:
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


def load(
    root: Path, templates: Iterable[str], pin_repositories: Sequence[str] = (), today: dt.date | None = None
) -> model.Catalogue:
    """Load, validate and resolve the catalogue under `root`; raise on any problem.

    `pin_repositories` are fnmatch patterns the references of pins/images.yaml
    must match (the factory's own repositories and what factory.yaml allows);
    empty means any. On `today` (default: the real one) no target may be past
    its end of life without an override in force (factory.lifecycle).
    """
    loader = _Loader(root, frozenset(templates), tuple(pin_repositories), today or lifecycle.today())
    return loader.run()


class _Loader:
    def __init__(
        self, root: Path, templates: frozenset[str], pin_repositories: tuple[str, ...], today: dt.date
    ) -> None:
        self.root = root
        self.templates = templates
        self.pin_repositories = pin_repositories
        self.today = today
        self.problems: list[Problem] = []
        self.extended: set[str] = {DEFAULTS_FILE}  # the files some file extends (_defaults: every stack)

    def run(self) -> model.Catalogue:
        stacks_dir = self.root / "stacks"
        if not stacks_dir.is_dir():
            raise DefinitionError([Problem(str(stacks_dir), None, "", "no stacks/ directory here")])
        files = self._files(stacks_dir)
        docs = {stem: self._load(path, "os" if stem == OS_FILE else "stack") for stem, path in files.items()}
        if OS_FILE not in files:
            self.problems.append(Problem("stacks/os.yaml", None, "", "missing: the unified OS definition is required"))
        pins = self._load_pins()
        os_marked = docs.pop(OS_FILE, None)
        os_base = self._os(os_marked) if os_marked is not None else None
        chains = self._chains(docs)
        self._check_shared_files_are_used(docs)
        if os_base is None:
            raise DefinitionError(self.problems or [Problem("stacks/os.yaml", None, "", "invalid")])
        expander = targets.Expander(os_base, self.templates, self.problems, self.pin_repositories)
        found = [expander.os_target()]
        for name, chain in chains.items():
            if not name.startswith("_"):
                found.extend(expander.expand(chain))
        ordered = expander.check_and_order(found, chains)
        self.problems.extend(lifecycle.problems(ordered, self.today))
        if self.problems:
            raise DefinitionError(self.problems)
        return model.Catalogue(os_base, tuple(ordered), pins)

    # -- files ---------------------------------------------------------------

    def _display(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    def _files(self, stacks_dir: Path) -> dict[str, Path]:
        """stacks/<name>.yaml by stem; every other YAML-looking file or folder is a problem, never ignored."""
        files: dict[str, Path] = {}
        for path in sorted(stacks_dir.rglob("*")):
            shown = self._display(path)
            looks_yaml = path.suffix.lower() in (".yaml", ".yml")
            if path.parent != stacks_dir:
                if looks_yaml:
                    self.problems.append(
                        Problem(shown, None, "", "definitions in subfolders are not read: move it to stacks/")
                    )
                continue
            if path.is_symlink() or (looks_yaml and not path.is_file()):
                self.problems.append(Problem(shown, None, "", "a definition must be a regular file (no symlinks)"))
                continue
            if not looks_yaml:
                continue
            if path.suffix != ".yaml":
                self.problems.append(Problem(shown, None, "", "use the lower-case .yaml extension"))
                continue
            if path.stem != OS_FILE and not _STEM.fullmatch(path.stem):
                self.problems.append(Problem(shown, None, "", "file name must be a lower-case name ([a-z0-9-])"))
                continue
            files[path.stem] = path
        return files

    def _load(self, path: Path, kind: str) -> Marked | None:
        try:
            marked = load_file(path, self._display(path))
        except DefinitionError as exc:
            self.problems.extend(exc.problems)
            return None
        if isinstance(marked.data, dict) and isinstance(marked.data.get("extends"), str):
            self.extended.add(marked.data["extends"])  # read before the schema: an invalid child still uses it
        found = validate(marked, kind)
        self.problems.extend(found)
        if found and kind == "os":
            return _os_for_checking_stacks(marked, found)
        return None if found else marked

    def _load_pins(self) -> dict[str, model.Pin]:
        path = self.root / PINS_FILE
        if not path.exists() and not path.is_symlink():
            return {}
        if path.is_symlink():
            self.problems.append(Problem(PINS_FILE, None, "", "must be a regular file (no symlinks)"))
            return {}
        try:
            marked = load_file(path, PINS_FILE)
        except DefinitionError as exc:
            self.problems.extend(exc.problems)
            return {}
        found, problems = pins.parse(marked, self.pin_repositories)
        self.problems.extend(problems)
        return found

    def _check_shared_files_are_used(self, docs: Mapping[str, Marked | None]) -> None:
        """A file starting with _ builds nothing of its own: its variants or versions need a stack extending it."""
        for name, marked in docs.items():
            if not name.startswith("_") or marked is None or name in self.extended:
                continue
            defined = [key for key in ("variants", "versions") if key in marked.data]
            if defined:
                self.problems.append(
                    Problem(
                        marked.file,
                        marked.line((defined[0],)),
                        defined[0],
                        f"a file starting with _ builds nothing, and no stack extends {name}: rename it"
                        f" {name[1:]}.yaml to build it, or name it in a stack's extends",
                    )
                )

    # -- the OS ----------------------------------------------------------------

    def _os(self, marked: Marked) -> model.OSBase | None:
        data = marked.data
        release = data["release"]
        facts = data["releases"].get(release)
        if facts is None:
            known = ", ".join(sorted(data["releases"]))
            hint = did_you_mean(release, data["releases"])
            self.problems.append(
                Problem(
                    marked.file,
                    marked.line(("release",)),
                    "release",
                    f"{release!r} is not in releases ({known}){hint}",
                )
            )
            return None
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
            user=model.User(**data["user"]),
            platforms=tuple(data["platforms"]),
            env=model.frozen_map(data.get("env")),
            labels=model.frozen_map(data.get("labels")),
            cmd=tuple(data.get("cmd", ("bash",))),
            source=marked.file,
            known_releases=tuple(sorted(data["releases"])),
            verify=tuple(v if isinstance(v, str) else tuple(v) for v in data.get("verify", ())),
            setuid_allowed=tuple(data.get("setuid_allowed", ())),
            support=targets.support_of(
                data["name"], facts, ("releases", release), lambda path: (marked.file, marked.line(path)), self.problems
            ),
        )

    # -- extends -------------------------------------------------------------

    def _chains(self, docs: Mapping[str, Marked | None]) -> dict[str, Chain]:
        chains: dict[str, Chain] = {}
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
            chain = Chain(name, tuple(files), data)
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
                self.problems.append(
                    Problem(
                        marked.file,
                        marked.line(("extends",)),
                        "extends",
                        f"{parent!r} names no file in stacks/{did_you_mean(parent, docs)}",
                    )
                )
                return None
            current = parent
        return files

    def _check_platform_subsets(self, chain: Chain) -> None:
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


def _os_for_checking_stacks(marked: Marked, problems: Sequence[Problem]) -> Marked | None:
    """os.yaml without its settings in error (stand-ins for required ones), or None when an essential one is."""
    if not isinstance(marked.data, dict):
        return None
    broken = {re.split(r"[.\[]", p.field, maxsplit=1)[0] for p in problems}  # the top-level key of each
    if broken & (OS_ESSENTIALS | {""}):
        return None
    data = {key: value for key, value in marked.data.items() if key not in broken}
    data.update({key: value for key, value in _OS_STAND_INS.items() if key in broken})
    usable = Marked(marked.file, data, marked.lines)
    return usable if not validate(usable, "os") else None


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge mappings; any other value (lists included) replaces the base."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out
