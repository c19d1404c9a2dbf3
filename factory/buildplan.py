"""Which targets a build runs, for which platforms, in which order: the plan of `factory build`.

A selection (target ids or stack names, all when empty) grows by every
ancestor a selected target is built from, and keeps the catalogue's order:
the OS base first, parents before their children.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from factory import model
from factory.errors import UsageProblem
from factory.project import Project


@dataclass(frozen=True)
class Step:
    """One target to build in this run, for some of its platforms."""

    target: model.Target
    dockerfile: Path
    platforms: tuple[str, ...]

    @property
    def id(self) -> str:
        return self.target.id

    @property
    def image(self) -> str:
        return self.target.image

    @property
    def tag(self) -> str:
        """The stable part of the staging tag, e.g. 3.13-runtime."""
        return self.target.staging_tag

    @property
    def base_id(self) -> str | None:
        return self.target.base.target_id

    @property
    def is_os(self) -> bool:
        return self.target.is_os


def plan(
    catalogue: model.Catalogue,
    project: Project,
    selection: Iterable[str] = (),
    platforms: Iterable[str] | None = None,
    *,
    ancestors: bool = True,
) -> list[Step]:
    """Steps for the selected target ids or stacks (all when empty), parents first; with `ancestors`, the
    targets they are built from too (else those come from outside the run: the rebuild plan's published)."""
    wanted_platforms = set(platforms) if platforms is not None else None
    steps = {
        t.id: Step(
            t,
            project.rendered / t.dockerfile,
            tuple(p for p in t.platforms if wanted_platforms is None or p in wanted_platforms),
        )
        for t in catalogue.targets
    }
    chosen = _select(steps, list(selection), ancestors)
    missing_platforms = [s.id for s in chosen if not s.platforms]
    if missing_platforms:
        raise UsageProblem(f"no platform left to build for {', '.join(missing_platforms)}")
    return chosen


def _select(steps: Mapping[str, Step], selection: list[str], ancestors: bool = True) -> list[Step]:
    if not selection:
        return list(steps.values())
    wanted: set[str] = set()
    for item in selection:
        matches = [s.id for s in steps.values() if item in (s.id, s.target.stack)]
        if not matches:
            raise UsageProblem(f"unknown target or stack {item!r} (see `factory list`)")
        wanted.update(matches)
    if not ancestors:
        return [s for s in steps.values() if s.id in wanted]
    closure = set()
    for step_id in wanted:
        current: str | None = step_id
        while current is not None and current not in closure:
            closure.add(current)
            current = steps[current].base_id
    return [s for s in steps.values() if s.id in closure]
