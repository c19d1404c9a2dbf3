"""Ignores: each says which code, where, why, and (in the project file) until when.

Inline: `# factory ignore=CODE[,CODE] reason...` applies to the next
instruction (all its lines, heredoc bodies included); without a reason it is
not honoured and is itself a finding. hadolint's own `# hadolint ignore=SC...`
pragmas also cover the same SC codes from the separate shellcheck run.

Project file (`.factory-ignore.yaml`, validated like every definition):
entries with `code`, optional `path` (an fnmatch glob relative to the file's
directory; `*` also crosses `/`), `reason` and `expires`. An expired entry
stops suppressing and is reported, so ignores cannot quietly become permanent.
"""

from __future__ import annotations

import bisect
import datetime
import fnmatch
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from factory import schema
from factory.errors import DefinitionError
from factory.lint import files
from factory.lint.model import OWN, SHELLCHECK, Finding, Severity, Suppressed
from factory.lint.parse import Dockerfile
from factory.yamlmarks import load_file

IGNORE_FILE = ".factory-ignore.yaml"
EXPIRED = "FB900"  # a project-file ignore past its expiry date
NO_REASON = "FB901"  # an inline ignore without a reason
_INLINE = re.compile(r"^#\s*factory\s+ignore=(?P<codes>\S*)(?:\s+(?P<reason>.*\S))?\s*$")
_HADOLINT = re.compile(r"^#\s*hadolint\s+ignore=(?P<codes>\S+)")


@dataclass(frozen=True)
class InlineIgnore:
    """An ignore comment and the instruction lines it covers."""

    line: int
    codes: frozenset[str]
    reason: str
    first: int
    last: int
    only: str | None = None  # a source it is limited to (hadolint pragmas: the shellcheck run)

    def covers(self, finding: Finding) -> bool:
        if self.only is not None and finding.source != self.only:
            return False
        return finding.code in self.codes and self.first <= finding.line <= self.last


@dataclass(frozen=True)
class Entry:
    """One entry of the project ignore file."""

    code: str
    path: str | None
    reason: str
    expires: datetime.date
    line: int


@dataclass(frozen=True)
class IgnoreFile:
    """The project ignore file: where it is (paths match relative to it) and its entries."""

    name: str
    directory: Path
    entries: tuple[Entry, ...]


def load(path: Path, name: str | None = None) -> IgnoreFile:
    """Read and validate an ignore file; every problem is raised at once as file:line: field: message.

    Raises UsageProblem when `path` is not (a link to) a regular file (a FIFO would block the read).
    """
    files.require_regular(path)
    display = name or str(path)
    marked = load_file(path, display)
    problems = schema.validate(marked, "ignores")
    if problems:
        raise DefinitionError(problems)
    entries = tuple(
        Entry(
            code=item["code"],
            path=item.get("path"),
            reason=item["reason"],
            expires=item["expires"],
            line=marked.line(("ignores", index)) or 1,
        )
        for index, item in enumerate(marked.data["ignores"])
    )
    return IgnoreFile(display, path.resolve().parent, entries)


def inline(dockerfile: Dockerfile) -> tuple[list[InlineIgnore], list[Finding]]:
    """The inline ignores of a file, and findings for those that cannot be honoured."""
    ignores: list[InlineIgnore] = []
    problems: list[Finding] = []
    starts = [i.start_line for i in dockerfile.instructions]
    for line, text in sorted(dockerfile.comments.items()):
        own, hadolint = _INLINE.match(text), _HADOLINT.match(text)
        if not own and not hadolint:
            continue
        following = bisect.bisect_right(starts, line)
        target = dockerfile.instructions[following] if following < len(starts) else None
        if own:
            codes = frozenset(c for c in own.group("codes").split(",") if c)
            if not codes or not own.group("reason"):
                problems.append(
                    Finding(
                        dockerfile.name,
                        line,
                        NO_REASON,
                        Severity.WARNING,
                        "inline ignore not honoured: write `# factory ignore=CODE[,CODE] why it is fine`",
                        OWN,
                    )
                )
                continue
            reason, only = own.group("reason"), None
        else:
            assert hadolint is not None
            codes = frozenset(c for c in hadolint.group("codes").split(",") if c.startswith("SC"))
            reason, only = "hadolint ignore pragma", SHELLCHECK
        if target is not None and codes:
            ignores.append(InlineIgnore(line, codes, reason, target.start_line, target.end_line, only))
    return ignores, problems


def _relative(dockerfile: Dockerfile, directory: Path) -> str:
    if dockerfile.path is None:
        return dockerfile.name
    resolved = dockerfile.path.resolve()
    try:
        return resolved.relative_to(directory).as_posix()
    except ValueError:
        return os.path.relpath(resolved, directory).replace(os.sep, "/")


def expired(ignore_file: IgnoreFile, today: datetime.date) -> list[Finding]:
    """A finding for each entry whose expiry date has passed."""
    return [
        Finding(
            ignore_file.name,
            entry.line,
            EXPIRED,
            Severity.WARNING,
            f"the ignore of {entry.code}{f' for {entry.path}' if entry.path else ''} expired on {entry.expires}"
            f" ({entry.reason}): fix the findings or renew it with a new date",
            OWN,
        )
        for entry in ignore_file.entries
        if entry.expires < today
    ]


def apply(
    findings: Iterable[Finding],
    dockerfiles: Sequence[Dockerfile],
    ignore_file: IgnoreFile | None,
    today: datetime.date,
) -> tuple[list[Finding], list[Suppressed]]:
    """Split findings into those that stand and those an unexpired ignore suppresses.

    Problems with the ignores themselves (expired entries, inline ignores
    without a reason) are added to the findings that stand.
    """
    by_name = {d.name: d for d in dockerfiles}
    inline_by_name: dict[str, _InlineIndex] = {}
    kept: list[Finding] = []
    suppressed: list[Suppressed] = []
    for dockerfile in dockerfiles:
        ignores, problems = inline(dockerfile)
        inline_by_name[dockerfile.name] = _InlineIndex(ignores)
        kept.extend(problems)
    entries = [e for e in ignore_file.entries if e.expires >= today] if ignore_file else []
    if ignore_file is not None:
        kept.extend(expired(ignore_file, today))
    for finding in findings:
        match = _match(finding, by_name.get(finding.file), inline_by_name.get(finding.file), entries, ignore_file)
        if match is None:
            kept.append(finding)
        else:
            suppressed.append(match)
    return kept, suppressed


class _InlineIndex:
    """The inline ignores of one file by code and covered range, so a finding finds its ignore in log time.

    Each ignore covers one instruction, and instructions do not overlap: per code, the
    ranges are either equal or disjoint, so the candidates are those sharing the last
    range that starts at or before the finding's line.
    """

    def __init__(self, ignores: list[InlineIgnore]) -> None:
        groups: dict[str, dict[int, list[InlineIgnore]]] = {}
        for ignore in ignores:  # in comment order: the first that covers a finding is the one reported
            for code in ignore.codes:
                groups.setdefault(code, {}).setdefault(ignore.first, []).append(ignore)
        self._firsts = {code: sorted(by_first) for code, by_first in groups.items()}
        self._groups = groups

    def find(self, finding: Finding) -> InlineIgnore | None:
        """The first ignore (in comment order) that covers `finding`, if any."""
        firsts = self._firsts.get(finding.code)
        if not firsts:
            return None
        index = bisect.bisect_right(firsts, finding.line) - 1
        if index < 0:
            return None
        candidates = self._groups[finding.code][firsts[index]]
        return next((ignore for ignore in candidates if ignore.covers(finding)), None)


def _match(
    finding: Finding,
    dockerfile: Dockerfile | None,
    ignores: _InlineIndex | None,
    entries: list[Entry],
    ignore_file: IgnoreFile | None,
) -> Suppressed | None:
    ignore = ignores.find(finding) if ignores is not None else None
    if ignore is not None:
        return Suppressed(finding, ignore.reason, f"{finding.file}:{ignore.line}", inline=True)
    if dockerfile is None or ignore_file is None:
        return None
    relative = _relative(dockerfile, ignore_file.directory)
    for entry in entries:
        if entry.code == finding.code and (entry.path is None or fnmatch.fnmatchcase(relative, entry.path)):
            return Suppressed(finding, entry.reason, f"{ignore_file.name}:{entry.line}", inline=False)
    return None
