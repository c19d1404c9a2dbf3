from __future__ import annotations

import os
import time
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
        (
            "a: &x [*x]\n",
            "f.yaml:1: a[0]: an alias of a mapping or list is not allowed (use extends to share settings)",
        ),
        ('a: !!int ""\n', "f.yaml:1: a: cannot read value '' as int"),
        ("a: !!bool maybe\n", "f.yaml:1: a: cannot read value 'maybe' as bool"),
        ("a: !!timestamp 99999-01-01\n", "f.yaml:1: a: cannot read value '99999-01-01' as timestamp"),
        ("a: !!float xyz\n", "f.yaml:1: a: cannot read value 'xyz': could not convert string to float: 'xyz'"),
        (
            "[" * 40 + "]" * 40,
            "f.yaml:1: [0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]"
            "[0][0][0][0][0][0][0][0]: nested deeper than 32 levels",
        ),
        ("[" * 100000 + "]" * 100000, "f.yaml:1: malformed YAML: exceeded maximum nesting depth"),
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


def test_an_alias_bomb_is_refused_at_once_and_briefly() -> None:
    # Eight levels of nine aliases: 9**8 = 43 million strings if expanded.
    levels = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    levels += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]" for n in range(1, 8)]
    text = "\n".join(levels) + "\n"
    with pytest.raises(DefinitionError) as info:
        load_text(text, "bomb.yaml")
    assert len(info.value.problems) == 7  # one per aliased list, not one per use
    assert all("alias of a mapping or list" in p.message for p in info.value.problems)
    assert len(str(info.value)) < 2000


def test_scalar_aliases_are_fine() -> None:
    assert load_text("a: &v x\nb: *v\n", "f.yaml").data == {"a": "x", "b": "x"}


def test_a_flood_of_scalar_aliases_stops_at_the_file_size_budget() -> None:
    # 20000 aliases of a 100 KB string: 2 GB of values if every later check read them.
    text = 'a: &s "' + "y" * 100_000 + '"\nb: [' + ", ".join(["*s"] * 20_000) + "]\n"
    started = time.monotonic()
    with pytest.raises(DefinitionError) as info:
        load_text(text, "flood.yaml")
    assert time.monotonic() - started < 2
    [problem] = info.value.problems
    assert problem.field == "b[9]" and "aliases repeat text past the 1048576 characters" in problem.message


def test_keys_with_line_breaks_are_shown_escaped() -> None:
    assert format_path(("env", "A\u2028USER 0")) == "env.'A\\u2028USER 0'"
    assert "\n" not in format_path(("x" * 500,))


def test_files_that_are_not_regular_or_too_large_are_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    with pytest.raises(DefinitionError, match="not a regular file"):
        load_file(fifo, "fifo.yaml")
    big = tmp_path / "big.yaml"
    big.write_text("a: " + "x" * (2 * 1024 * 1024) + "\n")
    with pytest.raises(DefinitionError, match="larger than the 1048576 allowed"):
        load_file(big, "big.yaml")
