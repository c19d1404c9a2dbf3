"""One lint run: parse each file once, run the own rules and the tools, apply ignores."""

from __future__ import annotations

import dataclasses
import datetime
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from factory.errors import UsageProblem
from factory.lint import files, ignores, rules, tools
from factory.lint.ignores import IgnoreFile
from factory.lint.model import OWN, TOOLS, Finding, Severity, Suppressed
from factory.lint.parse import Dockerfile, parse_file
from factory.lint.policy import Policy

DOCKERFILE_NAMES = ("Dockerfile", "Containerfile")


@dataclass(frozen=True)
class Report:
    """Everything one run found: standing findings (sorted), suppressed ones, and what ran."""

    files: tuple[str, ...]
    findings: tuple[Finding, ...]
    suppressed: tuple[Suppressed, ...] = ()
    sources: tuple[str, ...] = (OWN,)
    timings: dict[str, float] = field(default_factory=dict, compare=False)

    def at_or_above(self, threshold: Severity) -> tuple[Finding, ...]:
        """The findings that make a run with this failure threshold fail."""
        return tuple(f for f in self.findings if f.severity >= threshold)

    def failed(self, threshold: Severity) -> bool:
        return bool(self.at_or_above(threshold))

    def moved(self, old: str, new: str) -> Report:
        """The same report with the files under the directory `old` named under `new` (a copy linted elsewhere)."""

        def name(file: str) -> str:
            return new + file[len(old) :] if file.startswith(old + "/") else file

        def finding(f: Finding) -> Finding:
            return dataclasses.replace(f, file=name(f.file))

        return dataclasses.replace(
            self,
            files=tuple(name(f) for f in self.files),
            findings=tuple(finding(f) for f in self.findings),
            suppressed=tuple(
                dataclasses.replace(s, finding=finding(s.finding), where=name(s.where)) for s in self.suppressed
            ),
        )

    def counts(self) -> dict[str, int]:
        """Findings per severity, plus how many were suppressed."""
        counts = {s.label: 0 for s in sorted(Severity, reverse=True)}
        for finding in self.findings:
            counts[finding.severity.label] += 1
        counts["suppressed"] = len(self.suppressed)
        return counts


def display_name(path: Path) -> str:
    """How a file is named in findings: relative to the working directory when below it."""
    absolute = path.resolve()
    try:
        return absolute.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(absolute)


def expand(paths: Iterable[Path]) -> list[Path]:
    """Files as given; directories to every Dockerfile below them (Dockerfile, Containerfile, *.Dockerfile).

    A path given that is no regular file (a FIFO, socket or device would block the
    lint) raises UsageProblem; below a directory, only regular files are looked at,
    and a directory without one raises UsageProblem too (a lint of nothing is no pass).
    """
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            below = [
                p
                for p in sorted(path.rglob("*"))
                if p.is_file() and (p.name in DOCKERFILE_NAMES or p.name.endswith(".Dockerfile"))
            ]
            if not below:
                raise UsageProblem(f"no Dockerfile found under {path} (Dockerfile, Containerfile or *.Dockerfile)")
            found.extend(below)
        else:
            files.require_regular(path)
            found.append(path)
    return list(dict.fromkeys(found))


def lint_dockerfiles(
    dockerfiles: Sequence[Dockerfile],
    *,
    policy: Policy,
    tools_selected: Sequence[str] = TOOLS,
    ignore_file: IgnoreFile | None = None,
    today: datetime.date | None = None,
) -> Report:
    """Own rules and the selected tools on parsed files, ignores applied."""

    timings: dict[str, float] = {}
    start = time.perf_counter()
    findings = [f for d in dockerfiles for f in rules.check(d, policy)]
    timings[OWN] = time.perf_counter() - start
    readable = [d for d in dockerfiles if not d.refused]  # a file over the size limits goes to no tool
    budget = tools.Budget()  # one per file, across all the tools
    for name, runner in tools.runners(tools_selected).items():
        start = time.perf_counter()
        findings.extend(runner(readable, budget))
        timings[name] = time.perf_counter() - start
    kept, suppressed = ignores.apply(findings, dockerfiles, ignore_file, today or datetime.date.today())
    return Report(
        files=tuple(d.name for d in dockerfiles),
        findings=tuple(sorted(set(kept), key=_order)),
        suppressed=tuple(sorted(suppressed, key=lambda s: _order(s.finding))),
        sources=(OWN, *tools_selected),
        timings=timings,
    )


def _order(finding: Finding) -> tuple[str, int, str, str, str]:
    return (finding.file, finding.line, finding.code, finding.source, finding.message)


def lint_paths(
    paths: Iterable[Path],
    *,
    policy: Policy | None = None,
    tools_selected: Sequence[str] = TOOLS,
    ignore_file: IgnoreFile | None = None,
    today: datetime.date | None = None,
) -> Report:
    """Lint Dockerfiles (directories are searched); see `lint_dockerfiles`."""
    files = expand(paths)
    dockerfiles = [parse_file(path, display_name(path)) for path in files]
    return lint_dockerfiles(
        dockerfiles,
        policy=policy or Policy(),
        tools_selected=tools_selected,
        ignore_file=ignore_file,
        today=today,
    )
