"""The rebuild plan: which targets to build now, in which waves, and why, each reason with its evidence.

What was built is read from the published images themselves (their labels:
the build key, the parent's digest, the commit, the date), never from local
state, so the scheduled pipeline on a fresh runner plans the same as a
developer. A rebuild would use today: the rendered files (a build key over
them, the parent's digest and the platforms, as `factory build` computes
it), the parent as published now, the lifecycle of the version and the age
of the image. Children of a rebuilt parent always rebuild. The plan is
ordered in waves: every parent of a wave is in an earlier wave.

A registry that cannot be read is an error: never "rebuild everything",
never "nothing to do".
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from factory import model, notes, references
from factory.buildinfo import BUILD_KEY_LABEL
from factory.debversion import compare
from factory.errors import EnvironmentProblem, FactoryError, UsageProblem
from factory.oci import RegistryClient, platform_name
from factory.process import Runner
from factory.record import atomic_write

if TYPE_CHECKING:
    from factory.scan import Scanner

MAX_AGE_DAYS = 30
# The GitHub-hosted runner that builds each platform natively (`--output github-matrix`).
RUNNERS = {"linux/amd64": "ubuntu-24.04", "linux/arm64": "ubuntu-24.04-arm"}


class Kind(enum.StrEnum):
    """Why a target is rebuilt (or, for `waits`, what is noted but waits for the maximum age)."""

    NEVER_PUBLISHED = "never published"
    DEFINITION = "definition changed"
    TEMPLATE = "template changed"
    RENDERED = "rendered files changed"
    PARENT = "parent rebuilt"
    BASE_DIGEST = "base digest changed"
    PLATFORMS = "platforms changed"
    PACKAGES = "package updates available"
    VULNERABILITY = "vulnerability fixed upstream"
    END_OF_LIFE = "version past end of life"
    MAX_AGE = "older than the maximum age"
    REQUESTED = "requested"


@dataclass(frozen=True)
class Reason:
    """One reason, the evidence for it, and whether it triggers a rebuild on its own."""

    kind: Kind
    evidence: str
    triggers: bool = True

    def line(self) -> str:
        return f"{self.kind}: {self.evidence}" if self.evidence else str(self.kind)


@dataclass(frozen=True)
class Published:
    """What the final tag of a target points at now, as its image's labels tell."""

    reference: str  # repository:tag read
    digest: str  # the index
    build_key: str | None
    base_digest: str | None
    revision: str | None
    created: dt.datetime | None  # when it was published (its dated tag), else its created label
    platforms: tuple[str, ...]
    manifests: Mapping[str, str] = field(default_factory=dict)  # platform -> its manifest digest

    @property
    def repository(self) -> str:
        return references.parse(self.reference).repository

    @property
    def pinned(self) -> str:
        """`repository@digest`: the image the final tag names, whatever the tag names later."""
        return f"{self.repository}@{self.digest}"


@dataclass
class Entry:
    """One target in the plan."""

    target: str
    platforms: list[str]
    wave: int = 0
    reasons: list[Reason] = field(default_factory=list)
    last_built: str | None = None  # the image's creation date
    published: str | None = None  # repository@digest now
    parent: str | None = None  # the target it is built FROM

    @property
    def rebuild(self) -> bool:
        return any(r.triggers for r in self.reasons)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["reasons"] = [
            {"reason": str(r.kind), "evidence": r.evidence, "triggers": r.triggers} for r in self.reasons
        ]
        return data


@dataclass
class Plan:
    """The targets to rebuild (in waves, with reasons) and those left as they are (with their last build date)."""

    rebuild: list[Entry]
    unchanged: list[Entry]
    date: str
    published: Mapping[str, Published | None] = field(default_factory=dict)  # what each final tag names now

    @property
    def waves(self) -> list[list[Entry]]:
        count = max((e.wave for e in self.rebuild), default=-1) + 1
        return [[e for e in self.rebuild if e.wave == n] for n in range(count)]

    def only(self, selection: Sequence[str], catalogue: model.Catalogue) -> Plan:
        """The plan for the selected target ids or stacks alone (an unknown one is a usage error)."""
        known = {t.id: t.stack for t in catalogue.targets}
        unknown = [s for s in selection if s not in known and s not in known.values()]
        if unknown:
            raise UsageProblem(f"unknown target or stack {', '.join(unknown)} (see `factory list`)")
        keep = {i for i, stack in known.items() if i in selection or stack in selection}
        return Plan(
            [e for e in self.rebuild if e.target in keep],
            [e for e in self.unchanged if e.target in keep],
            self.date,
            self.published,
        )

    def matrix(self) -> dict[str, Any]:
        """The waves as GitHub Actions job matrices: one job per target and platform, on a native runner, each
        naming its parent and, when the plan leaves that parent as it is, the parent's published digest (the
        job builds FROM it: a parent is never built again in a child's job)."""
        rebuilt = {e.target for e in self.rebuild}

        def base_ref(entry: Entry) -> str | None:
            image = self.published.get(entry.parent or "")
            if entry.parent is None or entry.parent in rebuilt or image is None:
                return None
            return image.pinned

        waves = [
            {
                "include": [
                    {
                        "target": e.target,
                        "platform": p,
                        "runner": RUNNERS.get(p, "ubuntu-24.04"),
                        "base": e.parent,
                        "base_ref": base_ref(e),
                    }
                    for e in wave
                    for p in e.platforms
                ]
            }
            for wave in self.waves
        ]
        return {"empty": not self.rebuild, "waves": waves}

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": 1,
            "date": self.date,
            "rebuild": [e.to_json() for e in self.rebuild],
            "unchanged": [e.to_json() for e in self.unchanged],
        }


@dataclass(frozen=True)
class Today:
    """What a rebuild of one target would use today."""

    target: model.Target
    build_key: str
    parent: str | None  # the parent's target id
    parent_digest: str | None  # the parent's published digest now (None: not published)
    sources: tuple[str, ...]  # the files the rendered Dockerfile says it came from


def decide(
    today: Sequence[Today],
    published: Mapping[str, Published | None],
    *,
    now: dt.datetime,
    max_age_days: int = MAX_AGE_DAYS,
    changed_sources: Callable[[str, Sequence[str]], list[str] | None] = lambda revision, files: None,
    extra: Mapping[str, Sequence[Reason]] | None = None,
) -> Plan:
    """The plan from what a rebuild would use today and what is published (parents come before children).

    `changed_sources(revision, files)` names the files among `files` that
    changed since `revision` (None: unknown, e.g. the commit is not here).
    `extra` adds reasons found elsewhere (lifecycle, packages, rescans).
    """
    entries: dict[str, Entry] = {}
    for item in today:
        target = item.target
        image = published.get(target.id)
        entry = Entry(target.id, list(target.platforms), parent=item.parent)
        if image is not None:
            entry.published = image.pinned
            entry.last_built = image.created.date().isoformat() if image.created else None
        entry.reasons = _reasons(item, image, entries, now, max_age_days, changed_sources)
        entry.reasons += list((extra or {}).get(target.id, ()))
        parent = entries.get(item.parent or "")
        if parent is not None and parent.rebuild and not any(r.kind is Kind.PARENT for r in entry.reasons):
            entry.reasons.insert(0, Reason(Kind.PARENT, parent.target))
        if entry.rebuild:
            entry.wave = parent.wave + 1 if parent is not None and parent.rebuild else 0
        entries[target.id] = entry
    rebuild = sorted((e for e in entries.values() if e.rebuild), key=lambda e: e.wave)
    unchanged = [e for e in entries.values() if not e.rebuild]
    return Plan(rebuild, unchanged, now.date().isoformat(), dict(published))


def _reasons(
    item: Today,
    image: Published | None,
    entries: Mapping[str, Entry],
    now: dt.datetime,
    max_age_days: int,
    changed_sources: Callable[[str, Sequence[str]], list[str] | None],
) -> list[Reason]:
    if image is None:
        return [Reason(Kind.NEVER_PUBLISHED, "no final tag yet")]
    reasons: list[Reason] = []
    if set(image.platforms) != set(item.target.platforms):
        was, wanted = ", ".join(sorted(image.platforms)), ", ".join(sorted(item.target.platforms))
        reasons.append(Reason(Kind.PLATFORMS, f"{was} -> {wanted}"))
    parent = entries.get(item.parent or "")
    if parent is not None and parent.rebuild:
        reasons.append(Reason(Kind.PARENT, parent.target))
    elif item.parent_digest is not None and image.base_digest not in (None, item.parent_digest):
        reasons.append(Reason(Kind.BASE_DIGEST, f"{_short(image.base_digest)} -> {_short(item.parent_digest)}"))
    if image.build_key != item.build_key and not reasons:
        files = changed_sources(image.revision, item.sources) if image.revision else None
        if files is None:
            reasons.append(Reason(Kind.RENDERED, f"build key {_short(image.build_key)} -> {_short(item.build_key)}"))
        for file in files or []:
            kind = Kind.TEMPLATE if file.startswith("templates/") else Kind.DEFINITION
            reasons.append(Reason(kind, file))
        if files == []:  # the sources are as they were: what changed is the rendering itself
            reasons.append(Reason(Kind.RENDERED, f"build key {_short(image.build_key)} -> {_short(item.build_key)}"))
    if image.created is not None:
        age = (now - image.created).days
        if age > max_age_days:
            reasons.append(Reason(Kind.MAX_AGE, f"built {image.created.date().isoformat()}, {age} days ago"))
    return reasons


def _short(digest: str | None) -> str:
    return (digest or "none")[:19]


@dataclass(frozen=True)
class Fixable:
    """A vulnerability a rescan of a published SBOM found, with the version that fixes it."""

    id: str
    severity: str
    package: str
    installed: str
    fixed: str


def package_reasons(
    installed: Mapping[str, str], archive: Mapping[str, str], findings: Sequence[Fixable]
) -> list[Reason]:
    """What the archive today offers an image against its SBOM: vulnerabilities a rebuild fixes (a trigger),
    fixes the archive does not have yet (noted), and package updates (a trigger only when one fixes a
    vulnerability: the others wait for the maximum age instead of rebuilding every day)."""
    reasons: list[Reason] = []
    security: set[str] = set()
    for item in sorted(findings, key=lambda f: (f.package, f.id)):
        offered = archive.get(item.package)
        if offered is not None and compare(offered, item.fixed) >= 0:
            security.add(item.package)
            evidence = f"{item.id} ({item.severity}) in {item.package} {item.installed}, fixed in {item.fixed}"
            reasons.append(Reason(Kind.VULNERABILITY, evidence))
        else:
            evidence = f"{item.id} ({item.severity}) in {item.package}: fixed in {item.fixed}, not in the archive yet"
            reasons.append(Reason(Kind.VULNERABILITY, evidence, triggers=False))
    updates = {
        name: (version, archive[name])
        for name, version in sorted(installed.items())
        if name in archive and compare(archive[name], version) > 0
    }
    if updates:
        shown = [f"{n} {a} -> {b}" for n, (a, b) in list(updates.items())[:8]]
        more = f" and {len(updates) - 8} more" if len(updates) > 8 else ""
        fixes = sorted(security & set(updates))
        prefix = f"security ({', '.join(fixes)}): " if fixes else ""
        reasons.append(Reason(Kind.PACKAGES, prefix + ", ".join(shown) + more, triggers=bool(fixes)))
    return reasons


def git_changes(root: Path, runner: Runner) -> Callable[[str, Sequence[str]], list[str] | None]:
    """`changed_sources` from git: the files changed between a commit and the working tree (None: unknown)."""

    def changed(revision: str, files: Sequence[str]) -> list[str] | None:
        if not files:
            return []
        argv = ["git", "-C", str(root), "diff", "--name-only", revision, "--", *files]
        done = runner.run(argv, check=False, timeout=60)
        if not done.ok:
            return None
        return sorted(set(done.stdout.split()))

    return changed


def read_published(client: RegistryClient, repository_path: str, tag: str) -> Published | None:
    """The image a final tag names now, from its index and the config labels of its first platform image
    (None: the tag does not exist). Any other failure is an EnvironmentProblem, never a guess."""
    try:
        media, digest, index = client.get_manifest(repository_path, tag)
    except FileNotFoundError:
        return None
    manifests = [m for m in index.get("manifests", []) if (m.get("platform") or {}).get("os") not in (None, "unknown")]
    if "layers" in index or not manifests:
        raise EnvironmentProblem(f"{client.host}/{repository_path}:{tag} is not a multi-platform index ({media})")
    by_platform = {platform_name(m["platform"]): str(m["digest"]) for m in manifests}
    _, _, first = client.get_manifest(repository_path, manifests[0]["digest"])
    labels = (client.blob_json(repository_path, first["config"]["digest"]).get("config") or {}).get("Labels") or {}
    built = _published_on(client, repository_path, tag, digest) or _parse_time(
        labels.get("org.opencontainers.image.created")  # the commit's date (builds are reproducible): a floor
    )
    return Published(
        reference=f"{client.host}/{repository_path}:{tag}",
        digest=digest,
        build_key=labels.get(BUILD_KEY_LABEL),
        base_digest=labels.get("org.opencontainers.image.base.digest"),
        revision=labels.get("org.opencontainers.image.revision"),
        created=built,
        platforms=tuple(sorted(by_platform)),
        manifests=by_platform,
    )


def _published_on(client: RegistryClient, repository_path: str, tag: str, digest: str) -> dt.datetime | None:
    """The day `digest` was published under `tag`: the date of its newest immutable tag (`3.13-20261207`).

    The image's own created label is the commit's date (builds take SOURCE_DATE_EPOCH from it), not when
    its packages were installed; the dated tag is. Newest first: usually the first one read matches.
    """
    from factory.publish import dated

    found = [(when, name) for name in client.tags(repository_path) if (when := dated(tag, name)) is not None]
    for (day, _), name in sorted(found, reverse=True):
        if client.digest_of(repository_path, name) == digest:
            return dt.datetime.strptime(day, "%Y%m%d").replace(tzinfo=dt.UTC)
    return None


def _parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


# -- gathering the reasons found elsewhere -------------------------------------------------------------


def lifecycle_reasons(targets: Iterable[model.Target], day: dt.date) -> dict[str, list[Reason]]:
    """A version near or past its end of life, noted on each of its targets (it does not trigger a rebuild)."""
    from factory import lifecycle

    reasons: dict[str, list[Reason]] = {}
    for target_id, state in lifecycle.states(targets, day).items():
        if state.level != lifecycle.Level.OK:
            reasons[target_id] = [Reason(Kind.END_OF_LIFE, state.message, triggers=False)]
    return reasons


def rescan_reasons(
    published: Mapping[str, Published | None],
    scanner: Scanner,
    lock: Mapping[str, Any] | None,
    say: Callable[[str], None],
    attested: Callable[[str], Mapping[str, Any] | None] = lambda pinned: None,
) -> dict[str, list[Reason]]:
    """Per published target: its SBOMs against the lock's archive and today's DB (`package_reasons`). Each
    SBOM is the one cached by digest, else the image's signed `cyclonedx` attestation (`attested`: no layer is
    read), else made from the registry. Without a DB, or a lock, that part is skipped, said once."""
    try:
        scanner.prepare_db()
        with_db = True
    except FactoryError as exc:
        say(f"plan: published SBOMs not rescanned: {exc}")
        with_db = False
    reasons: dict[str, list[Reason]] = {}
    for target_id, image in published.items():
        if image is None:
            continue
        repository = image.repository
        installed: dict[str, str] = {}
        archive: dict[str, str] = {}
        fixable: dict[tuple[str, str], Fixable] = {}
        for platform, digest in sorted(image.manifests.items()):
            sbom = _published_sbom(scanner, attested, f"{repository}@{digest}", digest, platform)
            installed.update(notes.packages(json.loads(sbom.read_text())))
            if lock is not None:
                table = lock["packages"].get(lock["os"]["release"], {}).get(platform.split("/")[1], {})
                archive.update({name: str(entry["version"]) for name, entry in table.items()})
            if with_db:
                for finding in scanner.vulnerabilities(sbom, target_id, [], None):
                    if finding.fixed and not finding.suppressed:
                        item = Fixable(finding.id, finding.severity, finding.package, finding.installed, finding.fixed)
                        fixable[(finding.id, finding.package)] = item
        found = package_reasons(installed, archive, list(fixable.values()))
        if found:
            reasons[target_id] = found
    return reasons


def _published_sbom(
    scanner: Scanner, attested: Callable[[str], Mapping[str, Any] | None], pinned: str, digest: str, platform: str
) -> Path:
    path = scanner.sbom_path(digest)
    if not path.is_file():
        document = attested(pinned)
        if document is not None and document.get("components") is not None:  # not a referrer's pointer
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, json.dumps(document))
    return scanner.sbom(pinned, digest, platform)
