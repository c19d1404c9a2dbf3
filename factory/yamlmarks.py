"""YAML loading that remembers the line of every key and list item.

Validation errors must name file, line and field; PyYAML's plain `load` throws
the marks away, so we compose the node tree ourselves and keep a path -> line
map beside the plain data. Duplicate keys, which PyYAML silently collapses,
are reported as problems here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from factory.errors import DefinitionError, Problem

try:  # the C composer is several times faster; fall back when libyaml is absent
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on the PyYAML build
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Marked:
    """Plain YAML data plus the 1-based line of each path in it."""

    file: str
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line(self, path: Path_) -> int | None:
        """Line of `path`, or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)


def format_path(path: Path_) -> str:
    """`("versions", 0, "tags", 1)` -> `versions[0].tags[1]`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def load_file(path: Path, display: str) -> Marked:
    """Load one YAML file; raise DefinitionError naming `display` on any problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DefinitionError([Problem(display, None, "", f"not UTF-8 text ({exc.reason})")]) from exc
    except OSError as exc:
        raise DefinitionError([Problem(display, None, "", f"cannot read: {exc.strerror}")]) from exc
    return load_text(text, display)


def load_text(text: str, display: str) -> Marked:
    """Parse YAML text into a Marked document."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = exc.problem or exc.context or "malformed YAML"
        raise DefinitionError([Problem(display, line, "", f"malformed YAML: {what}")]) from exc
    except yaml.YAMLError as exc:
        raise DefinitionError([Problem(display, None, "", f"malformed YAML: {exc}")]) from exc
    if node is None:
        raise DefinitionError([Problem(display, 1, "", "file is empty; expected a mapping")])
    builder = _Builder(display)
    try:
        data = builder.build(node, ())
    except RecursionError as exc:  # an alias that contains itself (`a: &x [*x]`)
        raise DefinitionError([Problem(display, None, "", "recursive YAML alias: a value contains itself")]) from exc
    if builder.problems:
        raise DefinitionError(builder.problems)
    return Marked(display, data, builder.lines)


class _Builder:
    """Turns a composed node tree into plain data, recording lines."""

    def __init__(self, display: str) -> None:
        self.display = display
        self.lines: dict[Path_, int] = {}
        self.problems: list[Problem] = []
        self.constructor = SafeConstructor()

    def build(self, node: yaml.Node, path: Path_) -> Any:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            return dict(self._pairs(node, path))
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            self._problem(node, path, f"cannot read value: {exc.problem}")
            return None
        except ValueError as exc:  # e.g. a date that does not exist: 2026-06-31
            self._problem(node, path, f"cannot read value {node.value!r}: {exc}")
            return None

    def _pairs(self, node: yaml.MappingNode, path: Path_) -> Iterator[tuple[str, Any]]:
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                self._problem(key_node, path, "keys must be plain strings (no merge keys, no lists)")
                continue
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                self._problem(key_node, (*path, key), f"duplicate key (first set on line {seen[key]})")
                continue
            seen[key] = line
            self.lines[(*path, key)] = line
            yield key, self.build(value_node, (*path, key))
            self.lines[(*path, key)] = line  # the key's line, not the value's

    def _problem(self, node: yaml.Node, path: Path_, message: str) -> None:
        self.problems.append(Problem(self.display, node.start_mark.line + 1, format_path(path), message))
