"""Scan exceptions: one reviewed file, every entry with a reason, an owner and an expiry.

security/exceptions.yaml lists the vulnerabilities the gate may let through,
each for some packages (purls) or images (target ids), of one kind:
`not_affected` (the code is not reachable: told to trivy as OpenVEX),
`accepted_risk` or `waiting_for_upstream` (told to trivy as its own
.trivyignore.yaml with `statement` and `expired_at`). The factory never
filters findings by hand: trivy applies both files, and reports what it
suppressed. What trivy does not say, the factory does: an exception is
applied, expiring (under EXPIRING_DAYS), expired (the finding counts again,
named) or stale (it matches nothing any more: delete it).
"""

from __future__ import annotations

import datetime as dt
import enum
import fnmatch
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from factory.errors import DefinitionError, Problem
from factory.schema import validate
from factory.yamlmarks import load_file

EXCEPTIONS_FILE = "security/exceptions.yaml"
MAX_DAYS = 90  # an exception is reviewed at least this often
EXPIRING_DAYS = 14


class Kind(enum.StrEnum):
    NOT_AFFECTED = "not_affected"
    ACCEPTED_RISK = "accepted_risk"
    WAITING_FOR_UPSTREAM = "waiting_for_upstream"


class State(enum.StrEnum):
    APPLIED = "applied"
    EXPIRING = "expiring"
    EXPIRED = "expired"
    STALE = "stale"


@dataclass(frozen=True)
class Exception_:
    """One reviewed exception (named with a trailing underscore: `Exception` is Python's)."""

    id: str
    kind: Kind
    statement: str
    owner: str
    expires: dt.date
    packages: tuple[str, ...] = ()  # purls without version (pkg:deb/debian/glibc), fnmatch globs allowed
    images: tuple[str, ...] = ()  # target ids (python:3.13-runtime), fnmatch globs allowed
    line: int | None = None

    def covers_image(self, target_id: str) -> bool:
        return not self.images or any(fnmatch.fnmatchcase(target_id, pattern) for pattern in self.images)

    def covers_package(self, purl: str) -> bool:
        bare = purl.split("@", 1)[0].split("?", 1)[0]
        return not self.packages or any(fnmatch.fnmatchcase(bare, pattern) for pattern in self.packages)

    def state(self, today: dt.date, matched: bool) -> State:
        if self.expires < today:
            return State.EXPIRED
        if not matched:
            return State.STALE
        return State.EXPIRING if (self.expires - today).days < EXPIRING_DAYS else State.APPLIED


def load(root: Path, today: dt.date, path: Path | None = None) -> tuple[Exception_, ...]:
    """The exceptions of the project (none when the file does not exist); problems are located errors."""
    path = path or root / EXCEPTIONS_FILE
    if not path.is_file():
        return ()
    shown = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
    marked = load_file(path, shown)
    problems = validate(marked, "exceptions")
    if problems:
        raise DefinitionError(problems)
    found = []
    for index, entry in enumerate(marked.data.get("exceptions") or []):
        where = ("exceptions", index)
        line = marked.line(where)
        if not entry.get("packages") and not entry.get("images"):
            problems.append(Problem(shown, line, f"exceptions[{index}]", "name the packages or the images it covers"))
        latest = today + dt.timedelta(days=MAX_DAYS)
        if entry["expires"] > latest:
            problems.append(
                Problem(
                    shown,
                    marked.line((*where, "expires")),
                    f"exceptions[{index}].expires",
                    f"{entry['expires']} is more than {MAX_DAYS} days ahead (at most {latest}): review it sooner",
                )
            )
        found.append(
            Exception_(
                id=entry["id"],
                kind=Kind(entry["kind"]),
                statement=entry["statement"],
                owner=entry["owner"],
                expires=entry["expires"],
                packages=tuple(entry.get("packages") or ()),
                images=tuple(entry.get("images") or ()),
                line=line,
            )
        )
    if problems:
        raise DefinitionError(problems)
    return tuple(found)


def for_image(exceptions: Iterable[Exception_], target_id: str) -> list[Exception_]:
    """The exceptions that apply to one image."""
    return [e for e in exceptions if e.covers_image(target_id)]


def covering(exceptions: Iterable[Exception_], vulnerability: str, purl: str) -> Exception_ | None:
    """The first exception for `vulnerability` that covers the package `purl`, if any."""
    return next((e for e in exceptions if e.id == vulnerability and e.covers_package(purl)), None)


def trivyignore(exceptions: Sequence[Exception_]) -> str:
    """trivy's own .trivyignore.yaml for the accepted-risk and waiting-for-upstream exceptions."""
    entries = []
    for item in exceptions:
        if item.kind is Kind.NOT_AFFECTED:
            continue
        entry: dict[str, object] = {
            "id": item.id,
            "statement": f"{item.kind}: {item.statement} (owner {item.owner})",
            "expired_at": f"{item.expires.isoformat()}T23:59:59Z",  # trivy wants RFC 3339; the day itself counts
        }
        if item.packages:
            entry["purls"] = list(item.packages)
        entries.append(entry)
    return yaml.safe_dump({"vulnerabilities": entries}, sort_keys=False)


def openvex(exceptions: Sequence[Exception_], products: Sequence[str], today: dt.date, timestamp: str) -> str:
    """An OpenVEX document stating `not_affected` for each such exception and the products (purls) it covers.

    VEX has no expiry, so an expired exception is left out here: its finding counts again.
    """
    statements = []
    for item in exceptions:
        if item.kind is not Kind.NOT_AFFECTED or item.expires < today:
            continue
        covered = [p for p in products if item.covers_package(p)]
        if not covered:
            continue
        statements.append(
            {
                "vulnerability": {"name": item.id},
                "products": [{"@id": p} for p in covered],
                "status": "not_affected",
                "justification": "vulnerable_code_not_in_execute_path",
                "impact_statement": f"{item.statement} (owner {item.owner}, until {item.expires.isoformat()})",
            }
        )
    document = {
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://openvex.dev/docs/factory/exceptions",
        "author": "factory",
        "timestamp": timestamp,
        "version": 1,
        "statements": statements,
    }
    return json.dumps(document, indent=2) + "\n"
