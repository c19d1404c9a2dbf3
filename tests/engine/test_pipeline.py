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
