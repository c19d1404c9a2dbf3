from __future__ import annotations

from pathlib import Path

import pytest

from factory.errors import DefinitionError
from factory.yamlmarks import format_path, load_file, load_text


def test_lines_of_keys_and_items() -> None:
    marked = load_text("a: 1\nb:\n  - x\n  - {c: 2}\n", "f.yaml")
    assert marked.data == {"a": 1, "b": ["x", {"c": 2}]}
    assert marked.line(("a",)) == 1
    assert marked.line(("b",)) == 2
    assert marked.line(("b", 0)) == 3
    assert marked.line(("b", 1, "c")) == 4
    assert marked.line(("b", 1, "missing")) == 4  # nearest known ancestor


def test_format_path() -> None:
    assert format_path(("versions", 0, "tags", 1)) == "versions[0].tags[1]"
    assert format_path(()) == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: 1\na: 2\n", "f.yaml:2: a: duplicate key (first set on line 1)"),
        ("a: [1\n", "f.yaml:2: malformed YAML: did not find expected ',' or ']'"),
        ("", "f.yaml:1: file is empty; expected a mapping"),
        ("# only a comment\n", "f.yaml:1: file is empty; expected a mapping"),
        ("? [a, b]\n: 1\n", "f.yaml:1: keys must be plain strings (no merge keys, no lists)"),
        ("expires: 2026-06-31\n", "f.yaml:1: expires: cannot read value '2026-06-31': day is out of range for month"),
        ("a: &x [*x]\n", "f.yaml: recursive YAML alias: a value contains itself"),
        (
            "base: &b {x: 1}\nchild:\n  <<: *b\n",
            "f.yaml:3: child: keys must be plain strings (no merge keys, no lists)",
        ),
    ],
)
def test_bad_yaml_is_one_located_problem(text: str, expected: str) -> None:
    with pytest.raises(DefinitionError) as info:
        load_text(text, "f.yaml")
    assert str(info.value) == expected


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_bytes(b"a: \xff\n")
    with pytest.raises(DefinitionError, match="not UTF-8"):
        load_file(path, "stacks/x.yaml")
