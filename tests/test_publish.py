"""Publish's decisions and the order of its writes, against an in-memory registry (the real one: tests/engine)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from factory import model, publish
from factory import record as records
from factory.attestations import Attestation
from factory.errors import EnvironmentProblem, UsageProblem

TODAY = dt.date(2026, 12, 2)
A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64
REPO = "127.0.0.1:5000/base/python"


class Registry:
    """Tags and digests of one repository, and every write in order; `fail_on` makes one write fail."""

    def __init__(self, tags: dict[str, str] | None = None, fail_on: str | None = None) -> None:
        self.tags_ = dict(tags or {})
        self.digests: set[str] = set(self.tags_.values())
        self.signed: set[str] = set()
        self.attested: set[tuple[str, str]] = set()
        self.attached: dict[str, str] = {}  # referrer digest -> the manifest it is attached to
        self.writes: list[str] = []
        self.fail_on = fail_on

    def _write(self, what: str) -> None:
        if self.fail_on is not None and what.startswith(self.fail_on):
            raise EnvironmentProblem(f"registry gone during {what}")
        self.writes.append(what)

    # Oras
    def resolve(self, reference: str) -> str | None:
        if "@" in reference:
            digest = reference.split("@")[1]
            return digest if digest in self.digests else None
        return self.tags_.get(reference.rpartition(":")[2])

    def tags(self, repository: str) -> list[str]:
        return sorted(self.tags_)

    def copy(self, source: str, destination: str) -> None:
        self._write("copy")
        self.digests.add(destination.split("@")[1])

    def attach(self, pinned: str, document: Path, artifact_type: str) -> str:
        self._write(f"attach {pinned.split('@')[1][:9]}")
        digest = "sha256:" + "f" * 64
        self.attached[digest] = pinned
        return digest

    def tag(self, pinned: str, tag: str) -> None:
        self._write(f"tag {tag}")
        self.tags_[tag] = pinned.split("@")[1]

    # Cosign
    def sign(self, pinned: str) -> None:
        self._write("sign")
        self.signed.add(pinned)

    def verified(self, pinned: str) -> bool:
        return pinned in self.signed

    def attest(self, pinned: str, kind: str, predicate: Path) -> None:
        self._write(f"attest {kind} {pinned.split('@')[1][:9]}")
        self.attested.add((pinned, kind))

    def attested_(self, pinned: str, kind: str) -> bool:
        return (pinned, kind) in self.attested


class FakeCosign:
    def __init__(self, registry: Registry) -> None:
        self.r = registry

    def sign(self, pinned: str) -> None:
        self.r.sign(pinned)

    def verified(self, pinned: str) -> bool:
        return self.r.verified(pinned)

    def attest(self, pinned: str, kind: str, predicate: Path) -> None:
        self.r.attest(pinned, kind, predicate)

    def attested(self, pinned: str, kind: str) -> bool:
        return self.r.attested_(pinned, kind)


SBOMS = [
    Attestation("cyclonedx", "linux/amd64", Path("a.json")),
    Attestation("cyclonedx", "linux/arm64", Path("b.json")),
]


def target(digest: str = A, **verdicts: dict[str, bool]) -> records.TargetResult:
    result = records.TargetResult(
        id="python:3.13-runtime",
        stack="python",
        version="3.13",
        variant="runtime",
        dockerfile="rendered/python/3.13/runtime/Dockerfile",
        dockerfile_sha256="0" * 64,
        platforms=["linux/amd64", "linux/arm64"],
        tags=["python:3.13", "python:3"],
        status=records.Status.BUILT,
        reference="127.0.0.1:5000/factory-staging/python:3.13-run1",
        digest=digest,
        images={
            "linux/amd64": records.PlatformResult("sha256:" + "1" * 64, 10, 3),
            "linux/arm64": records.PlatformResult("sha256:" + "2" * 64, 10, 3),
        },
    )
    stages = verdicts or {
        "verify": {"linux/amd64": True, "linux/arm64": True},
        "scan": {"linux/amd64": True, "linux/arm64": True},
    }
    for stage, by_platform in stages.items():
        result.verdicts[stage] = {
            p: records.Verdict(ok, "ok" if ok else "2 failing: CVE-1", "t") for p, ok in by_platform.items()
        }
    return result


def test_only_what_passed_every_stage_on_every_platform_is_published() -> None:
    assert publish.refusal(target()) is None
    half = target(verify={"linux/amd64": True, "linux/arm64": True}, scan={"linux/amd64": True})
    assert publish.refusal(half) == "not scanned on linux/arm64"
    failed = target(verify={"linux/amd64": True, "linux/arm64": False}, scan={"linux/amd64": True, "linux/arm64": True})
    assert publish.refusal(failed) == "verify failed on linux/arm64: 2 failing: CVE-1"
    broken = target()
    broken.status, broken.reason = records.Status.FAILED, "buildx exited 1\nmore"
    assert publish.refusal(broken) == "build failed: buildx exited 1"


def test_the_immutable_tag_is_dated_and_never_reused_for_another_digest() -> None:
    assert publish.immutable_tag("3.13", A, {}, TODAY) == ("3.13-20261202", False)
    taken = {"3.13-20261202": B, "3.13-20261202.1": B, "3.13": B}
    assert publish.immutable_tag("3.13", A, taken, TODAY) == ("3.13-20261202.2", False)
    # the digest already has a dated tag (from any day): it is reused, nothing new
    assert publish.immutable_tag("3.13", A, {"3.13-20261130": A, "3.13-20261202": B}, TODAY) == ("3.13-20261130", True)
    # another tag family that happens to start alike is not this one
    assert publish.immutable_tag("3", A, {"3-13-x": A}, TODAY) == ("3-20261202", False)


def test_the_dated_tag_of_the_longest_tag_validation_allows_stays_within_128() -> None:
    primary = "t" * model.MAX_PUBLISHED_TAG
    taken = {f"{primary}-20261202"} | {f"{primary}-20261202.{n}" for n in range(1, 999)}
    tag, _ = publish.immutable_tag(primary, A, dict.fromkeys(taken), TODAY)
    assert tag.endswith(".999") and len(tag) == model.MAX_TAG
    with pytest.raises(publish.PublishFailed, match="no room for another"):
        publish.immutable_tag(primary, A, dict.fromkeys({*taken, tag}), TODAY)


def test_the_staging_tag_of_the_longest_parts_validation_allows_stays_within_128() -> None:
    from factory.build import _slug
    from factory.schema import PLATFORMS

    run_id = dt.datetime(2026, 12, 7, 9, 35, 8).strftime(model.RUN_ID_FORMAT) + "4bd6"
    assert len(run_id) == model.RUN_ID_LENGTH
    assert max(len(f"-{_slug(p)}") for p in (*PLATFORMS, "local")) == model.PLATFORM_SUFFIX_LENGTH
    longest = f"{'v' * model.MAX_STAGING_TAG}-{run_id}-{_slug('linux/riscv64')}"
    assert len(longest) == model.MAX_TAG


def test_first_publish_signs_and_attests_before_any_tag_then_immutable_then_rolling() -> None:
    registry = Registry()
    attestations = [*SBOMS, Attestation("slsaprovenance1", None, Path("p.json"))]
    item = publish.plan(target(), REPO, registry, attestations, TODAY)  # type: ignore[arg-type]
    assert [(m.tag, m.current, m.immutable) for m in item.moves] == [
        ("3.13-20261202", None, True),
        ("3.13", None, False),
        ("3", None, False),
    ]
    outcome = publish.execute(item, registry, FakeCosign(registry), lambda _: None)  # type: ignore[arg-type]
    assert registry.writes == [
        "copy",
        "sign",
        "attest cyclonedx sha256:11",
        "attest cyclonedx sha256:22",
        "attest slsaprovenance1 sha256:aa",
        "tag 3.13-20261202",
        "tag 3.13",
        "tag 3",
    ]
    assert outcome.writes == [
        "copy",
        "signature",
        "attest cyclonedx linux/amd64",
        "attest cyclonedx linux/arm64",
        "attest slsaprovenance1 index",
        "tag 3.13-20261202",
        "tag 3.13",
        "tag 3",
    ]
    assert registry.tags_ == {"3.13-20261202": A, "3.13": A, "3": A}


def test_the_rolling_tags_are_read_from_references_whose_registry_has_a_port() -> None:
    item = target()
    item.tags = ["127.0.0.1:5000/base/python:3.13", "localhost:5000/base/python"]
    moves = publish.plan(item, REPO, Registry(), {}, TODAY).moves  # type: ignore[arg-type]
    assert [(m.tag, m.immutable) for m in moves] == [("3.13-20261202", True), ("3.13", False), ("latest", False)]


def test_publishing_the_same_digest_again_writes_nothing() -> None:
    registry = Registry()
    sboms = SBOMS[:1]
    publish.execute(publish.plan(target(), REPO, registry, sboms, TODAY), registry, FakeCosign(registry), print)  # type: ignore[arg-type]
    registry.writes.clear()
    again = publish.plan(target(), REPO, registry, sboms, TODAY + dt.timedelta(days=1))  # type: ignore[arg-type]
    assert not any(m.changes for m in again.moves)
    assert again.immutable == "3.13-20261202"  # the digest keeps its first dated tag
    outcome = publish.execute(again, registry, FakeCosign(registry), print)  # type: ignore[arg-type]
    assert outcome.writes == [] and registry.writes == []


def test_a_fault_leaves_the_rolling_tags_on_the_previous_digest_and_a_rerun_completes() -> None:
    registry = Registry({"3.13": B, "3": B, "3.13-20261201": B}, fail_on="tag 3.13-")
    sboms = SBOMS[:1]
    item = publish.plan(target(), REPO, registry, sboms, TODAY)  # type: ignore[arg-type]
    assert [(m.tag, m.current) for m in item.moves] == [("3.13-20261202", None), ("3.13", B), ("3", B)]
    with pytest.raises(EnvironmentProblem):
        publish.execute(item, registry, FakeCosign(registry), print)  # type: ignore[arg-type]
    assert registry.tags_["3.13"] == B and registry.tags_["3"] == B  # consumers still get the old image
    assert registry.writes == ["copy", "sign", "attest cyclonedx sha256:11"]
    registry.fail_on = None
    registry.writes.clear()
    rerun = publish.plan(target(), REPO, registry, sboms, TODAY)  # type: ignore[arg-type]
    publish.execute(rerun, registry, FakeCosign(registry), print)  # type: ignore[arg-type]
    assert registry.writes == ["tag 3.13-20261202", "tag 3.13", "tag 3"]  # copy, signature, SBOM were in place
    assert registry.tags_ == {"3.13": A, "3": A, "3.13-20261201": B, "3.13-20261202": A}


def test_an_immutable_tag_taken_since_the_plan_is_an_error_not_a_move() -> None:
    registry = Registry()
    item = publish.plan(target(), REPO, registry, [], TODAY)  # type: ignore[arg-type]
    registry.tags_["3.13-20261202"] = B  # another publisher, after the plan
    with pytest.raises(publish.PublishFailed, match="is immutable and already points at"):
        publish.execute(item, registry, FakeCosign(registry), print)  # type: ignore[arg-type]
    assert registry.tags_["3.13-20261202"] == B and "3.13" not in registry.tags_


def test_a_missing_key_or_tool_is_a_clear_environment_error(tmp_path: Path) -> None:
    with pytest.raises(EnvironmentProblem, match="run `factory keys generate`") as info:
        publish.SigningKey.at(tmp_path / "cosign.key")
    assert info.value.exit_code == 5
    with pytest.raises(EnvironmentProblem, match="cosign is not installed: run `factory engine up`"):
        publish.find_tool("cosign", {"PATH": str(tmp_path), "FACTORY_PREFIX": str(tmp_path)})


def test_a_second_publisher_waits_for_the_lock_then_gives_up_clearly(tmp_path: Path) -> None:
    said: list[str] = []
    held = publish.lock(tmp_path / "publish.lock", said.append)
    second = publish.lock(tmp_path / "publish.lock", said.append, wait_s=0.5)
    with held, pytest.raises(EnvironmentProblem, match="another `factory publish` holds"), second:
        pass
    assert said == [f"another `factory publish` holds {tmp_path / 'publish.lock'}: waiting for it"]
    with publish.lock(tmp_path / "publish.lock", said.append, wait_s=0.5):  # free again
        pass


class Repositories:
    """Several repositories (in one or two registries): references resolve per repository; writes in order."""

    def __init__(self) -> None:
        self.tags: dict[tuple[str, str], str] = {}
        self.manifests: set[tuple[str, str]] = set()
        self.writes: list[str] = []

    def resolve(self, reference: str) -> str | None:
        if "@" in reference:
            repository, digest = reference.split("@")
            return digest if (repository, digest) in self.manifests else None
        repository, _, tag = reference.rpartition(":")
        return self.tags.get((repository, tag))

    def copy(self, source: str, destination: str) -> None:
        self.writes.append(f"copy {destination.rpartition('/')[2]}")
        digest = self.resolve(source)
        assert digest is not None, source
        if "@" in destination:
            self.manifests.add((destination.split("@")[0], digest))
        else:
            repository, _, tag = destination.rpartition(":")
            self.tags[(repository, tag)] = digest

    def tag(self, pinned: str, tag: str) -> None:
        self.writes.append(f"tag {tag}")
        repository, digest = pinned.split("@")
        self.tags[(repository, tag)] = digest

    # cosign: a signature verifies where its .sig tag was copied
    def verified(self, pinned: str) -> bool:
        repository, digest = pinned.split("@")
        return (repository, digest.replace(":", "-") + ".sig") in self.tags


MIRROR = "127.0.0.1:5001/base/python"
P1, P2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


def _published(repos: Repositories) -> records.Publication:
    for digest in (A, P1, P2):
        repos.manifests.add((REPO, digest))
    for tag in ("3.13-20261202", "3.13", "3"):
        repos.tags[(REPO, tag)] = A
    repos.tags[(REPO, A.replace(":", "-") + ".sig")] = "sha256:" + "5" * 64
    repos.tags[(REPO, P1.replace(":", "-") + ".att")] = "sha256:" + "6" * 64
    repos.manifests.update({(REPO, "sha256:" + "5" * 64), (REPO, "sha256:" + "6" * 64)})
    return records.Publication(REPO, A, ["3.13", "3"], "3.13-20261202", "", [], "t")


def test_a_copy_keeps_digests_brings_signatures_and_attestations_then_tags() -> None:
    repos = Repositories()
    item = publish.copy_plan("python:3.13-runtime", _published(repos), [P1, P2], MIRROR, repos)  # type: ignore[arg-type]
    assert [line.split(" (")[0] for line in item.describe()] == [
        f"{MIRROR}:3.13-20261202",
        f"{MIRROR}:3.13",
        f"{MIRROR}:3",
    ]
    writes = publish.execute_copy(item, repos, repos, lambda _: None)  # type: ignore[arg-type]
    assert repos.writes == [
        f"copy python@{P1}",
        f"copy python@{P2}",
        f"copy python@{A}",
        f"copy python:{A.replace(':', '-')}.sig",
        f"copy python:{P1.replace(':', '-')}.att",
        "tag 3.13-20261202",
        "tag 3.13",
        "tag 3",
    ]
    assert writes[-1] == "tag 3"
    assert {tag: d for (repo, tag), d in repos.tags.items() if repo == MIRROR and not tag.startswith("sha256")} == {
        "3.13-20261202": A,
        "3.13": A,
        "3": A,
    }
    repos.writes.clear()
    again = publish.copy_plan("python:3.13-runtime", _published(repos), [P1, P2], MIRROR, repos)  # type: ignore[arg-type]
    assert not any(m.changes for m in again.moves)
    assert publish.execute_copy(again, repos, repos, lambda _: None) == []  # type: ignore[arg-type]
    assert repos.writes == []


def test_a_copy_never_moves_an_immutable_tag_of_the_destination() -> None:
    repos = Repositories()
    publication = _published(repos)
    repos.tags[(MIRROR, "3.13-20261202")] = B
    with pytest.raises(publish.PublishFailed, match="is immutable and points at"):
        publish.copy_plan("python:3.13-runtime", publication, [P1], MIRROR, repos)  # type: ignore[arg-type]
    assert repos.writes == []


def test_the_copy_destination_is_a_registry_and_an_optional_namespace() -> None:
    assert publish.destination("127.0.0.1:5001", "base") == ("127.0.0.1:5001", "base")
    assert publish.destination("registry.example/mirror/base/", "base") == ("registry.example", "mirror/base")
    for bad in ("", "127.0.0.1:5001/Base", "bad host/x", "127.0.0.1:5001/../x"):
        with pytest.raises(UsageProblem):
            publish.destination(bad, "base")
