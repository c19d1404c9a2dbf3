"""The rebuild plan's decisions: reasons with evidence, children of a rebuilt parent, waves, outputs."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import pytest

from factory import plan
from factory.errors import EnvironmentProblem, UsageProblem
from factory.project import Project
from tests.conftest import REPO

NOW = dt.datetime(2026, 12, 7, 6, tzinfo=dt.UTC)
CATALOGUE = Project(REPO).load()
KEY = "sha256:" + "1" * 64
OS_DIGEST = "sha256:" + "0" * 64


def _today(target_id: str, key: str = KEY, parent_digest: str | None = OS_DIGEST) -> plan.Today:
    target = CATALOGUE.target(target_id)
    parent = CATALOGUE.parent(target)
    sources = ("stacks/python.yaml", "templates/stack.Dockerfile.j2")
    return plan.Today(target, key, parent.id if parent else None, parent_digest if parent else None, sources)


def _published(
    digest: str = OS_DIGEST, *, key: str = KEY, base: str | None = OS_DIGEST, days: int = 3
) -> plan.Published:
    created = NOW - dt.timedelta(days=days)
    return plan.Published("r/x:1", digest, key, base, "abc123", created, ("linux/amd64", "linux/arm64"))


CHAIN = ("os:trixie", "python:3.13-runtime", "python:3.13-build")


def _decide(
    published: dict[str, plan.Published | None], today: Sequence[plan.Today] | None = None, **kw: Any
) -> plan.Plan:
    today = today or [_today("os:trixie"), _today("python:3.13-runtime", parent_digest=OS_DIGEST),
                      _today("python:3.13-build", parent_digest="sha256:" + "r" * 64)]  # fmt: skip
    return plan.decide(today, published, now=NOW, **kw)


def _all_published() -> dict[str, plan.Published | None]:
    return {
        "os:trixie": _published(OS_DIGEST, base=None),
        "python:3.13-runtime": _published("sha256:" + "r" * 64),
        "python:3.13-build": _published("sha256:" + "b" * 64, base="sha256:" + "r" * 64),
    }


def test_nothing_changed_is_an_empty_plan_with_each_last_build_date() -> None:
    result = _decide(_all_published())
    assert result.rebuild == []
    assert [(e.target, e.last_built) for e in result.unchanged] == [(t, "2026-12-04") for t in CHAIN]
    assert result.matrix() == {"empty": True, "waves": []}


def test_a_changed_definition_names_the_file_and_its_children_follow_in_later_waves() -> None:
    changed = [_today("os:trixie", key="sha256:" + "9" * 64), _today("python:3.13-runtime"),
               _today("python:3.13-build", parent_digest="sha256:" + "r" * 64)]  # fmt: skip
    seen: list[tuple[str, tuple[str, ...]]] = []

    def git(revision: str, files: Sequence[str]) -> list[str]:
        seen.append((revision, tuple(files)))
        return ["stacks/python.yaml", "templates/stack.Dockerfile.j2"]

    result = _decide(_all_published(), changed, changed_sources=git)
    assert [(e.target, e.wave) for e in result.rebuild] == [
        ("os:trixie", 0),
        ("python:3.13-runtime", 1),
        ("python:3.13-build", 2),
    ]
    assert [r.line() for r in result.rebuild[0].reasons] == [
        "definition changed: stacks/python.yaml",
        "template changed: templates/stack.Dockerfile.j2",
    ]
    assert seen == [("abc123", ("stacks/python.yaml", "templates/stack.Dockerfile.j2"))]
    assert [r.line() for r in result.rebuild[1].reasons] == ["parent rebuilt: os:trixie"]
    matrix = result.matrix()
    assert [len(w["include"]) for w in matrix["waves"]] == [2, 2, 2]
    assert matrix["waves"][0]["include"][1] == {
        "target": "os:trixie",
        "platform": "linux/arm64",
        "runner": "ubuntu-24.04-arm",
        "base": None,
        "base_ref": None,
    }
    # a child whose parent is rebuilt in an earlier wave builds FROM that one, not a published digest
    assert matrix["waves"][1]["include"][0]["base"] == "os:trixie"
    assert matrix["waves"][1]["include"][0]["base_ref"] is None
    # a child alone is built FROM its parent as published
    alone = _decide(_all_published(), [_today("os:trixie"), _today("python:3.13-runtime", key="sha256:" + "8" * 64)])
    (job,) = [j for j in alone.matrix()["waves"][0]["include"] if j["platform"] == "linux/amd64"]
    assert (job["target"], job["base"], job["base_ref"]) == ("python:3.13-runtime", "os:trixie", "r/x@" + OS_DIGEST)


def test_without_the_commit_the_key_itself_is_the_evidence() -> None:
    changed = [_today("os:trixie", key="sha256:" + "9" * 64)]
    result = _decide({"os:trixie": _published(base=None)}, changed)
    (entry,) = result.rebuild
    assert [r.line() for r in entry.reasons] == [
        "rendered files changed: build key sha256:111111111111 -> sha256:999999999999"
    ]


def test_never_published_base_moved_platforms_and_age() -> None:
    published = _all_published()
    published["os:trixie"] = None
    published["python:3.13-runtime"] = _published("sha256:" + "r" * 64, base="sha256:" + "e" * 64, days=45)
    published["python:3.13-build"] = plan.Published(
        "r:1", "sha256:" + "b" * 64, KEY, "sha256:" + "r" * 64, "abc123", NOW, ("linux/amd64",)
    )
    result = _decide(published)
    lines = {e.target: [r.line() for r in e.reasons] for e in result.rebuild}
    assert lines["os:trixie"] == ["never published: no final tag yet"]
    assert lines["python:3.13-runtime"] == [
        "parent rebuilt: os:trixie",
        "older than the maximum age: built 2026-10-23, 45 days ago",
    ]
    assert lines["python:3.13-build"] == [
        "platforms changed: linux/amd64 -> linux/amd64, linux/arm64",
        "parent rebuilt: python:3.13-runtime",
    ]


def test_a_parent_republished_since_the_child_was_built_moves_its_base() -> None:
    published = _all_published()
    published["python:3.13-runtime"] = _published("sha256:" + "r" * 64, base="sha256:" + "e" * 64)
    result = _decide(published)
    runtime, child = result.rebuild
    assert runtime.target == "python:3.13-runtime"
    assert [r.line() for r in runtime.reasons] == ["base digest changed: sha256:eeeeeeeeeeee -> sha256:000000000000"]
    assert (child.target, [r.line() for r in child.reasons]) == (
        "python:3.13-build",
        ["parent rebuilt: python:3.13-runtime"],
    )


def test_the_json_document_and_a_filter() -> None:
    published = _all_published()
    published["python:3.13-build"] = None
    result = _decide(published)
    document = json.loads(json.dumps(result.to_json()))
    assert [e["target"] for e in document["rebuild"]] == ["python:3.13-build"]
    assert document["rebuild"][0]["reasons"] == [
        {"reason": "never published", "evidence": "no final tag yet", "triggers": True}
    ]
    assert [e["target"] for e in document["unchanged"]] == ["os:trixie", "python:3.13-runtime"]
    assert [e.target for e in result.only(["python"], CATALOGUE).unchanged] == ["python:3.13-runtime"]
    with pytest.raises(UsageProblem, match="unknown target or stack ruby"):
        result.only(["ruby"], CATALOGUE)


class FakeRegistry:
    host = "127.0.0.1:5000"

    def __init__(self, documents: dict[str, Any]) -> None:
        self.documents = documents

    def get_manifest(self, repo: str, reference: str) -> tuple[str, str, dict[str, Any]]:
        if reference not in self.documents:
            raise FileNotFoundError(reference)
        return (
            "application/vnd.oci.image.index.v1+json",
            reference if reference.startswith("sha256") else "sha256:" + "i" * 64,
            self.documents[reference],
        )

    def blob_json(self, repo: str, digest: str) -> dict[str, Any]:
        return self.documents[digest]

    def tags(self, repo: str) -> list[str]:
        return [t for t in self.documents if not t.startswith("sha256:")]

    def digest_of(self, repo: str, reference: str) -> str | None:
        return self.documents.get("@" + reference)


def test_what_is_published_is_read_from_the_index_and_the_labels() -> None:
    labels = {
        "io.factory.build-key": KEY,
        "org.opencontainers.image.base.digest": OS_DIGEST,
        "org.opencontainers.image.revision": "abc123",
        "org.opencontainers.image.created": "2026-12-01T10:00:00Z",
    }
    amd, arm = "sha256:" + "a" * 64, "sha256:" + "c" * 64
    registry = FakeRegistry({
        "3.13": {"manifests": [
            {"digest": amd, "platform": {"os": "linux", "architecture": "amd64"}},
            {"digest": arm, "platform": {"os": "linux", "architecture": "arm64"}},
            {"digest": "sha256:" + "d" * 64, "platform": {"os": "unknown", "architecture": "unknown"}},
        ]},
        amd: {"config": {"digest": "sha256:cfg"}, "layers": []},
        "sha256:cfg": {"config": {"Labels": labels}},
    })  # fmt: skip
    image = plan.read_published(registry, "base/python", "3.13")  # type: ignore[arg-type]
    assert image is not None
    assert (image.build_key, image.base_digest, image.revision) == (KEY, OS_DIGEST, "abc123")
    # no dated tag: the created label (the commit's date) is all there is
    assert image.created == dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC)
    # the newest dated tag that names this digest says when it was published
    index = "sha256:" + "i" * 64
    registry.documents.update(
        {"3.13-20261205": {}, "@3.13-20261205": index, "3.13-20261206": {}, "@3.13-20261206": "x"}
    )
    image = plan.read_published(registry, "base/python", "3.13")  # type: ignore[arg-type]
    assert image is not None and image.created == dt.datetime(2026, 12, 5, tzinfo=dt.UTC)
    assert image.manifests == {"linux/amd64": amd, "linux/arm64": arm}
    assert plan.read_published(registry, "base/python", "3.12") is None  # type: ignore[arg-type]
    single = FakeRegistry({"1": {"config": {}, "layers": []}})
    with pytest.raises(EnvironmentProblem, match="is not a multi-platform index"):
        plan.read_published(single, "base/x", "1")  # type: ignore[arg-type]


def test_the_plan_command_refuses_an_unreachable_registry(make_project: Any) -> None:
    """Never 'rebuild everything', never 'nothing to do': the registry that cannot be read is exit 5."""
    from click.testing import CliRunner

    from factory.cli import main

    root = make_project(files={"factory.yaml": "publish: {registry: '127.0.0.1:9'}\n"})
    runner = CliRunner()
    assert runner.invoke(main, ["--root", str(root), "render", "--no-lint"]).exit_code == 0
    result = runner.invoke(main, ["--root", str(root), "plan", "--output", "json"])
    assert result.exit_code == 5, result.output
    assert "registry 127.0.0.1:9 unreachable" in json.loads(result.stdout)["message"]


def test_the_archive_and_a_rescan_say_what_a_rebuild_would_fix() -> None:
    installed = {"openssl": "3.5.1-1", "zlib1g": "1:1.3", "tzdata": "2025a-1"}
    archive = {"openssl": "3.5.1-1+deb13u1", "zlib1g": "1:1.3", "tzdata": "2026a-0+deb13u1"}
    findings = [
        plan.Fixable("CVE-2026-1", "HIGH", "openssl", "3.5.1-1", "3.5.1-1+deb13u1"),
        plan.Fixable("CVE-2026-2", "LOW", "zlib1g", "1:1.3", "1:1.3-2"),  # the archive has no fix yet
    ]
    reasons = plan.package_reasons(installed, archive, findings)
    assert [(r.line(), r.triggers) for r in reasons] == [
        ("vulnerability fixed upstream: CVE-2026-1 (HIGH) in openssl 3.5.1-1, fixed in 3.5.1-1+deb13u1", True),
        ("vulnerability fixed upstream: CVE-2026-2 (LOW) in zlib1g: fixed in 1:1.3-2, not in the archive yet", False),
        (
            "package updates available: security (openssl): openssl 3.5.1-1 -> 3.5.1-1+deb13u1,"
            " tzdata 2025a-1 -> 2026a-0+deb13u1",
            True,
        ),
    ]
    # updates that fix nothing are noted and wait for the maximum age
    (quiet,) = plan.package_reasons(installed, {"tzdata": "2026a-0+deb13u1"}, [])
    assert (quiet.kind, quiet.triggers) == (plan.Kind.PACKAGES, False)
    result = _decide(_all_published(), extra={"os:trixie": [quiet]})
    assert result.rebuild == [] and result.unchanged[0].reasons == [quiet]


def test_a_job_of_a_later_wave_builds_from_the_parent_it_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from factory import build as building
    from factory.cli import main
    from factory.oci import PlatformImage, RegistryClient

    amd = "sha256:" + "a" * 64
    monkeypatch.setattr(
        RegistryClient, "platforms", lambda self, path, digest: [PlatformImage("linux/amd64", amd, 100, 3)]
    )
    pinned = "127.0.0.1:5000/factory-staging/os@" + OS_DIGEST
    (base,) = building.given_bases(CATALOGUE, {"os:trixie": pinned}).values()
    assert (base.status, base.base_pin, base.images["linux/amd64"].digest) == ("built", pinned, amd)
    with pytest.raises(UsageProblem, match="no such target"):
        building.given_bases(CATALOGUE, {"ruby:1": pinned})
    with pytest.raises(UsageProblem, match="expected REGISTRY/REPOSITORY@sha256:DIGEST"):
        building.given_bases(CATALOGUE, {"os:trixie": "os@" + OS_DIGEST})
    result = CliRunner().invoke(main, ["--root", str(REPO), "build", "go:static", "--base", "os:trixie", "-o", "json"])
    assert result.exit_code == 2 and "expected ID=REPOSITORY@sha256:DIGEST" in json.loads(result.stdout)["message"]


def test_a_published_sbom_comes_from_the_cache_or_its_attestation_before_the_registry(tmp_path: Any) -> None:
    made: list[str] = []

    class Scanner:
        def sbom_path(self, digest: str) -> Any:
            return tmp_path / "sbom" / f"{digest}.cdx.json"

        def sbom(self, pinned: str, digest: str, platform: str) -> Any:
            path = self.sbom_path(digest)
            if not path.is_file():
                made.append(pinned)  # trivy would read the image's layers from the registry here
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text('{"components": []}')
            return path

    document = {"bomFormat": "CycloneDX", "components": [{"name": "zlib1g", "version": "1", "purl": "pkg:deb/x"}]}
    first = plan._published_sbom(Scanner(), lambda pinned: document, "r/x@d1", "d1", "linux/amd64")  # type: ignore[arg-type]
    assert json.loads(first.read_text()) == document and made == []
    plan._published_sbom(Scanner(), lambda pinned: None, "r/x@d2", "d2", "linux/amd64")  # type: ignore[arg-type]
    assert made == ["r/x@d2"]  # no key or no attestation: made from the registry
    pointer = {"bomFormat": "CycloneDX", "externalReferences": [{"type": "bom"}]}  # a large SBOM's pointer
    plan._published_sbom(Scanner(), lambda pinned: pointer, "r/x@d3", "d3", "linux/amd64")  # type: ignore[arg-type]
    assert made == ["r/x@d2", "r/x@d3"]
