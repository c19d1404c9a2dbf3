"""A target's lifecycle on a given day: supported, ending soon, kept past its end of life, or ended.

A stack version (and an OS release) may declare `eol`, the day its upstream
support ends, with `replaced_by` and an `eol_override` (a reason and an expiry
at most 90 days ahead, so it is reviewed at least that often). This module is
the one place that judges them against a day: the loader refuses an ended
target (`problems`), `factory validate` shows the warnings (`warnings`), the
lint reports them as FB013, and the plan and the report ask `state`.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from dataclasses import dataclass

from factory import model
from factory.errors import Problem

WARN_DAYS = 90  # a version that ends within this many days is a warning
MAX_OVERRIDE_DAYS = 90  # an override expires at most this far ahead


class Status(enum.StrEnum):
    """Where a target stands on one day."""

    SUPPORTED = "supported"  # no end of life declared, or more than WARN_DAYS away
    ENDING = "ending"  # its end of life is within WARN_DAYS
    OVERRIDDEN = "overridden"  # past its end of life, kept by an override in force
    ENDED = "ended"  # past its end of life and no override in force: refused


class Level(enum.StrEnum):
    """How loudly a status is reported."""

    OK = "ok"
    WARNING = "warning"
    ERROR = "error"


_LEVELS = {
    Status.SUPPORTED: Level.OK,
    Status.ENDING: Level.WARNING,
    Status.OVERRIDDEN: Level.WARNING,
    Status.ENDED: Level.ERROR,
}


@dataclass(frozen=True)
class Lifecycle:
    """What `state` found for one target on one day."""

    status: Status
    message: str  # one line: the version, its date, what replaces it, the override
    eol: dt.date | None = None
    replaced_by: tuple[str, ...] = ()  # versions of the same stack (OS: release versions), as written
    days_left: int | None = None  # days until `eol`: 0 on the day itself, negative after it
    override: model.EolOverride | None = None  # the override in force (OVERRIDDEN only)

    @property
    def level(self) -> Level:
        return _LEVELS[self.status]


def today() -> dt.date:
    """The real day (UTC), what every command judges on unless told another."""
    return dt.datetime.now(dt.UTC).date()


def state(target: model.Target, day: dt.date) -> Lifecycle:
    """The lifecycle of `target` on `day` (its version's end of life; for the OS base its release's)."""
    return judge(target.support, day)


def states(targets: Iterable[model.Target], day: dt.date) -> dict[str, Lifecycle]:
    """`state` of every target, by target id."""
    return {target.id: state(target, day) for target in targets}


def judge(support: model.Support | None, day: dt.date) -> Lifecycle:
    """The lifecycle of one declared end of life (None: none declared) on `day`."""
    if support is None:
        return Lifecycle(Status.SUPPORTED, "no end of life declared")
    days = (support.eol - day).days

    def found(status: Status, message: str, override: model.EolOverride | None = None) -> Lifecycle:
        return Lifecycle(status, message, support.eol, support.replaced_by, days, override)

    subject, replaced = support.subject, _replacements(support)
    if days > WARN_DAYS:
        return found(Status.SUPPORTED, f"{subject} reaches its end of life on {support.eol}{replaced}")
    if days > 0:
        when = f"in {days} day{'' if days == 1 else 's'}"
        return found(Status.ENDING, f"{subject} reaches its end of life on {support.eol}, {when}{replaced}")
    ended = f"{subject} reached its end of life on {support.eol}{replaced}"
    override = support.override
    if override is None:
        advice = (
            "move to a supported version, or keep it a while with eol_override (a reason and an expiry"
            f" at most {MAX_OVERRIDE_DAYS} days ahead)"
        )
        return found(Status.ENDED, f"{ended}: {advice}")
    if override.expires < day:
        advice = f"renew it (at most {MAX_OVERRIDE_DAYS} days ahead) or move to a supported version"
        return found(Status.ENDED, f"{ended}: its override expired on {override.expires} ({override.reason}): {advice}")
    if override.expires > latest_expiry(day):
        too_far = f"more than {MAX_OVERRIDE_DAYS} days ahead, so it does not count"
        return found(Status.ENDED, f"{ended}: its override expires on {override.expires}, {too_far}")
    kept = f"kept until {override.expires} by an override: {override.reason}"
    return found(Status.OVERRIDDEN, f"{ended}; {kept}", override)


def latest_expiry(day: dt.date) -> dt.date:
    """The latest expiry an override may have on `day`."""
    return day + dt.timedelta(days=MAX_OVERRIDE_DAYS)


def problems(targets: Iterable[model.Target], day: dt.date) -> list[Problem]:
    """Errors on `day`, each at its definition: an override expiring too far ahead, an ended target."""
    found = []
    for support in _declared(targets):
        override = support.override
        if override is not None and override.expires > latest_expiry(day):
            message = (
                f"{override.expires} is more than {MAX_OVERRIDE_DAYS} days ahead (at most {latest_expiry(day)}):"
                " an override is reviewed at least that often"
            )
            found.append(Problem(*override.origin, message))
            continue
        lifecycle = judge(support, day)
        if lifecycle.level is Level.ERROR:
            found.append(Problem(*support.origin, lifecycle.message))
    return found


def warnings(targets: Iterable[model.Target], day: dt.date) -> list[Problem]:
    """Warnings on `day` (ending soon, kept by an override), each at the `eol` of its definition."""
    judged = ((support, judge(support, day)) for support in _declared(targets))
    return [Problem(*support.origin, found.message) for support, found in judged if found.level is Level.WARNING]


def _declared(targets: Iterable[model.Target]) -> list[model.Support]:
    """Each declared end of life once (the variants of a version share it)."""
    return list(dict.fromkeys(t.support for t in targets if t.support is not None))


def _replacements(support: model.Support) -> str:
    if not support.replaced_by:
        return ""
    return f" (replaced by {' or '.join(f'{support.name} {v}' for v in support.replaced_by)})"
