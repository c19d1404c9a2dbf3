"""End to end on the real engine: the whole catalogue, both platforms, run and checked.

Bootstraps the OS base for linux/amd64 and linux/arm64 (arm64 through qemu),
builds every stack target for both, pushes them to the local registry, then
runs each image on each platform: the architecture inside matches, the user is
the numeric non-root account, PID 1 is tini, a command given in place of CMD
runs, and the stack's verify commands pass. With a warm cache this takes a minute; cold it takes most of an hour
(emulated arm64 dominates: see bench/build_bench.py).
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from factory import record as records
from factory.cli import main
from factory.project import Project
from factory.publish import find_tool
from tests.conftest import REPO
from tests.support.trivydb import Advisory, write_db

pytestmark = pytest.mark.engine


def test_whole_catalogue_builds_and_verifies_on_both_platforms() -> None:
    runner = CliRunner()
    built = runner.invoke(main, ["--root", str(REPO), "build", "--output", "json"])
    assert built.exit_code == 0, built.output[-3000:]
    record = json.loads(built.stdout)
    catalogue = Project(REPO).load()
    expected = {catalogue.os.id, *(t.id for t in catalogue.targets)}
    assert {t["id"] for t in record["targets"]} == expected
    for target in record["targets"]:
        assert target["status"] == "built", target
        assert set(target["images"]) == set(target["platforms"]) == {"linux/amd64", "linux/arm64"}
        assert target["digest"].startswith("sha256:")
        assert target["reference"].startswith("127.0.0.1:5000/factory-staging/")
    # each image names its real parent (not the placeholder) in its labels, and the factory's build key
    by_id = {t["id"]: t for t in record["targets"]}
    child = by_id["python:3.13-build"]
    parent = by_id[child["base_id"]]
    argv = [find_tool("oras"), "manifest", "fetch-config", "--plain-http"]
    config = subprocess.run(
        [*argv, f"{child['reference'].rsplit(':', 1)[0]}@{child['images']['linux/arm64']['digest']}"],
        capture_output=True,
        text=True,
        check=True,
    )
    labels = json.loads(config.stdout)["config"]["Labels"]
    assert labels["org.opencontainers.image.base.name"] == parent["reference"].rsplit(":", 1)[0]
    assert labels["org.opencontainers.image.base.digest"] == parent["digest"]
    assert labels["io.factory.build-key"] == child["build_key"]
    assert labels["org.opencontainers.image.version"] == "3.13"

    verified = runner.invoke(main, ["--root", str(REPO), "verify", "--output", "json"])
    assert verified.exit_code == 0, verified.output[-3000:]
    results = json.loads(verified.stdout)
    assert {(r["target"], r["platform"]) for r in results} == {
        (t, p) for t in expected for p in ("linux/amd64", "linux/arm64")
    }
    for result in results:
        names = [c["name"] for c in result["checks"]]
        assert names[:3] == ["architecture", "non-root user", "tini is PID 1"], result
        assert "CMD can be overridden" in names, result
        assert len(names) > 3, f"{result['target']} has no verify command"
        assert result["passed"], result
    latest = records.read(REPO / ".factory" / "builds" / "latest.json")
    for result in results:  # the record keeps every check by name
        verdict = latest.result(result["target"]).verdicts["verify"][result["platform"]]
        assert verdict.checks == {c["name"]: c["passed"] for c in result["checks"]}, result["target"]


def test_whole_catalogue_is_scanned_against_a_planted_db(tmp_path: Path) -> None:
    """Every image of the build above on both platforms: the planted glibc advisory fails every image built on
    the OS (glibc comes with its layers); go:static holds no OS packages and passes."""
    latest = REPO / ".factory" / "builds" / "latest.json"
    now = dt.datetime.now(dt.UTC)
    advisory = Advisory("CVE-2099-3001", "debian 13", "glibc", "9:99-planted", "HIGH", "planted in every OS image")
    write_db(tmp_path / "db", [advisory], next_update=now + dt.timedelta(days=365), updated_at=now)
    project = tmp_path / "project"
    for part in ("stacks", "templates", "rendered"):
        shutil.copytree(REPO / part, project / part)
    (project / "factory.yaml").write_text(f"scan:\n  db: {{cache_dir: {tmp_path / 'db'}}}\n")
    result = CliRunner().invoke(main, ["--root", str(project), "scan", "--record", str(latest), "-o", "json"])
    assert result.exit_code == 9, result.output[-3000:]
    report = json.loads(result.stdout)
    catalogue = Project(REPO).load()
    assert {(i["target"], i["platform"]) for i in report["images"]} == {
        (t.id, p) for t in catalogue.targets for p in ("linux/amd64", "linux/arm64")
    }
    for image in report["images"]:
        failing = {(f["id"], f["package"], f["origin"]) for f in image["violations"]}
        if image["target"] == "go:static":
            assert image["passed"] and not image["findings"], image["target"]
        elif image["target"] == catalogue.os.id:
            assert ("CVE-2099-3001", "libc6", "own") in failing
        else:  # from the OS layers, unless apt upgraded libc6 in the image's own (a point release since)
            assert failing & {("CVE-2099-3001", "libc6", "base"), ("CVE-2099-3001", "libc6", "own")}, image["target"]


def test_the_main_job_publishes_the_catalogue_and_then_plans_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`factory run` on the catalogue as a new user runs it (no signing key yet: it makes one under ~/.config),
    with a planted empty DB: every image built (from the cache of the build above), verified, scanned, signed,
    attested and published, then a report; every signature and SBOM checks with cosign, and the next
    `run --plan` finds nothing to rebuild."""
    now = dt.datetime.now(dt.UTC)
    write_db(tmp_path / "db", [], next_update=now + dt.timedelta(days=365), updated_at=now)
    project = tmp_path / "project"
    for part in ("stacks", "templates", "rendered"):
        shutil.copytree(REPO / part, project / part)
    namespace = f"factory-test-run-{secrets.token_hex(3)}"
    (project / "factory.yaml").write_text(
        f"scan:\n  db: {{cache_dir: {tmp_path / 'db'}}}\npublish:\n  namespace: {namespace}\n"
    )
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # the embedded default key goes under ~/.config
    # The commit and its date of the repository, as CI names them: the labels and so the digests of the build
    # above, whose SBOMs the gate has cached.
    commit, epoch = subprocess.run(
        ["git", "-C", str(REPO), "log", "-1", "--format=%H %ct"], capture_output=True, text=True, check=True
    ).stdout.split()
    monkeypatch.setenv("FACTORY_VCS_REF", commit)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)
    result = CliRunner().invoke(main, ["--root", str(project), "run", "--output", "json"])
    assert result.exit_code == 0, result.output[-4000:]
    assert "no signing key yet: generated" in result.stderr
    report = json.loads(result.stdout)
    catalogue = Project(REPO).load()
    assert report["summary"] == {
        "images": len(catalogue.targets),
        "published": len(catalogue.targets),
        "not_published": 0,
    }
    public = str(tmp_path / "home" / ".config" / "factory" / "cosign.pub")
    cosign = [find_tool("cosign"), "verify-attestation", "--key", public, "--insecure-ignore-tlog", "--type"]
    for image in report["images"]:
        published = image["published"]
        assert published["repository"] == f"127.0.0.1:5000/{namespace}/{image['target'].split(':')[0]}"
        verify = [find_tool("cosign"), "verify", "--key", public, "--insecure-ignore-tlog", published["references"][-1]]
        signed = subprocess.run(verify, capture_output=True, text=True, check=False)
        assert signed.returncode == 0, (image["target"], signed.stderr[-1000:])
        for platform, entry in image["platforms"].items():
            sbom = subprocess.run([*cosign, "cyclonedx", entry["sbom"]["attestation"]], capture_output=True, text=True)
            assert sbom.returncode == 0, (image["target"], platform, sbom.stderr[-1000:])
            assert entry["verify"]["passed"] and entry["scan"]["passed"]
    assert (project / ".factory" / "builds" / report["run"] / "report.md").is_file()

    again = CliRunner().invoke(main, ["--root", str(project), "run", "--plan", "--output", "json"])
    assert again.exit_code == 0, again.output[-4000:]
    planned = json.loads(again.stdout)
    assert planned["rebuild"] == [], planned["rebuild"][:2]
    assert {e["target"] for e in planned["unchanged"]} == {t.id for t in catalogue.targets}
