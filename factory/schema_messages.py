"""Cerberus errors turned into one-line messages a person can act on.

Unknown fields get a did-you-mean, wrong types say what YAML read, and no
message ever prints more of a value than factory.values.shown allows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cerberus import errors

from factory.suggest import did_you_mean
from factory.values import shown


class Index:
    """The known field names at each mapping of a schema, for did-you-mean."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.fields: dict[tuple[Any, ...], list[str]] = {}
        self._mapping(schema, ())

    def _mapping(self, schema: Mapping[str, Any], path: tuple[Any, ...]) -> None:
        self.fields[path] = sorted(schema)
        for name, rules in schema.items():
            self._rules(rules, (*path, name))

    def _rules(self, rules: Mapping[str, Any], path: tuple[Any, ...]) -> None:
        for key in ("schema", "valuesrules", "keysrules"):
            sub = rules.get(key)
            if isinstance(sub, dict):
                if key == "schema" and rules.get("type") == "dict":
                    self._mapping(sub, (*path, key))
                else:
                    self._rules(sub, (*path, key))


def flatten(errs: Iterable[Any], index: Index) -> Iterable[tuple[tuple[Any, ...], str]]:
    """(document path, message) for every leaf error of a cerberus error tree."""
    for err in errs:
        if err.is_group_error:
            yield from flatten(err.child_errors or (), index)
            continue
        yield tuple(err.document_path), message(err, index)


def message(err: Any, index: Index) -> str:
    """One line for one cerberus error."""
    value = err.value
    if err.code == errors.UNKNOWN_FIELD.code:
        known = index.fields.get(tuple(err.schema_path), [])
        hint = did_you_mean(str(err.field), known)
        if hint:
            return f"unknown field{hint}"
        return f"unknown field (expected one of: {', '.join(known)})" if known else "unknown field"
    if err.code == errors.REQUIRED_FIELD.code:
        return "required field is missing"
    if err.code == errors.DEPENDENCIES_FIELD.code:
        needed = [err.constraint] if isinstance(err.constraint, str) else list(err.constraint)
        return f"applies only beside {' and '.join(map(str, needed))}, which is missing"
    if err.code == errors.BAD_TYPE.code:
        wanted = str(err.constraint) if isinstance(err.constraint, str) else " or ".join(err.constraint)
        number = wanted == "string" and isinstance(value, int | float) and not isinstance(value, bool)
        quote = " (YAML read it as a number); quote it" if number else ""
        if wanted == "date":
            quote = "; write the day as YYYY-MM-DD, unquoted"
        return f"expected {_article(wanted)}, got {typename(value)} {shown(value)}{quote}"
    if err.code in (errors.UNALLOWED_VALUE.code, errors.UNALLOWED_VALUES.code):
        return f"expected one of {', '.join(map(str, err.constraint))}; got {shown(value)}"
    if err.code in (errors.EMPTY_NOT_ALLOWED.code, errors.MIN_LENGTH.code):
        return "must not be empty"
    if err.code == errors.NOT_NULLABLE.code:
        return "must have a value (null given)"
    if err.code == errors.MIN_VALUE.code:
        return f"must be at least {err.constraint}, got {shown(value)}"
    if err.code == errors.MAX_VALUE.code:
        return f"must be at most {err.constraint}, got {shown(value)}"
    if err.code == errors.CUSTOM.code:
        return str(err.info[0]) if err.info else "invalid value"
    return f"invalid value {shown(value)} (rule {err.rule})"


def _article(word: str) -> str:
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"


def typename(value: Any) -> str:
    """The YAML-ish name of a Python value's type, for messages."""
    names = {str: "string", int: "integer", float: "number", bool: "boolean", list: "list", dict: "mapping"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
