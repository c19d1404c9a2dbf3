"""Clean-up of the registry: staging tags and build caches of old runs, never what anything still uses.

Staging tags carry their run (`3.13-runtime-20261201T101500Z-ab12`, and
`...-linux-arm64` for a per-platform push), so their age is read from the
tag. A build cache tag (one per target and builder) is as old as the newest
local run that built its target; one whose target left the catalogue goes
too. A registry deletes manifests, not tags: every tag on a digest goes with
it, so a digest is deleted only when every tag on it may go, and never when a
final tag, a pin, the latest run, or an index that stays points at it.
Deleting frees no disk until the registry's garbage collection runs.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from factory import record as records
from factory import references
from factory.errors import FactoryError

RUN_IN_TAG = re.compile(r"(?:^|-)(?P<at>[0-9]{8}T[0-9]{6}Z)-[0-9a-f]{4}(?:-linux-[a-z0-9]+(?:-v[0-9])?|-local)?$")


def run_time(run_id_or_tag: str) -> dt.datetime | None:
    """When the run a staging tag (or a run id) names started; None for a tag without a run."""
    match = RUN_IN_TAG.search(run_id_or_tag)
    if match is None:
        return None
    return dt.datetime.strptime(match["at"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)


@dataclass
class Repository:
    """One repository as read from the registry: tag -> digest, and the children of each index in it."""

    name: str
    tags: dict[str, str]
    children: dict[str, list[str]] = field(default_factory=dict)  # index digest -> manifest digests


@dataclass(frozen=True)
class Deletion:
    repository: str
    digest: str
    tags: tuple[str, ...]
    why: str


def decide(
    repositories: Iterable[Repository],
    old: Callable[[str, str], str | None],
    protected: set[str],
) -> tuple[list[Deletion], list[str]]:
    """The digests to delete and, for tags that were old but kept, why.

    `old(repository, tag)` says why a tag may go (None: it stays).
    `protected` holds digests something outside uses (final tags, pins,
    the latest run); whatever stays protects the manifests under it.
    """
    deletions: list[Deletion] = []
    kept: list[str] = []
    for repo in repositories:
        by_digest: dict[str, list[str]] = {}
        for tag, digest in sorted(repo.tags.items()):
            by_digest.setdefault(digest, []).append(tag)
        reasons = {tag: old(repo.name, tag) for tag in repo.tags}
        staying = {d for d, tags in by_digest.items() if d in protected or any(reasons[t] is None for t in tags)}
        shielded = set(staying)
        for digest in staying:
            shielded.update(repo.children.get(digest, []))
        for digest, tags in sorted(by_digest.items()):
            if digest in shielded:
                kept += [f"{repo.name}:{t}: {_why_kept(digest, protected, staying)}" for t in tags if reasons[t]]
                continue
            why = "; ".join(sorted({str(reasons[t]) for t in tags}))
            deletions.append(Deletion(repo.name, digest, tuple(tags), why))
    return deletions, kept


def _why_kept(digest: str, protected: set[str], staying: set[str]) -> str:
    if digest in protected:
        return "a final tag, a pin or the latest run uses it"
    if digest in staying:
        return "a newer tag shares its digest"
    return "an index that stays holds it"


def staging_age(cutoff: dt.datetime) -> Callable[[str, str], str | None]:
    """Staging tags of runs that started before the cutoff may go."""

    def old(repository: str, tag: str) -> str | None:
        started = run_time(tag)
        if started is None or started >= cutoff:
            return None
        return f"staging tag of a run of {started:%Y-%m-%d}"

    return old


def cache_age(
    cutoff: dt.datetime, last_built: Mapping[tuple[str, str], dt.datetime], in_catalogue: set[tuple[str, str]]
) -> Callable[[str, str], str | None]:
    """A cache tag (`<image>:<tag>[-linux-arm64]`) may go when its target left the catalogue, or when the newest
    local run that built the target started before the cutoff; with no local run to tell, it stays."""

    def old(repository: str, tag: str) -> str | None:
        image = references.parse(repository).name
        base = re.sub(r"-linux-[a-z0-9]+(?:-v[0-9])?$", "", tag)
        key = (image, base)
        if key not in in_catalogue:
            return "build cache of a target no longer in the catalogue"
        built = last_built.get(key)
        if built is None or built >= cutoff:
            return None
        return f"build cache last used by a run of {built:%Y-%m-%d}"

    return old


# -- reading the registry and the local records ----------------------------------------------------


def read_repository(oras: Any, name: str) -> Repository:
    """A repository as the registry has it: every tag's digest and the manifests under each index."""
    tags = {tag: digest for tag in oras.tags(name) if (digest := oras.resolve(f"{name}:{tag}"))}
    repository = Repository(name, tags)
    for digest in set(tags.values()):
        manifest = oras.manifest(f"{name}@{digest}")
        repository.children[digest] = [str(m.get("digest")) for m in manifest.get("manifests") or []]
    return repository


def in_use(oras: Any, final_repositories: Iterable[str], pinned: Iterable[str], latest: Path | None) -> set[str]:
    """Digests something still uses: each final tag's and the manifests under it, the pins, the latest run's."""
    used = set(pinned)
    if latest is not None and latest.is_file():
        for target in records.read(latest).targets:
            used.update(i.digest for i in target.images.values())
            used.update({target.digest} if target.digest else set())
    for repository in final_repositories:
        for tag in oras.tags(repository):
            digest = oras.resolve(f"{repository}:{tag}")
            if digest is not None and not tag.startswith("sha256-"):  # cosign's and oras's own tags
                used.add(digest)
                under = oras.manifest(f"{repository}@{digest}").get("manifests") or []
                used.update(str(m.get("digest")) for m in under)
    return used


def cache_owners(record_files: Iterable[Path]) -> dict[tuple[str, str], dt.datetime]:
    """(image, staging tag) -> when the newest local run that built that target started."""
    last: dict[tuple[str, str], dt.datetime] = {}
    for path in record_files:
        try:
            record = records.read(path)
        except FactoryError:
            continue  # an unreadable old record tells nothing: its caches stay
        started = run_time(record.run_id)
        for target in record.targets:
            if target.reference is None or started is None:
                continue
            parsed = references.parse(target.reference)
            key = (parsed.name, (parsed.tag or "").removesuffix(f"-{record.run_id}"))
            if key not in last or last[key] < started:
                last[key] = started
    return last


def catalogue_caches(targets: Sequence[Any]) -> set[tuple[str, str]]:
    """(image, staging tag) of every target of the catalogue: the caches that may stay."""
    return {(t.image, t.staging_tag) for t in targets}
