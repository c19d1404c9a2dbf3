"""End to end on the real engine: the whole catalogue, both platforms, run and checked.

Bootstraps the OS base for linux/amd64 and linux/arm64 (arm64 through qemu),
builds every stack target for both, pushes them to the local registry, then
runs each image on each platform: the architecture inside matches, the user is
the numeric non-root account, PID 1 is tini, and the stack's verify commands
pass. With a warm cache this takes a minute; cold it takes most of an hour
(emulated arm64 dominates: see bench/build_bench.py).
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from factory.cli import main
from factory.project import Project
from tests.conftest import REPO

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

    verified = runner.invoke(main, ["--root", str(REPO), "verify", "--output", "json"])
    assert verified.exit_code == 0, verified.output[-3000:]
    results = json.loads(verified.stdout)
    assert {(r["target"], r["platform"]) for r in results} == {
        (t, p) for t in expected for p in ("linux/amd64", "linux/arm64")
    }
    for result in results:
        names = [c["name"] for c in result["checks"]]
        assert names[:3] == ["architecture", "non-root user", "tini is PID 1"], result
        assert len(names) > 3, f"{result['target']} has no verify command"
        assert result["passed"], result
