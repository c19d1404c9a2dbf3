"""Every string a data file may hold is checked by a kind (factory.values), never by a bare regex."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from factory.schema import SCHEMAS
from factory.values import KINDS


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
