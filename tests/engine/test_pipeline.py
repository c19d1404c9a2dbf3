"""End to end on the real engine: the main job over the whole catalogue, both platforms, as a new user runs it.

`factory run` in a copy of the repository (a git repository of its own, so
the plan can name changed files): the OS base bootstrapped for linux/amd64
and linux/arm64 (arm64 through qemu), every image built for both and pushed
to the local registry, run and checked on each platform (the architecture
inside, the numeric non-root account, tini as PID 1, a command in place of
CMD, the stack's verify commands), scanned against a planted empty DB,
signed, attested and published under a namespace of its own, then a report.
No signing key is configured: the job makes one under ~/.config (HOME is
the test's). With a warm cache this takes minutes; cold most of an hour
(emulated arm64 dominates: see bench/cold_bench.py).
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from factory import record as records
from factory.cli import main
from factory.project import Project
from factory.publish import find_tool
from tests.conftest import REPO
from tests.support.trivydb import Advisory, write_db

pytestmark = pytest.mark.engine

CATALOGUE = Project(REPO).load()
GIT = ["git", "-c", "user.name=factory tests", "-c", "user.email=tests@factory.invalid", "-c", "commit.gpgsign=false"]


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any], str]]:
    """The main job, run once: (project, its report, the publish namespace)."""
    base = tmp_path_factory.mktemp("main-job")
    now = dt.datetime.now(dt.UTC)
    write_db(base / "db", [], next_update=now + dt.timedelta(days=365), updated_at=now)
    project = base / "project"
    for part in ("stacks", "templates", "rendered"):
        shutil.copytree(REPO / part, project / part)
    namespace = f"factory-test-run-{secrets.token_hex(3)}"
    (project / "factory.yaml").write_text(
        f"scan:\n  db: {{cache_dir: {base / 'db'}}}\npublish:\n  namespace: {namespace}\n"
    )
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    subprocess.run([*GIT, "-C", str(project), "add", "-A"], check=True)
    subprocess.run([*GIT, "-C", str(project), "commit", "-q", "-m", "the catalogue"], check=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(base / "home"))  # the embedded default key goes under ~/.config
        result = CliRunner().invoke(main, ["--root", str(project), "run", "--output", "json"])
        assert result.exit_code == 0, result.output[-4000:]
        assert "no signing key yet: generated" in result.stderr
        yield project, json.loads(result.stdout), namespace


def _record(project: Path) -> records.BuildRecord:
    return records.read(project / ".factory" / "builds" / "latest.json")


def test_the_whole_catalogue_is_built_and_verified_on_both_platforms(job: tuple[Path, dict[str, Any], str]) -> None:
    project, _, _ = job
    record = _record(project)
    assert {t.id for t in record.targets} == {t.id for t in CATALOGUE.targets}
    for target in record.targets:
        assert target.status == records.Status.BUILT, target.id
        assert set(target.images) == set(target.platforms) == {"linux/amd64", "linux/arm64"}
        assert target.reference is not None and target.reference.startswith("127.0.0.1:5000/factory-staging/")
    # each image names its real parent (not the placeholder) in its labels, and the factory's build key
    child = record.result("python:3.13-build")
    parent = record.result(child.base_id or "")
    argv = [find_tool("oras"), "manifest", "fetch-config", "--plain-http"]
    config = subprocess.run(
        [*argv, f"{child.repository}@{child.images['linux/arm64'].digest}"], capture_output=True, text=True, check=True
    )
    labels = json.loads(config.stdout)["config"]["Labels"]
    assert labels["org.opencontainers.image.base.name"] == parent.repository
    assert labels["org.opencontainers.image.base.digest"] == parent.digest
    assert labels["io.factory.build-key"] == child.build_key
    assert labels["org.opencontainers.image.version"] == "3.13"
    assert labels["org.opencontainers.image.revision"] == record.vcs_ref != "unknown"
    # ... and in the annotations of its index and manifests, which tools read without fetching the config
    fetch = [find_tool("oras"), "manifest", "fetch", "--plain-http"]
    for pinned in (f"{child.repository}@{child.digest}", f"{child.repository}@{child.images['linux/amd64'].digest}"):
        manifest = json.loads(subprocess.run([*fetch, pinned], capture_output=True, text=True, check=True).stdout)
        annotations = manifest.get("annotations") or {}
        assert annotations.get("io.factory.build-key") == child.build_key, (pinned, annotations)
        assert annotations.get("org.opencontainers.image.base.digest") == parent.digest
        assert annotations.get("org.opencontainers.image.revision") == record.vcs_ref
    # every image ran on both platforms, with every check kept by name in the record
    for target in record.targets:
        for platform in target.platforms:
            verdict = target.verdicts["verify"][platform]
            assert verdict.passed, (target.id, platform, verdict.summary)
            names = set(verdict.checks or {})  # the record keeps them by name (sorted)
            assert {"architecture", "non-root user", "tini is PID 1", "CMD can be overridden"} <= names, target.id
            assert any(name.startswith("verify: ") for name in names), f"{target.id} has no verify command"


def test_every_image_is_published_signed_and_its_sboms_attested(job: tuple[Path, dict[str, Any], str]) -> None:
    project, report, namespace = job
    count = len(CATALOGUE.targets)
    assert report["summary"] == {"images": count, "published": count, "not_published": 0}
    public = str(project.parent / "home" / ".config" / "factory" / "cosign.pub")
    cosign = [find_tool("cosign"), "verify-attestation", "--key", public, "--insecure-ignore-tlog", "--type"]
    for image in report["images"]:
        published = image["published"]
        assert published["repository"] == f"127.0.0.1:5000/{namespace}/{image['target'].split(':')[0]}"
        verify = [find_tool("cosign"), "verify", "--key", public, "--insecure-ignore-tlog", published["references"][-1]]
        signed = subprocess.run(verify, capture_output=True, text=True, check=False)
        assert signed.returncode == 0, (image["target"], signed.stderr[-1000:])
        for platform, entry in image["platforms"].items():
            argv = [*cosign, "cyclonedx", entry["sbom"]["attestation"]]
            sbom = subprocess.run(argv, capture_output=True, text=True, check=False)
            assert sbom.returncode == 0, (image["target"], platform, sbom.stderr[-1000:])
            assert entry["verify"]["passed"] and entry["scan"]["passed"]
            if image["target"] != CATALOGUE.os.id:
                assert entry["over_os_base"] is not None, (image["target"], platform)
        assert image["note"]["previous"] is None  # the tag's first image
    text = (project / ".factory" / "builds" / report["run"] / "report.md").read_text()
    assert f"{count} images, {count} published, 0 not published" in text


def test_the_catalogue_fails_the_gate_on_a_planted_advisory(
    job: tuple[Path, dict[str, Any], str], tmp_path: Path
) -> None:
    """Every image of the run on both platforms: the planted glibc advisory fails every image built on the OS
    (glibc comes with its layers); go:static holds no OS packages and passes. The SBOMs are the run's, cached."""
    project, _, _ = job
    now = dt.datetime.now(dt.UTC)
    advisory = Advisory("CVE-2099-3001", "debian 13", "glibc", "9:99-planted", "HIGH", "planted in every OS image")
    write_db(tmp_path / "db", [advisory], next_update=now + dt.timedelta(days=365), updated_at=now)
    other = tmp_path / "project"
    for part in ("stacks", "templates", "rendered"):
        shutil.copytree(REPO / part, other / part)
    (other / "factory.yaml").write_text(f"scan:\n  db: {{cache_dir: {tmp_path / 'db'}}}\n")
    latest = project / ".factory" / "builds" / "latest.json"
    result = CliRunner().invoke(main, ["--root", str(other), "scan", "--record", str(latest), "-o", "json"])
    assert result.exit_code == 9, result.output[-3000:]
    report = json.loads(result.stdout)
    assert {(i["target"], i["platform"]) for i in report["images"]} == {
        (t.id, p) for t in CATALOGUE.targets for p in ("linux/amd64", "linux/arm64")
    }
    for image in report["images"]:
        failing = {(f["id"], f["package"], f["origin"]) for f in image["violations"]}
        if image["target"] == "go:static":
            assert image["passed"] and not image["findings"], image["target"]
        elif image["target"] == CATALOGUE.os.id:
            assert ("CVE-2099-3001", "libc6", "own") in failing
        else:  # from the OS layers, unless apt upgraded libc6 in the image's own (a point release since)
            assert failing & {("CVE-2099-3001", "libc6", "base"), ("CVE-2099-3001", "libc6", "own")}, image["target"]


def test_the_next_run_plans_nothing_and_a_definition_change_rebuilds_its_images(
    job: tuple[Path, dict[str, Any], str],
) -> None:
    project, _, _ = job
    runner = CliRunner()
    again = runner.invoke(main, ["--root", str(project), "run", "--plan", "--output", "json"])
    assert again.exit_code == 0, again.output[-4000:]
    planned = json.loads(again.stdout)
    assert planned["rebuild"] == [], planned["rebuild"][:2]
    assert {e["target"] for e in planned["unchanged"]} == {t.id for t in CATALOGUE.targets}

    go = project / "stacks" / "go.yaml"
    go.write_text(go.read_text().replace("    description: ", "    description: Changed. "))  # every go variant
    assert runner.invoke(main, ["--root", str(project), "render", "--no-lint"]).exit_code == 0
    result = runner.invoke(main, ["--root", str(project), "plan", "--output", "json"])
    assert result.exit_code == 0, result.output[-3000:]
    rebuild = {e["target"]: e for e in json.loads(result.stdout)["rebuild"]}
    go_targets = {t.id for t in CATALOGUE.targets if t.stack == "go"}
    assert set(rebuild) == go_targets
    for target in go_targets:
        assert {"reason": "definition changed", "evidence": "stacks/go.yaml", "triggers": True} in rebuild[target][
            "reasons"
        ], rebuild[target]
