"""Every string a data file may hold is checked by a kind (factory.values), never by a bare regex."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from factory.errors import DefinitionError
from factory.schema import SCHEMAS
from factory.values import KINDS, SHOWN_LENGTH, shown


def _rules(rules: Mapping[str, Any], path: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    yield path, rules
    for key in ("schema", "keysrules", "valuesrules"):
        sub = rules.get(key)
        if not isinstance(sub, Mapping):
            continue
        if key == "schema" and rules.get("type") == "dict":
            for name, child in sub.items():
                yield from _rules(child, f"{path}.{name}")
        else:
            yield from _rules(sub, f"{path}<{key}>")


def _all() -> list[tuple[str, Mapping[str, Any]]]:
    return [
        item
        for kind, schema in SCHEMAS.items()
        for name, rules in schema.items()
        for item in _rules(rules, f"{kind}:{name}")
    ]


@pytest.mark.parametrize(("path", "rules"), _all(), ids=[p for p, _ in _all()])
def test_every_string_rule_has_a_kind_or_a_closed_list(path: str, rules: Mapping[str, Any]) -> None:
    types = rules.get("type")
    takes_text = types == "string" or (isinstance(types, list) and "string" in types)
    if not takes_text:
        return
    assert "regex" not in rules, f"{path}: a bare regex (cerberus appends $, which accepts a final newline)"
    assert rules.get("kind") in KINDS or "allowed" in rules, f"{path}: a string without a kind"


def test_every_kind_refuses_line_breaks_and_controls() -> None:
    for name, kind in KINDS.items():
        for bad in ("a\nb", "a\u2028b", "a\x85b", "a\x0bb", "a\x00b", "a\u202eb"):
            if kind.multiline and bad == "a\nb":
                continue
            assert kind.problem(bad) is not None, (name, bad)


def test_full_match_refuses_a_final_newline() -> None:
    assert KINDS["package"].problem("curl") is None
    assert KINDS["package"].problem("curl\n") is not None
    assert KINDS["tag"].problem("1.0\n") is not None


def test_shown_is_short_and_never_fails() -> None:
    huge = int("f" * 5000, 16)  # YAML reads 0xfff... whole; repr refuses more than 4300 digits
    assert shown(huge) == "<an integer of about 6021 digits>"
    assert shown([huge, "a"]) == "[<an integer of about 6021 digits>, 'a']"
    assert shown("x" * 100) == "'" + "x" * 54 + "...' (100 chars)"
    flood = ["y" * 100_000] * 20_000  # what an alias flood expands to: shown from its first items only
    assert len(shown(flood)) <= SHOWN_LENGTH
    assert shown({"k": 1, "l": [True, None]}) == "{'k': 1, 'l': [True, None]}"


def test_exceptions_file_with_a_huge_integer_is_a_located_error(tmp_path: Path) -> None:
    from factory import exceptions

    path = tmp_path / exceptions.EXCEPTIONS_FILE
    path.parent.mkdir()
    path.write_text("exceptions:\n  - id: 0x" + "f" * 5000 + "\n")
    with pytest.raises(DefinitionError) as info:
        exceptions.load(tmp_path, dt.date(2026, 1, 1))
    assert "exceptions[0].id: expected a string, got integer <an integer of about 6021 digits>" in str(info.value)


def test_scripts_stay_within_what_the_lint_reads() -> None:
    from factory.lint import parse

    script = KINDS["script"]
    assert script.max_lines is not None
    # A Dockerfile holds a variant's and a version's script, and a few hundred lines of its own.
    assert 2 * script.max_lines + 1000 < parse.MAX_LINES
    assert 2 * script.max_length + 100_000 < parse.MAX_BYTES
    assert script.problem("true\n" * script.max_lines) is None
    assert script.problem("true\n" * (script.max_lines + 1)) == (
        "is 2001 lines long, more than the 2000 allowed (the Dockerfile it is rendered into must stay within"
        " what the lint reads)"
    )
