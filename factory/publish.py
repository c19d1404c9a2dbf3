"""Promotion: the staging index that passed build, verify and scan, under its final tags, signed.

Only a target whose every platform passed every stage is published, by digest:
the staging index is copied into the publish repository under its own digest
(`oras cp`; within one registry no layer is pushed again), signed with cosign
(key-based, offline), its per-platform SBOMs attested, and only then tagged:
first one immutable dated tag (`3.13-20261202`, `.1`, `.2` for later
publishes of other digests that day), then the rolling tags of the
definition. Each write is read back before the next one, so a fault at any
point leaves every rolling tag on the previous good digest and a rerun
completes the work; a step that is already done (the digest present, a
signature or attestation that verifies, a tag in place) is skipped, so
publishing the same digest again writes nothing.

The registry is reached only through oras and cosign, which read credentials
from the usual docker config themselves: no credential passes through the
factory's argv, logs or errors.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import shutil
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from factory import attestations as attesting
from factory import locks, model, notes, references
from factory import record as records
from factory.errors import CommandFailed, EnvironmentProblem, FactoryError, UsageProblem
from factory.oci import RegistryClient
from factory.process import Runner

TOOLS_HINT = "run `factory engine up` (it installs cosign, oras and skopeo)"
LOCK_WAIT_S = 600.0
_DATED = re.compile(r"-(?P<date>[0-9]{8})(?:\.(?P<n>[0-9]+))?")


def dated(primary: str, tag: str) -> tuple[str, int] | None:
    """(YYYYMMDD, n) when `tag` is an immutable dated tag of `primary` (`3.13-20261202`, `3.13-20261202.1`)."""
    match = _DATED.fullmatch(tag[len(primary) :]) if tag.startswith(primary + "-") else None
    return (match["date"], int(match["n"] or 0)) if match else None


class PublishFailed(FactoryError):
    """A write could not be completed or did not read back as written; nothing after it was done."""

    exit_code = EnvironmentProblem.exit_code


def find_tool(name: str, environ: Mapping[str, str] = os.environ) -> str:
    """The path of a publishing tool: on PATH, else where `factory engine up` unpacked it (Debian 12)."""
    found = shutil.which(name, path=environ.get("PATH"))
    if found:
        return found
    from factory.engine.host import TOOLS_DIR
    from factory.engine.layout import Layout

    unpacked = Layout.from_env(environ).prefix / TOOLS_DIR / "usr" / "bin" / name
    if unpacked.is_file() and os.access(unpacked, os.X_OK):
        return str(unpacked)
    raise EnvironmentProblem(f"{name} is not installed: {TOOLS_HINT}")


def _plain_http(reference: str) -> bool:
    return references.loopback(references.parse(reference).registry or "")


def _needs_http_flag(reference: str) -> bool:
    """cosign speaks plain HTTP to 127.0.0.0/8 by itself; another loopback name needs the flag."""
    return _plain_http(reference) and not (references.parse(reference).registry or "").startswith("127.")


class Oras:
    """Reads and writes registries through oras (tags, digests, copies by digest, attachments)."""

    def __init__(self, runner: Runner, binary: str | None = None) -> None:
        self.runner = runner
        self.binary = binary or find_tool("oras")

    def _http(self, reference: str, *, prefix: str = "") -> list[str]:
        return [f"--{prefix}plain-http"] if _plain_http(reference) else []

    def resolve(self, reference: str) -> str | None:
        """The digest a tag (or digest) resolves to; None when it does not exist."""
        argv = [self.binary, "resolve", *self._http(reference), reference]
        result = self.runner.run(argv, check=False)
        if result.ok:
            return result.stdout.strip()
        if "not found" in result.output:
            return None
        raise CommandFailed(argv, result.returncode, result.output)

    def tags(self, repository: str) -> list[str]:
        """Every tag of a repository ([] when the repository does not exist yet)."""
        argv = [self.binary, "repo", "tags", *self._http(repository), repository]
        result = self.runner.run(argv, check=False)
        if result.ok:
            return result.stdout.split()
        if "not found" in result.output or "name unknown" in result.output.lower():
            return []
        raise CommandFailed(argv, result.returncode, result.output)

    def repositories(self, namespace: str) -> list[str]:
        """The repositories under `registry/namespace`, as full names ([] when there are none)."""
        argv = [self.binary, "repo", "ls", *self._http(namespace), namespace]
        return [f"{namespace}/{name}" for name in self.runner.run(argv, hint=f"list {namespace}").stdout.split()]

    def manifest(self, pinned: str) -> dict[str, Any]:
        """The manifest (or index) a reference names, parsed."""
        argv = [self.binary, "manifest", "fetch", *self._http(pinned), pinned]
        text = self.runner.run(argv, hint=f"fetch {pinned}").stdout
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            raise PublishFailed(f"{pinned}: the registry sent no JSON manifest: {text[:200]!r}") from exc
        return parsed if isinstance(parsed, dict) else {}

    def delete(self, pinned: str) -> None:
        """Delete a manifest by digest (every tag on it goes with it; the registry must allow deletes)."""
        self.runner.run([self.binary, "manifest", "delete", "--force", *self._http(pinned), pinned], hint="delete")

    def copy(self, source: str, destination: str) -> None:
        """Copy an index with everything under it, digests unchanged (`oras cp -r`)."""
        http = [*self._http(source, prefix="from-"), *self._http(destination, prefix="to-")]
        self.runner.run([self.binary, "cp", "-r", *http, source, destination], hint=f"copy to {destination}")

    def attach(self, pinned: str, document: Path, artifact_type: str) -> str:
        """Attach a file to a manifest as an OCI referrer; the referrer's manifest digest."""
        argv = [self.binary, "attach", *self._http(pinned), "--artifact-type", artifact_type, "--format", "json"]
        result = self.runner.run(
            [*argv, pinned, f"{document.name}:{artifact_type}"], cwd=document.parent, hint=f"attach to {pinned}"
        )
        try:
            digest = json.loads(result.stdout)["digest"]
        except (ValueError, KeyError, TypeError) as exc:
            raise PublishFailed(f"oras attach printed no digest for {pinned}: {result.stdout[-300:]!r}") from exc
        return str(digest)

    def tag(self, pinned: str, tag: str) -> None:
        """Point `tag` at the manifest `repository@digest` (the manifest is put again, never rebuilt)."""
        self.runner.run([self.binary, "tag", *self._http(pinned), pinned, tag], hint=f"tag {tag}")


@dataclass(frozen=True)
class SigningKey:
    """A cosign key pair: the private key signs, the public one verifies (`<key>.pub` beside it)."""

    private: Path
    public: Path
    password: str  # COSIGN_PASSWORD; '' for a key generated without one

    @classmethod
    def at(cls, path: Path, environ: Mapping[str, str] = os.environ, *, verify_only: bool = False) -> SigningKey:
        """The key pair at `path` (with `verify_only`, only the public key must be there)."""
        public = path.with_suffix(".pub")
        for file in (public,) if verify_only else (path, public):
            if not file.is_file():
                raise EnvironmentProblem(
                    f"no signing key at {file}: run `factory keys generate` (or set publish.signing_key)"
                )
        return cls(path, public, environ.get("COSIGN_PASSWORD", ""))


class Cosign:
    """Signs and attests by digest, offline (no transparency log), and verifies with the public key."""

    def __init__(self, runner: Runner, key: SigningKey, binary: str | None = None) -> None:
        self.runner = runner
        self.key = key
        self.binary = binary or find_tool("cosign")

    def _env(self) -> dict[str, str]:
        return {**self.runner.env, "COSIGN_PASSWORD": self.key.password}

    def _write_flags(self, reference: str) -> list[str]:
        flags = ["--yes", "--key", str(self.key.private), "--tlog-upload=false"]
        return [*flags, "--allow-http-registry"] if _needs_http_flag(reference) else flags

    def _read_flags(self, reference: str) -> list[str]:
        flags = ["--key", str(self.key.public), "--insecure-ignore-tlog"]
        return [*flags, "--allow-insecure-registry"] if _needs_http_flag(reference) else flags

    def sign(self, pinned: str) -> None:
        argv = [self.binary, "sign", *self._write_flags(pinned), pinned]
        result = self.runner.run(argv, env=self._env(), check=False)
        if not result.ok:
            raise CommandFailed(argv, result.returncode, result.output, hint=_key_hint(result.output))

    def verified(self, pinned: str) -> bool:
        argv = [self.binary, "verify", *self._read_flags(pinned), pinned]
        return self.runner.run(argv, check=False).ok

    def attest(self, pinned: str, kind: str, predicate: Path) -> None:
        flags = [*self._write_flags(pinned), "--type", kind, "--predicate", str(predicate)]
        argv = [self.binary, "attest", *flags, pinned]
        result = self.runner.run(argv, env=self._env(), check=False)
        if not result.ok:
            raise CommandFailed(argv, result.returncode, result.output, hint=_key_hint(result.output))

    def attested(self, pinned: str, kind: str) -> bool:
        argv = [self.binary, "verify-attestation", *self._read_flags(pinned), "--type", kind, pinned]
        return self.runner.run(argv, check=False).ok

    def predicate(self, pinned: str, kind: str) -> dict[str, Any] | None:
        """The predicate of a `kind` attestation that verifies with the key (None: none does)."""
        argv = [self.binary, "verify-attestation", *self._read_flags(pinned), "--type", kind, pinned]
        result = self.runner.run(argv, check=False)
        if not result.ok:
            return None
        try:
            envelope = json.loads(result.stdout.splitlines()[0])
            statement = json.loads(base64.b64decode(envelope["payload"]))
        except (ValueError, KeyError, IndexError, TypeError):
            return None
        predicate = statement.get("predicate") if isinstance(statement, dict) else None
        return predicate if isinstance(predicate, dict) else None


def _key_hint(output: str) -> str:
    if "decrypt" in output or "password" in output.lower():
        return "the signing key does not open with COSIGN_PASSWORD"
    return ""


def generate_key(path: Path, runner: Runner, *, force: bool = False, binary: str | None = None) -> SigningKey:
    """`cosign generate-key-pair` into path (and path.pub), with COSIGN_PASSWORD ('' when unset)."""
    public = path.with_suffix(".pub")
    if not force and (path.exists() or public.exists()):
        raise UsageProblem(f"{path} already exists: keep it, or --force to replace the key pair")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    password = runner.env.get("COSIGN_PASSWORD", "")
    work = path.parent / f".keys-{os.getpid()}"
    work.mkdir(mode=0o700, exist_ok=True)
    try:
        tool = binary or find_tool("cosign")
        runner.run([tool, "generate-key-pair"], cwd=work, env={**runner.env, "COSIGN_PASSWORD": password})
        os.replace(work / "cosign.key", path)
        os.replace(work / "cosign.pub", public)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    path.chmod(0o600)
    return SigningKey(path, public, password)


# -- deciding ------------------------------------------------------------------------------


def refusal(target: records.TargetResult) -> str | None:
    """Why a target of a record may not be published (None: every platform passed every stage)."""
    if target.status != records.Status.BUILT:
        return f"build {target.status}" + (f": {target.reason.strip().splitlines()[0]}" if target.reason else "")
    for stage in ("verify", "scan"):
        verdicts = target.verdicts.get(stage, {})
        missing = [p for p in target.platforms if p not in verdicts]
        if missing:
            return f"not {'verified' if stage == 'verify' else 'scanned'} on {', '.join(missing)}"
        failed = [p for p in target.platforms if not verdicts[p].passed]
        if failed:
            return f"{stage} failed on {', '.join(failed)}: {verdicts[failed[0]].summary}"
    return None


def immutable_tag(primary: str, digest: str, existing: Mapping[str, str | None], today: dt.date) -> tuple[str, bool]:
    """The dated tag of this digest: one it already has (reused), else the next free one of today.

    `existing` maps the repository's tags to their digests. Returns (tag, already there).
    """
    for tag, points_to in sorted(existing.items()):
        if dated(primary, tag) is not None and points_to == digest:
            return tag, True
    stem = f"{primary}-{today:%Y%m%d}"
    if stem not in existing:
        return stem, False
    n = 1
    while f"{stem}.{n}" in existing:
        n += 1
    if len(f"{stem}.{n}") > model.MAX_TAG:  # validation leaves room for .999
        raise PublishFailed(f"{primary}: {n} dated tags today already; no room for another within 128 characters")
    return f"{stem}.{n}", False


@dataclass(frozen=True)
class Move:
    """One tag of the intended map: where it points now (None: new) and where it will point."""

    tag: str
    current: str | None
    wanted: str
    immutable: bool

    @property
    def changes(self) -> bool:
        return self.current != self.wanted


@dataclass
class Plan:
    """What publishing one target will do, computed before any write."""

    target: str
    source: str  # staging repository@digest
    repository: str  # the publish repository
    digest: str
    platforms: dict[str, str]  # platform -> manifest digest
    attestations: list[attesting.Attestation]  # predicates written before any write to the registry
    moves: list[Move] = field(default_factory=list)

    @property
    def pinned(self) -> str:
        return f"{self.repository}@{self.digest}"

    @property
    def immutable(self) -> str:
        return next(m.tag for m in self.moves if m.immutable)

    def describe(self) -> list[str]:
        return describe(self.repository, self.moves)


def describe(repository: str, moves: list[Move]) -> list[str]:
    """One line per tag of an intended map: new, moved (from what to what), or staying."""
    lines = []
    for move in moves:
        kind = "immutable" if move.immutable else "rolling"
        if not move.changes:
            lines.append(f"{repository}:{move.tag} ({kind}) stays at {_short(move.wanted)}")
        elif move.current is None:
            lines.append(f"{repository}:{move.tag} ({kind}) new -> {_short(move.wanted)}")
        else:
            lines.append(f"{repository}:{move.tag} ({kind}) {_short(move.current)} -> {_short(move.wanted)}")
    return lines


def _short(digest: str) -> str:
    return digest[:19]


def plan(
    target: records.TargetResult,
    repository: str,
    oras: Oras,
    attestations: list[attesting.Attestation],
    today: dt.date,
) -> Plan:
    """The tag -> digest map of one target against the registry as it is now (reads only)."""
    assert target.digest is not None and target.repository is not None
    # The record keeps image:tag; no tag means `latest`, as docker reads it.
    rolling_tags = [references.parse(reference).tag or "latest" for reference in target.tags]
    primary = rolling_tags[0]
    existing = {tag: None for tag in oras.tags(repository)}
    dated = {t: oras.resolve(f"{repository}:{t}") for t in existing if t.startswith(primary + "-")}
    known: dict[str, str | None] = {**existing, **dated}
    tag, _ = immutable_tag(primary, target.digest, known, today)
    moves = [Move(tag, known.get(tag), target.digest, immutable=True)]
    if moves[0].current not in (None, target.digest):  # cannot happen by construction; guards a race
        raise PublishFailed(f"{repository}:{tag} is immutable and points at {moves[0].current}")
    for rolling in rolling_tags:
        current = oras.resolve(f"{repository}:{rolling}") if rolling in existing else None
        moves.append(Move(rolling, current, target.digest, immutable=False))
    platforms = {p: image.digest for p, image in target.images.items()}
    source = f"{target.repository}@{target.digest}"
    return Plan(target.id, source, repository, target.digest, platforms, attestations, moves)


# -- doing ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What publishing one target did."""

    target: str
    repository: str
    digest: str
    tags: list[str]
    immutable: str
    writes: list[str]  # what was written, in order ([]: everything was already in place)


def execute(item: Plan, oras: Oras, cosign: Cosign, say: Callable[[str], None]) -> Outcome:
    """Copy, sign, attest, then the immutable tag, then the rolling tags; each read back before the next."""
    writes: list[str] = []
    pinned = item.pinned
    if oras.resolve(pinned) != item.digest:
        say(f"{item.target}: copying {item.source} -> {pinned}")
        oras.copy(item.source, pinned)
        _expect(oras.resolve(pinned), item.digest, pinned)
        writes.append("copy")
    if not cosign.verified(pinned):
        say(f"{item.target}: signing {pinned}")
        cosign.sign(pinned)
        if not cosign.verified(pinned):
            raise PublishFailed(f"the signature of {pinned} does not verify after signing")
        writes.append("signature")
    for attestation in item.attestations:
        platform = attestation.platform
        subject = pinned if platform is None else f"{item.repository}@{item.platforms[platform]}"
        if cosign.attested(subject, attestation.kind):
            continue
        predicate = attestation.predicate
        if attestation.attach is not None and attestation.attach_type is not None:
            say(f"{item.target}: attaching {attestation.attach.name} to {subject}")
            digest = oras.attach(subject, attestation.attach, attestation.attach_type)
            if attestation.pointer:  # too large to attest: the predicate names the referrer
                pointer = attesting.sbom_pointer(attestation.attach, item.repository, digest)
                predicate.write_text(json.dumps(pointer, indent=2, sort_keys=True) + "\n")
            writes.append(f"attach {attestation.kind} {attestation.platform or 'index'}")
        say(f"{item.target}: attesting {attestation.describe()} on {subject}")
        cosign.attest(subject, attestation.kind, predicate)
        if not cosign.attested(subject, attestation.kind):
            raise PublishFailed(f"the {attestation.kind} attestation of {subject} does not verify after attesting")
        writes.append(f"attest {attestation.kind} {attestation.platform or 'index'}")
    for move in item.moves:  # the immutable tag comes first
        if not move.changes:
            continue
        reference = f"{item.repository}:{move.tag}"
        if move.immutable:
            now = oras.resolve(reference)  # another publisher may have taken it since the plan
            if now is not None and now != item.digest:
                raise PublishFailed(f"{reference} is immutable and already points at {now}")
        say(f"{item.target}: tagging {reference}")
        oras.tag(pinned, move.tag)
        _expect(oras.resolve(reference), item.digest, reference)
        writes.append(f"tag {move.tag}")
    rolling = [m.tag for m in item.moves if not m.immutable]
    return Outcome(item.target, item.repository, item.digest, rolling, item.immutable, writes)


# -- what a new digest changes --------------------------------------------------------------------


def release_note(
    record: records.BuildRecord,
    target: records.TargetResult,
    item: Plan,
    cosign: Cosign,
    client: RegistryClient,
    scans: Mapping[str, Mapping[str, Any]],
) -> notes.Note | None:
    """The why-rebuilt note of a target against the digest its first rolling tag names now, its SBOMs and
    scan results read from that digest's signed attestations (None: the tag names this very digest, which
    got its note when it was first published)."""
    rolling = [move for move in item.moves if not move.immutable]
    previous = rolling[0].current if rolling else None
    if previous == target.digest:
        return None
    note = notes.Note(target.id, item.digest, previous, attesting.reasons(record, target)["reasons"])
    before = {}
    if previous is not None:
        path = references.parse(item.repository).path
        before = {image.platform: image for image in client.platforms(path, previous)}
    for platform, image in sorted(target.images.items()):
        entry = scans.get(platform) or {}
        after = json.loads(Path(entry["sbom"]).read_text()) if entry.get("sbom") else {}
        old = before.get(platform)
        old_sbom = old_scan = None
        if old is not None:
            pinned = f"{item.repository}@{old.digest}"
            old_sbom = cosign.predicate(pinned, attesting.SBOM)
            old_scan = ((cosign.predicate(pinned, attesting.SCAN) or {}).get("scanner") or {}).get("result")
        size_before = old.compressed_size if old is not None else None
        note.platforms[platform] = notes.platform_note(
            old_sbom, after, old_scan, entry, size_before, image.compressed_size
        )
    return note


def note_refusal(target: records.TargetResult, note: notes.Note | None, allow_removal: bool) -> str | None:
    """Why a built target is not promoted after all: packages removed, or a rebuild that changed nothing."""
    from factory.plan import Kind

    if note is None or note.previous is None:
        return None
    removed = note.removed
    if removed and not allow_removal:
        lost = "; ".join(f"{platform}: {', '.join(names)}" for platform, names in sorted(removed.items()))
        return f"packages removed since {note.previous[:19]} ({lost}): publish with --allow-removal if intended"
    packages_only = bool(target.reasons) and all(r.startswith(str(Kind.PACKAGES)) for r in target.reasons)
    if packages_only and note.nothing_changed:
        return f"rebuilt for package updates, but no package changed against {note.previous[:19]}: nothing to promote"
    return None


# -- copying to another registry --------------------------------------------------------------


@dataclass
class Copy:
    """Copying one published target into another repository: the same digests, its tags, signatures, referrers."""

    target: str
    source: str  # the publish repository
    destination: str  # the repository in the other registry
    digest: str
    platforms: list[str]  # the manifest digests under the index (their referrers and attestations go too)
    moves: list[Move] = field(default_factory=list)

    @property
    def pinned(self) -> str:
        return f"{self.destination}@{self.digest}"

    def describe(self) -> list[str]:
        return describe(self.destination, self.moves)


def copy_plan(
    target: str, publication: records.Publication, platforms: list[str], destination: str, oras: Oras
) -> Copy:
    """The tag map of a copy against the destination as it is now (reads only); an immutable tag that
    points elsewhere there is an error before anything is written."""
    item = Copy(target, publication.repository, destination, publication.digest, sorted(platforms))
    for tag, immutable in ((publication.immutable_tag, True), *((t, False) for t in publication.tags)):
        current = oras.resolve(f"{destination}:{tag}")
        if immutable and current not in (None, publication.digest):
            raise PublishFailed(f"{destination}:{tag} is immutable and points at {current}, not {publication.digest}")
        item.moves.append(Move(tag, current, publication.digest, immutable))
    return item


def execute_copy(item: Copy, oras: Oras, cosign: Cosign, say: Callable[[str], None]) -> list[str]:
    """Copy every platform manifest, then the index, each with its referrers (`oras cp -r`); then cosign's
    signature and attestation tags of each digest; check the signature there; then the tags, immutable
    first. The index goes last, so its presence means all under it arrived: then nothing is copied again.
    Each write is read back."""
    writes: list[str] = []
    if oras.resolve(item.pinned) != item.digest:
        for digest in (*item.platforms, item.digest):
            there = f"{item.destination}@{digest}"
            say(f"{item.target}: copying {item.source}@{digest} -> {there}")
            oras.copy(f"{item.source}@{digest}", there)  # -r: its referrers too (an attached SBOM)
            _expect(oras.resolve(there), digest, there)
            writes.append(f"copy {digest[:19]}")
    for digest in (item.digest, *item.platforms):
        for suffix in (".sig", ".att"):  # where cosign keeps signatures and attestations without a referrers API
            tag = digest.replace(":", "-") + suffix
            wanted = oras.resolve(f"{item.source}:{tag}")
            if wanted is None or oras.resolve(f"{item.destination}:{tag}") == wanted:
                continue
            oras.copy(f"{item.source}:{tag}", f"{item.destination}:{tag}")
            _expect(oras.resolve(f"{item.destination}:{tag}"), wanted, f"{item.destination}:{tag}")
            writes.append(f"copy {tag}")
    if not cosign.verified(item.pinned):
        raise PublishFailed(f"the signature of {item.pinned} does not verify after copying it")
    for move in item.moves:
        if not move.changes:
            continue
        say(f"{item.target}: tagging {item.destination}:{move.tag}")
        oras.tag(item.pinned, move.tag)
        _expect(oras.resolve(f"{item.destination}:{move.tag}"), item.digest, f"{item.destination}:{move.tag}")
        writes.append(f"tag {move.tag}")
    return writes


def _expect(found: str | None, wanted: str, reference: str) -> None:
    if found != wanted:
        raise PublishFailed(f"{reference} reads back as {found or 'missing'}, not {wanted}: stopped there")


# -- the history of a tag ------------------------------------------------------------------------


@dataclass(frozen=True)
class Release:
    """One immutable tag of a rolling tag's history, the digest it names and that digest's signed note."""

    tag: str
    digest: str
    note: dict[str, Any] | None  # None: no note verifies with the key (published before notes, or not by us)


def history(repository: str, rolling: str, oras: Oras, cosign: Cosign) -> list[Release]:
    """Every immutable dated tag of `rolling` in `repository`, newest first, with the note each digest carries."""
    from factory import attestations as attesting

    found = [(when, tag) for tag in oras.tags(repository) if (when := dated(rolling, tag)) is not None]
    releases = []
    for _, tag in sorted(found, reverse=True):
        digest = oras.resolve(f"{repository}:{tag}")
        if digest is None:
            continue
        releases.append(Release(tag, digest, cosign.predicate(f"{repository}@{digest}", attesting.REASONS)))
    return releases


def lock(path: Path, say: Callable[[str], None], wait_s: float = LOCK_WAIT_S) -> AbstractContextManager[None]:
    """One publisher at a time per state directory; a second one waits, then gives up clearly."""
    return locks.exclusive(
        path,
        wait_s,
        f"another `factory publish` holds {path}: waiting for it",
        f"another `factory publish` holds {path} (waited {wait_s:.0f} s): try again when it ends",
        say,
    )


def destination(to: str, namespace: str) -> tuple[str, str]:
    """`--to REGISTRY[/NAMESPACE]` as (registry, namespace); without a namespace, the publish one."""
    registry, _, path = to.strip("/").partition("/")
    if not registry or not re.fullmatch(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?|\[[0-9a-fA-F:]+\](:[0-9]{1,5})?", registry):
        raise UsageProblem(f"--to {to!r}: expected REGISTRY[/NAMESPACE], e.g. registry.example:5000/base")
    if path and not re.fullmatch(r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*", path):
        raise UsageProblem(f"--to {to!r}: {path!r} is not a repository namespace (lower case, digits, . _ - /)")
    return registry, path or namespace


def publication(
    outcome: Outcome, at: str, before: records.Publication | None = None, note: Path | None = None
) -> records.Publication:
    """The record's publication of a target; a republished digest keeps its copies and its note."""
    same = before is not None and before.digest == outcome.digest
    keep_note = before.note if same and before is not None else None
    return records.Publication(
        repository=outcome.repository,
        digest=outcome.digest,
        tags=outcome.tags,
        immutable_tag=outcome.immutable,
        signature=f"{outcome.repository}:{outcome.digest.replace(':', '-')}.sig",
        writes=outcome.writes,
        at=at,
        copies=list(before.copies) if same and before is not None else [],
        note=str(note) if note is not None and note.name == "note.json" else keep_note,
    )
