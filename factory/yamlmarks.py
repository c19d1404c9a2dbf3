"""YAML loading that remembers the line of every key and list item.

Validation errors must name file, line and field; PyYAML's plain `load` throws
the marks away, so we compose the node tree ourselves and keep a path -> line
map beside the plain data. Duplicate keys, which PyYAML silently collapses,
are reported as problems here, and so is whatever could make loading costly
or crash: aliases of mappings and lists (a few hundred bytes of nested
aliases expand to gigabytes: sharing is what `extends` is for), aliases of
text that repeat more than MAX_BYTES characters in all (twenty thousand
aliases of a 100 KB string would hand every later check two gigabytes),
nesting deeper than MAX_DEPTH, files over MAX_BYTES, and explicit tags that
the constructor cannot read (`!!int ""`, `!!bool maybe`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from factory.errors import DefinitionError, Problem
from factory.values import SHOWN_LENGTH, refused_character, shown

try:  # the C composer is several times faster; fall back when libyaml is absent
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on the PyYAML build
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

Path_ = tuple[str | int, ...]
MAX_BYTES = 1024 * 1024  # a definition is a page of YAML, never megabytes
MAX_DEPTH = 32  # mappings and lists nested deeper than any schema goes


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
            continue
        text = str(part)
        if refused_character(text) is not None or len(text) > SHOWN_LENGTH:
            text = shown(text)  # a key can hold anything: never print a line break or a page
        out += f".{text}" if out else text
    return out


def load_file(path: Path, display: str) -> Marked:
    """Load one YAML file; raise DefinitionError naming `display` on any problem."""
    try:
        if not path.is_file():
            raise DefinitionError([Problem(display, None, "", "not a regular file")])
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise DefinitionError([Problem(display, None, "", f"{size} bytes: larger than the {MAX_BYTES} allowed")])
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DefinitionError([Problem(display, None, "", f"not UTF-8 text ({exc.reason})")]) from exc
    except OSError as exc:
        raise DefinitionError([Problem(display, None, "", f"cannot read: {exc.strerror}")]) from exc
    return load_text(text, display)


def load_text(text: str, display: str) -> Marked:
    """Parse YAML text into a Marked document."""
    if len(text) > MAX_BYTES:
        raise DefinitionError(
            [Problem(display, None, "", f"{len(text)} characters: more than the {MAX_BYTES} allowed")]
        )
    try:
        node = yaml.compose(text, Loader=_Loader)
    except RecursionError as exc:
        raise DefinitionError([Problem(display, None, "", f"nested deeper than {MAX_DEPTH} levels")]) from exc
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
    except _TooLarge:  # its problem is recorded; what was built so far is no use
        raise DefinitionError(builder.problems) from None
    if builder.problems:
        raise DefinitionError(builder.problems)
    return Marked(display, data, builder.lines)


class _TooLarge(Exception):
    """Aliases expanded the values past MAX_BYTES: building stops at once."""


class _Builder:
    """Turns a composed node tree into plain data, recording lines."""

    def __init__(self, display: str) -> None:
        self.display = display
        self.lines: dict[Path_, int] = {}
        self.problems: list[Problem] = []
        self.constructor = SafeConstructor()
        self._collections: set[int] = set()  # ids of the mapping and list nodes built so far
        self._aliased: set[int] = set()  # ... and of those already reported as aliased
        self._characters = 0  # of every scalar built, an alias's each time: at most MAX_BYTES

    def _count(self, node: yaml.Node, path: Path_, text: str) -> None:
        """Add a scalar's text to the values' size; past MAX_BYTES (only aliases get there) stop building."""
        self._characters += len(text)
        if self._characters > MAX_BYTES:
            message = (
                f"aliases repeat text past the {MAX_BYTES} characters a file may hold"
                " (each alias repeats its anchor's whole value)"
            )
            self._problem(node, path, message)
            raise _TooLarge

    def build(self, node: yaml.Node, path: Path_) -> Any:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.ScalarNode):
            self._count(node, path, node.value)
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            if id(node) in self._collections:  # the composer hands out one node per anchor
                if id(node) not in self._aliased:
                    self._aliased.add(id(node))
                    message = "an alias of a mapping or list is not allowed (use extends to share settings)"
                    self._problem(node, path, message)
                return None
            self._collections.add(id(node))
            if len(path) >= MAX_DEPTH:
                self._problem(node, path, f"nested deeper than {MAX_DEPTH} levels")
                return None
        if isinstance(node, yaml.MappingNode):
            return dict(self._pairs(node, path))
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            self._problem(node, path, f"cannot read value: {exc.problem}")
        except ValueError as exc:  # e.g. a date that does not exist: 2026-06-31
            self._problem(node, path, f"cannot read value {shown(node.value)}: {str(exc)[:SHOWN_LENGTH]}")
        except Exception:  # on odd explicit tags (`!!bool maybe`) PyYAML raises anything
            self._problem(node, path, f"cannot read value {shown(node.value)} as {node.tag.rsplit(':', 1)[-1]}")
        return None

    def _pairs(self, node: yaml.MappingNode, path: Path_) -> Iterator[tuple[str, Any]]:
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                self._problem(key_node, path, "keys must be plain strings (no merge keys, no lists)")
                continue
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            self._count(key_node, (*path, key), key)
            if key in seen:
                self._problem(key_node, (*path, key), f"duplicate key (first set on line {seen[key]})")
                continue
            seen[key] = line
            self.lines[(*path, key)] = line
            yield key, self.build(value_node, (*path, key))
            self.lines[(*path, key)] = line  # the key's line, not the value's

    def _problem(self, node: yaml.Node, path: Path_, message: str) -> None:
        self.problems.append(Problem(self.display, node.start_mark.line + 1, format_path(path), message))
