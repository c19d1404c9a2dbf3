"""The PR preview: what a change does to the rendered catalogue, said where the pull request is reviewed.

Two renders held in memory are compared per target: the base ref's (from git,
with its own stacks and templates) and the working tree's. For each image
that changed, is new or was removed: why (the source files its GENERATED
header names that differ between the two trees), the rebuild plan in waves,
the image graph, the edits a reviewer must not miss (risky edits), and the
unified diff, identical diffs grouped. The Markdown fits a budget (GitHub
refuses a comment over 65,536 characters) and carries one hidden marker, so a
workflow finds its own comment and updates it in place; the JSON document
carries the same data, whole. Nothing here reads the disk but the two trees'
source files, nor prints.
"""

from __future__ import annotations

import difflib
import enum
import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from factory import lockfile, model, notes, rendered
from factory.lint import report as lint_report
from factory.lint.model import Severity
from factory.lint.parse import Dockerfile, parse_text
from factory.lint.policy import Policy
from factory.lint.rules import downloads, packages
from factory.lint.rules.base import Rule
from factory.lint.runner import Report
from factory.notes import PackageDiff

MARKER = "<!-- factory-preview -->"
BUDGET = 60_000  # characters of the comment; GitHub refuses a comment over 65,536
TRUNCATED = (
    "\n**TRUNCATED**: this comment shows {shown:,} of the preview's {whole:,} characters; the whole preview is in"
    " the job summary and in the run's artifacts.\n"
)
NEW_IMAGE = "new image"
PARENT_REBUILT = "parent rebuilt"
FACTORY_CHANGED = "rendering changed (no source file changed: the factory itself)"
_PINNED = re.compile(r"(?P<name>[^\s@=\"']+)@(?P<digest>sha256:[0-9a-f]{64})")


class Status(enum.StrEnum):
    """How an image differs between the base and the working tree."""

    CHANGED = "changed"
    NEW = "new"
    REMOVED = "removed"


@dataclass(frozen=True)
class Side:
    """One side of the comparison: the project directory, its catalogue (None: no catalogue yet) and its render."""

    root: Path
    catalogue: model.Catalogue | None
    files: Mapping[str, str]  # path under rendered/ -> text


@dataclass(frozen=True)
class Change:
    """One image that differs: how, why (its own reasons), the edits to look at, and a diff per changed file."""

    target: str
    status: Status
    reasons: tuple[str, ...]
    flags: tuple[str, ...]
    diffs: tuple[tuple[str, str], ...]  # (path under rendered/, unified diff)

    @property
    def diff(self) -> str:
        return "".join(text for _, text in self.diffs)

    @property
    def shape(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """What the diff changes, not where: per file its name and the changed lines (context left out)."""
        return tuple(
            (path.rsplit("/", 1)[-1], tuple(line for line in text.splitlines()[2:] if line[:1] in "+-"))
            for path, text in self.diffs
        )


@dataclass(frozen=True)
class Rebuild:
    """One image of the rebuild plan: its platforms, why it is rebuilt and its wave (parents in earlier ones)."""

    target: str
    platforms: tuple[str, ...]
    reasons: tuple[str, ...]
    wave: int


@dataclass(frozen=True)
class DiffGroup:
    """Images whose diffs make the same change: one diff shown (the first image's) for all of them."""

    targets: tuple[str, ...]
    reasons: tuple[str, ...]  # those every image of the group has
    flags: tuple[str, ...]
    diff: str

    @property
    def title(self) -> str:
        why = "; ".join(self.reasons) or "the same change"
        return why if len(self.targets) == 1 else f"{why}, applies to {len(self.targets)} images"


@dataclass(frozen=True)
class Preview:
    """Everything the comment says: the base, the changes, the plan, the working tree's catalogue and lint."""

    base_ref: str
    base_commit: str
    changes: tuple[Change, ...]
    plan: tuple[Rebuild, ...]
    catalogue: model.Catalogue  # the working tree's: the image graph
    lint: Report  # of the working tree's render
    stale: tuple[str, ...]  # files of the working tree's rendered/ that differ from its render
    packages: tuple[tuple[str, str, PackageDiff], ...] = ()  # (target, architecture, expected package changes)
    locked: bool = False  # both sides have a factory.lock to compare

    def ids(self, status: Status) -> list[str]:
        return [c.target for c in self.changes if c.status is status]

    @property
    def flagged(self) -> list[tuple[str, str]]:
        return [(c.target, flag) for c in self.changes for flag in c.flags]

    @property
    def waves(self) -> int:
        return max((r.wave for r in self.plan), default=0)

    def failed(self, threshold: Severity) -> bool:
        """True when the check must fail: rendered/ is stale, or lint findings reach the threshold."""
        return bool(self.stale) or self.lint.failed(threshold)


# -- comparing -------------------------------------------------------------------------------


def compare(base: Side, head: Side) -> list[Change]:
    """Every image that differs between the two sides: the working tree's in build order, then those removed."""
    old = _by_target(base)
    new = _by_target(head)
    changed_sources = _changed_sources(base.root, head.root, [*old.values(), *new.values()])
    changes = []
    for target_id, files in new.items():
        before = old.get(target_id)
        if before == files:
            continue
        status = Status.NEW if before is None else Status.CHANGED
        reasons = (NEW_IMAGE,) if before is None else _reasons(before, files, changed_sources)
        previous = before or {}
        changes.append(Change(target_id, status, reasons, risky_edits(previous, files), _diffs(previous, files)))
    for target_id in old.keys() - new.keys():
        changes.append(Change(target_id, Status.REMOVED, ("removed from the catalogue",), (), ()))
    order = {target_id: index for index, target_id in enumerate(dict.fromkeys([*new, *old]))}
    return sorted(changes, key=lambda c: order[c.target])


def _by_target(side: Side) -> dict[str, dict[str, str]]:
    """Target id -> its rendered files (path under rendered/ -> text), in build order."""
    if side.catalogue is None:
        return {}
    directories = {t.directory: t.id for t in side.catalogue.targets}
    found: dict[str, dict[str, str]] = {t.id: {} for t in side.catalogue.targets}
    for path, text in sorted(side.files.items()):
        owner = directories.get(path.rpartition("/")[0])
        if owner is not None:
            found[owner][path] = text
    return found


def _changed_sources(base: Path, head: Path, renders: Iterable[Mapping[str, str]]) -> set[str]:
    """The source files (as the GENERATED headers name them) whose content differs between the two trees."""
    named = {source for files in renders for text in files.values() for source in rendered.sources(text)}
    return {source for source in named if _read(base / source) != _read(head / source)}


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _reasons(before: Mapping[str, str], after: Mapping[str, str], changed_sources: set[str]) -> tuple[str, ...]:
    """Why an image's rendered files changed: each changed source its headers name, else the factory itself."""
    named = dict.fromkeys(source for text in (*after.values(), *before.values()) for source in rendered.sources(text))
    reasons = tuple(_reason(source) for source in named if source in changed_sources)
    return reasons or (FACTORY_CHANGED,)


def _reason(source: str) -> str:
    if source.startswith("templates/"):
        return f"template changed: {source}"
    if source.startswith("pins/"):
        return f"base digest changed: {source}"
    return f"definition changed: {source}"


def _diffs(before: Mapping[str, str], after: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """A unified diff per file that differs, the Dockerfile first."""
    paths = sorted(before.keys() | after.keys(), key=lambda p: (not p.endswith("/Dockerfile"), p))
    found = []
    for path in paths:
        old, new = before.get(path), after.get(path)
        if old == new:
            continue
        text = "".join(
            difflib.unified_diff(
                (old or "").splitlines(keepends=True),
                (new or "").splitlines(keepends=True),
                fromfile=f"a/rendered/{path}" if old is not None else "/dev/null",
                tofile=f"b/rendered/{path}" if new is not None else "/dev/null",
            )
        )
        found.append((path, text if text.endswith("\n") else text + "\n"))
    return tuple(found)


# -- risky edits -----------------------------------------------------------------------------


def risky_edits(before: Mapping[str, str], after: Mapping[str, str]) -> tuple[str, ...]:
    """The edits of an image's Dockerfile a reviewer must not miss: a download without checksum, a USER
    change, a base digest that moved, a dropped --no-install-recommends (each new in `after`)."""
    new_text = next((text for path, text in after.items() if path.endswith("/Dockerfile")), None)
    if new_text is None:
        return ()
    old_text = next((text for path, text in before.items() if path.endswith("/Dockerfile")), None)
    new = parse_text(new_text)
    old = parse_text(old_text) if old_text is not None else None
    if new.error is not None or (old is not None and old.error is not None):
        return ()  # the lint reports a file that does not parse
    flags: list[str] = []
    if old is not None:
        flags += _user_change(old, new)
        flags += _moved_digests(old, new)
    unverified = (downloads.UNVERIFIED, downloads.REMOTE_ADD)
    for code, line in sorted(_hits(new, *unverified) - _hits(old, *unverified)):
        flags.append(f"download without checksum ({code}): `{line}`")
    for code, line in sorted(_hits(new, packages.RECOMMENDS) - _hits(old, packages.RECOMMENDS)):
        flags.append(f"--no-install-recommends dropped ({code}): `{line}`")
    return tuple(flags)


def _user_change(old: Dockerfile, new: Dockerfile) -> list[str]:
    before, after = _final_user(old), _final_user(new)
    if before != after:
        return [f"USER changed: the image runs as `{after}` (was `{before}`)"]
    if _users(old) != _users(new):
        return [f"USER changed in a build stage: `{', '.join(_users(old))}` -> `{', '.join(_users(new))}`"]
    return []


def _users(dockerfile: Dockerfile) -> list[str]:
    return [" ".join(i.args) for i in dockerfile.instructions_and_triggers if i.keyword == "USER"]


def _final_user(dockerfile: Dockerfile) -> str:
    stage = dockerfile.final
    users = [" ".join(i.args) for i in stage.instructions if i.keyword == "USER"] if stage else []
    return users[-1] if users else "root (no USER)"


def _moved_digests(old: Dockerfile, new: Dockerfile) -> list[str]:
    before, after = _pinned_images(old), _pinned_images(new)
    flags = []
    for name, digest in after.items():
        if name not in before:
            flags.append(f"new pinned image: `{name}@{_short(digest)}`")
        elif before[name] != digest:
            flags.append(f"base digest moved: `{name}` {_short(before[name])} -> {_short(digest)}")
    return flags


def _pinned_images(dockerfile: Dockerfile) -> dict[str, str]:
    """`image:tag` (the registry left out: a pin replaces the placeholder's) -> digest, from FROM, ARG and COPY."""
    found: dict[str, str] = {}
    for instruction in dockerfile.instructions_and_triggers:
        if instruction.keyword in ("FROM", "ARG", "COPY"):
            for match in _PINNED.finditer(" ".join((*instruction.flags, *instruction.args))):
                found[match["name"].rpartition("/")[2]] = match["digest"]
    return found


def _short(digest: str) -> str:
    return digest[:19]


def _hits(dockerfile: Dockerfile | None, *rules: Rule) -> set[tuple[str, str]]:
    """(code, the line's text) of each hit of the rules: what is new survives lines moving."""
    if dockerfile is None:
        return set()
    lines = dockerfile.lines
    return {
        (finding.code, lines[finding.line - 1].strip() if finding.line <= len(lines) else "")
        for rule in rules
        for finding in rule.run(dockerfile, Policy())
    }


# -- the plan --------------------------------------------------------------------------------


def plan(catalogue: model.Catalogue, reasons: Mapping[str, Sequence[str]]) -> list[Rebuild]:
    """The images to rebuild, in waves (all parents of a wave in earlier waves), parents first.

    `reasons` holds each image's own reasons (target id -> reasons); the
    children of a rebuilt image always rebuild ("parent rebuilt"). This is
    the preview's stand-in for the real plan (`factory plan`), which adds
    what only the registry and the archive know; it keeps this signature so
    that one can replace it.
    """
    waves: dict[str, int] = {}
    found = []
    for target in catalogue.targets:
        why = list(reasons.get(target.id, ()))
        parent = catalogue.parent(target)
        if parent is not None and parent.id in waves:
            why.append(f"{PARENT_REBUILT}: {parent.id}")
        if not why:
            continue
        waves[target.id] = waves[parent.id] + 1 if parent is not None and parent.id in waves else 1
        found.append(Rebuild(target.id, target.platforms, tuple(why), waves[target.id]))
    return sorted(found, key=lambda r: r.wave)  # stable: build order within a wave


def groups(changes: Iterable[Change]) -> list[DiffGroup]:
    """The changed and new images grouped by identical diffs (the same lines changed), in first-seen order."""
    by_shape: dict[Any, list[Change]] = {}
    for change in changes:
        if change.status is not Status.REMOVED:
            by_shape.setdefault(change.shape, []).append(change)
    found = []
    for members in by_shape.values():
        shared = tuple(r for r in members[0].reasons if all(r in m.reasons for m in members[1:]))
        flags = tuple(dict.fromkeys(f for m in members for f in m.flags))
        found.append(DiffGroup(tuple(m.target for m in members), shared, flags, members[0].diff))
    return found


# -- Markdown --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Section:
    """A part of the comment: a head, items (each kept or dropped whole) and a tail that closes it."""

    head: str
    items: tuple[str, ...] = ()
    tail: str = ""


def markdown(preview: Preview, threshold: Severity, budget: int | None = BUDGET) -> str:
    """The preview as Markdown: within `budget` characters (None: whole), cut at an item and marked TRUNCATED."""
    sections = [
        _summary(preview, threshold),
        _plan_table(preview),
        _graph(preview),
        _lint(preview, threshold),
        _risky(preview),
        _packages(preview),
        _diffs_section(preview),
    ]
    whole = "".join(s.head + "".join(s.items) + s.tail for s in sections)
    if budget is None or len(whole) <= budget:
        return whole
    room = budget - len(TRUNCATED.format(shown=budget, whole=len(whole)))
    out: list[str] = []
    used = 0
    for section in sections:
        if used + len(section.head) + len(section.tail) > room:
            break
        out.append(section.head)
        used += len(section.head)
        cut = False
        for item in section.items:
            if used + len(item) + len(section.tail) > room:
                cut = True
                break
            out.append(item)
            used += len(item)
        out.append(section.tail)
        used += len(section.tail)
        if cut:
            break
    return "".join(out) + TRUNCATED.format(shown=used, whole=len(whole))


def _summary(preview: Preview, threshold: Severity) -> _Section:
    changed, new, removed = (preview.ids(s) for s in (Status.CHANGED, Status.NEW, Status.REMOVED))
    failing = len(preview.lint.at_or_above(threshold))
    lint = f"{_count(len(preview.lint.findings), 'lint finding')} ({failing} at or above {threshold.label})"
    rebuild = (
        f"{len(preview.plan)} to rebuild in {_count(preview.waves, 'wave')}" if preview.plan else "nothing to rebuild"
    )
    lines = [
        MARKER,
        "## Factory preview",
        "",
        f"**{_count(len(changed), 'image')} changed, {len(new)} new, {len(removed)} removed** against"
        f" `{preview.base_ref}` ({preview.base_commit[:12]}); {rebuild}; {lint};"
        f" {_count(len(preview.flagged), 'risky edit')}.",
        "",
    ]
    if removed:
        lines += [f"Removed: {', '.join(f'`{t}`' for t in removed)}.", ""]
    if preview.stale:
        shown = ", ".join(f"`rendered/{p}`" for p in preview.stale[:10])
        more = f" and {len(preview.stale) - 10} more" if len(preview.stale) > 10 else ""
        lines += [
            f"> **rendered/ is stale** ({shown}{more}): run `factory render` and commit the result.",
            "",
        ]
    return _Section("\n".join(lines) + "\n")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _plan_table(preview: Preview) -> _Section:
    if not preview.plan:
        return _Section("### Plan\n\nNothing to rebuild.\n\n")
    rows = tuple(
        f"| `{r.target}` | {', '.join(r.platforms)} | {_cell('; '.join(r.reasons))} | {r.wave} |\n"
        for r in preview.plan
    )
    return _Section("### Plan\n\n| image | platforms | reasons | wave |\n| --- | --- | --- | --- |\n", rows, "\n")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _graph(preview: Preview) -> _Section:
    """The image graph as mermaid, changed, new and rebuilt images highlighted."""
    targets = preview.catalogue.targets
    node = {t.id: f"t{index}" for index, t in enumerate(targets)}
    lines = ["```mermaid", "graph TD"]
    lines += [f'  {node[t.id]}["{t.id}"]' for t in targets]
    for target in targets:
        parent = preview.catalogue.parent(target)
        if parent is not None:
            lines.append(f"  {node[parent.id]} --> {node[target.id]}")
    marked = {Status.CHANGED: preview.ids(Status.CHANGED), Status.NEW: preview.ids(Status.NEW)}
    rebuilt = [r.target for r in preview.plan if r.target not in marked[Status.CHANGED] + marked[Status.NEW]]
    styles = {"changed": "fill:#ffd8a8,stroke:#e8590c", "new": "fill:#d3f9d8,stroke:#2b8a3e", "rebuilt": "fill:#fff3bf"}
    for name, ids in (("changed", marked[Status.CHANGED]), ("new", marked[Status.NEW]), ("rebuilt", rebuilt)):
        if ids:
            nodes = ",".join(node[i] for i in ids if i in node)
            lines += [f"  classDef {name} {styles[name]}", f"  class {nodes} {name}"]
    lines.append("```")
    legend = "Orange: changed; green: new; yellow: rebuilt because its parent is.\n\n"
    return _Section("### Image graph\n\n", ("\n".join(lines) + "\n\n",), legend)


def _lint(preview: Preview, threshold: Severity) -> _Section:
    verdict = lint_report.summary(preview.lint, threshold)
    head = f"### Lint\n\n`factory lint` of the rendered files: {verdict}\n\n"
    if not preview.lint.findings:
        return _Section(head)
    return _Section(head + "```text\n", tuple(f"{f}\n" for f in preview.lint.findings), "```\n\n")


def _risky(preview: Preview) -> _Section:
    """Each risky edit once, with the images it is in."""
    by_flag: dict[str, list[str]] = {}
    for target, flag in preview.flagged:
        by_flag.setdefault(flag, []).append(target)
    items = tuple(f"- {flag}: {', '.join(f'`{t}`' for t in targets)}\n" for flag, targets in by_flag.items())
    return _Section("### Risky edits\n\n", items, "\n") if items else _Section("")


def expected_packages(
    base_lock: Mapping[str, Any] | None, head_lock: Mapping[str, Any] | None, targets: Iterable[str]
) -> tuple[tuple[str, str, PackageDiff], ...]:
    """Per target and architecture, how its package set moves from the base's factory.lock to the head's (the
    archive's answer to the definitions of each side; () when either side has no lock)."""
    if base_lock is None or head_lock is None:
        return ()
    found = []
    for target in targets:
        for arch in head_lock["os"]["architectures"]:
            if target not in base_lock.get("targets", {}) or target not in head_lock.get("targets", {}):
                continue
            before = {n: e["version"] for n, e in lockfile.installed(base_lock, target, arch).items()}
            after = {n: e["version"] for n, e in lockfile.installed(head_lock, target, arch).items()}
            change = notes.diff(before, after)
            if not change.empty:
                found.append((target, arch, change))
    return tuple(found)


def _packages(preview: Preview) -> _Section:
    """The package changes the images will see, from the two sides' factory.lock."""
    if not preview.locked:
        return _Section("")
    if not preview.packages:
        return _Section("### Expected package changes\n\nNone, by the two sides' factory.lock.\n\n")
    items = []
    for target, arch, change in preview.packages:
        moves = [f"+{n} {v}" for n, v in change.added.items()] + [f"-{n} {v}" for n, v in change.removed.items()]
        moves += [f"{n} {a} -> {b}" for n, (a, b) in change.upgraded.items()]
        shown = ", ".join(moves[:12]) + (f" and {len(moves) - 12} more" if len(moves) > 12 else "")
        items.append(f"- `{target}` ({arch}): {_cell(shown)}\n")
    head = "### Expected package changes\n\nFrom the two sides' factory.lock (`factory lock` refreshes it):\n\n"
    return _Section(head, tuple(items), "\n")


def _diffs_section(preview: Preview) -> _Section:
    found = groups(preview.changes)
    if not found:
        return _Section("### Rendered files\n\nNo rendered file changed.\n")
    return _Section("### Rendered files\n\n", tuple(_details(g) for g in found))


def _details(group: DiffGroup) -> str:
    """One group as a collapsed block: its images and why in the summary line, the diff inside."""
    names = ", ".join(f"<code>{html.escape(t)}</code>" for t in group.targets)
    warning = " ⚠️" if group.flags else ""
    fence = _fence(group.diff)
    return (
        f"<details><summary>{names}: {html.escape(group.title)}{warning}</summary>\n\n"
        f"{fence}diff\n{group.diff}{fence}\n\n</details>\n\n"
    )


def _fence(text: str) -> str:
    """A code fence longer than any run of backticks in `text`, so nothing in it can close the block."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


# -- JSON ------------------------------------------------------------------------------------


def document(preview: Preview, threshold: Severity, budget: int = BUDGET) -> dict[str, Any]:
    """The preview as one JSON document: the same data as the Markdown, whole."""
    whole = len(markdown(preview, threshold, budget=None))
    return {
        "ok": not preview.failed(threshold),
        "base": {"ref": preview.base_ref, "commit": preview.base_commit},
        "summary": {
            "changed": preview.ids(Status.CHANGED),
            "new": preview.ids(Status.NEW),
            "removed": preview.ids(Status.REMOVED),
            "rebuild": len(preview.plan),
            "waves": preview.waves,
            "risky_edits": len(preview.flagged),
        },
        "stale": [f"rendered/{p}" for p in preview.stale],
        "plan": [
            {"target": r.target, "platforms": list(r.platforms), "reasons": list(r.reasons), "wave": r.wave}
            for r in preview.plan
        ],
        "graph": {
            "nodes": [t.id for t in preview.catalogue.targets],
            "edges": [[t.base.target_id, t.id] for t in preview.catalogue.targets if t.base.target_id],
        },
        "lint": lint_report.as_json(preview.lint, threshold),
        "changes": [
            {
                "target": c.target,
                "status": str(c.status),
                "reasons": list(c.reasons),
                "risky_edits": list(c.flags),
                "diff": c.diff,
            }
            for c in preview.changes
        ],
        "groups": [
            {"targets": list(g.targets), "title": g.title, "risky_edits": list(g.flags), "diff": g.diff}
            for g in groups(preview.changes)
        ],
        "packages": [
            {
                "target": target,
                "architecture": arch,
                "added": change.added,
                "removed": change.removed,
                "upgraded": {n: {"from": a, "to": b} for n, (a, b) in change.upgraded.items()},
            }
            for target, arch, change in preview.packages
        ],
        "markdown": {"characters": whole, "budget": budget, "truncated": whole > budget},
    }
