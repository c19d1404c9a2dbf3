"""Debian version comparison, as dpkg does it (epoch, upstream version, revision; `~` sorts before all).

The lock picks, among the suites of a release (the release, -updates,
-security), the highest version of each package, as apt does with equal pins.
"""

from __future__ import annotations

import functools


def compare(a: str, b: str) -> int:
    """Negative, zero or positive as version `a` sorts before, equal to or after `b` (dpkg's order)."""
    epoch_a, upstream_a, revision_a = _split(a)
    epoch_b, upstream_b, revision_b = _split(b)
    if epoch_a != epoch_b:
        return epoch_a - epoch_b
    return _compare_part(upstream_a, upstream_b) or _compare_part(revision_a, revision_b)


key = functools.cmp_to_key(compare)  # sorted(versions, key=debversion.key)


def _split(version: str) -> tuple[int, str, str]:
    epoch, colon, rest = version.partition(":")
    if not colon or not epoch.isdigit():
        epoch, rest = "0", version
    upstream, dash, revision = rest.rpartition("-")
    if not dash:
        upstream, revision = rest, ""
    return int(epoch), upstream, revision


def _order(char: str) -> int:
    """dpkg's weight of one non-digit character: `~` first, then the end, letters, then the rest."""
    if char == "~":
        return -1
    if not char or char.isdigit():
        return 0
    if char.isalpha():
        return ord(char)
    return ord(char) + 256


def _compare_part(a: str, b: str) -> int:
    """dpkg's verrevcmp: alternate non-digit runs (by _order) and digit runs (numerically)."""
    i = j = 0
    while i < len(a) or j < len(b):
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            weight_a = _order(a[i] if i < len(a) else "")
            weight_b = _order(b[j] if j < len(b) else "")
            if weight_a != weight_b:
                return weight_a - weight_b
            i, j = i + 1, j + 1
        start_a, start_b = i, j
        while i < len(a) and a[i].isdigit():
            i += 1
        while j < len(b) and b[j].isdigit():
            j += 1
        number_a, number_b = int(a[start_a:i] or "0"), int(b[start_b:j] or "0")
        if number_a != number_b:
            return -1 if number_a < number_b else 1
    return 0
