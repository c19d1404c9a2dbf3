"""The security gate on real images in the local registry, with a planted vulnerability DB.

A copy of the real catalogue (same registry namespaces, so the build cache of
the catalogue's own builds is shared) builds the OS base, python:3.13-runtime
for both platforms and a `leaky` image with a planted secret; trivy makes the
SBOMs from the registry and scans them against a DB written by
tests/support/trivydb.py, served once from a cache dir and once as an OCI
artifact from the local registry (`scan.db.repository`).
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from factory import record
from factory.cli import main
from tests.conftest import REPO
from tests.support.trivydb import Advisory, push_db_artifact, write_db

pytestmark = pytest.mark.engine

NOW = dt.datetime.now(dt.UTC)
LEAKY = """description: an image with a planted secret (a test of the gate)
variants:
  runtime:
    run: |
      mkdir -p /home/app/.config
      printf 'token = ghp_4Zx8KqL2mN7pR9sT1vW3yB5dF6hJ0kQ2aC8e\\n' > /home/app/.config/hub
    verify: ["true"]
versions:
  - version: "1"
    tags: ["1"]
    platforms: [linux/amd64]
"""


def _advisories(python_version: str) -> list[Advisory]:
    return [
        # glibc comes with the OS layers: origin base; python3.13 with the image's own: origin own
        Advisory("CVE-2099-2001", "debian 13", "glibc", "9:99-planted", "HIGH", "planted glibc, fixed"),
        Advisory("CVE-2099-2002", "debian 13", "python3.13", f"{python_version}+planted1", "HIGH", "planted python"),
        Advisory("CVE-2099-2003", "debian 13", "apt", None, "CRITICAL", "planted apt, unfixed"),
        Advisory("CVE-2099-2004", "debian 13", "tzdata", "9999a-0", "LOW", "planted tzdata, below the gate"),
        Advisory("CVE-2099-2005", "debian 13", "ca-certificates", "99999999", "HIGH", "suppressed, future expiry"),
        Advisory("CVE-2099-2006", "debian 13", "base-files", "99.9", "CRITICAL", "suppressed once, expired"),
    ]


ACCEPTED_UNTIL = NOW.date() + dt.timedelta(days=60)
EXPIRED_ON = NOW.date() - dt.timedelta(days=3)
EXCEPTIONS = f"""exceptions:
  - id: CVE-2099-2005
    packages: [pkg:deb/debian/ca-certificates]
    kind: accepted_risk
    statement: reviewed for the test
    owner: platform@example.invalid
    expires: {ACCEPTED_UNTIL.isoformat()}
  - id: CVE-2099-2006
    packages: [pkg:deb/debian/base-files]
    kind: waiting_for_upstream
    statement: expired on purpose
    owner: platform@example.invalid
    expires: {EXPIRED_ON.isoformat()}
"""  # the second entry starts on line 8: the expiry warning names it there


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gate") / "project"
    for part in ("stacks", "templates", "rendered"):
        shutil.copytree(REPO / part, root / part)
    (root / "stacks" / "leaky.yaml").write_text(LEAKY)
    (root / "security").mkdir()
    (root / "security" / "exceptions.yaml").write_text(EXCEPTIONS)
    runner = CliRunner()
    rendered = runner.invoke(main, ["--root", str(root), "render", "--no-lint"])
    assert rendered.exit_code == 0, rendered.output
    result = runner.invoke(main, ["--root", str(root), "build", "python:3.13-runtime", "leaky"])
    assert result.exit_code == 0, result.output[-3000:]
    return root


def _scan(root: Path, db: str, cache_dir: Path | None = None) -> tuple[int, dict[str, object], str]:
    """`factory scan` of the built project; `cache_dir` (the factory's, where a downloaded DB goes) fresh when given."""
    cache = f"cache_dir: {cache_dir}\n" if cache_dir else ""
    (root / "factory.yaml").write_text(f"{cache}scan:\n  db: {db}\n")
    runner = CliRunner()
    result = runner.invoke(main, ["--root", str(root), "scan", "--output", "json"])
    assert "Traceback" not in result.output
    return result.exit_code, json.loads(result.stdout), result.stderr


def _python_version(root: Path, cache: Path) -> str:
    """The python3.13 version the image really has, from the SBOM the scan made (a scan with an empty DB)."""
    write_db(cache, [], next_update=NOW + dt.timedelta(days=365), updated_at=NOW)
    code, report, _ = _scan(root, f"{{cache_dir: {cache}}}")
    assert code == 9  # the planted secret alone fails the gate
    python = next(i for i in report["images"] if i["target"] == "python:3.13-runtime")  # type: ignore[index, union-attr]
    components = json.loads(Path(python["sbom"]).read_text())["components"]
    return next(c["version"] for c in components if c["name"] == "python3.13")


def test_the_gate_on_real_images(built: Path, tmp_path: Path) -> None:
    version = _python_version(built, tmp_path / "empty-db")
    cache = tmp_path / "db"
    write_db(cache, _advisories(version), next_update=NOW + dt.timedelta(days=365), updated_at=NOW)
    code, report, stderr = _scan(built, f"{{cache_dir: {cache}}}")
    assert code == 9, stderr
    images = {(i["target"], i["platform"]): i for i in report["images"]}  # type: ignore[union-attr, index]
    assert set(images) == {
        ("os:trixie", "linux/amd64"), ("os:trixie", "linux/arm64"),
        ("python:3.13-runtime", "linux/amd64"), ("python:3.13-runtime", "linux/arm64"),
        ("leaky:1-runtime", "linux/amd64"),
    }  # fmt: skip
    for platform in ("linux/amd64", "linux/arm64"):
        python = images[("python:3.13-runtime", platform)]
        found = {(f["id"], f["package"]): f for f in python["findings"]}
        own = found[("CVE-2099-2002", "python3.13")]
        assert (own["fixed"], own["origin"], own["suppressed"]) == (f"{version}+planted1", "own", None)
        libc = found[("CVE-2099-2001", "libc6")]
        os_libc = next(
            f for i in report["images"] if i["target"] == "os:trixie" and i["platform"] == platform  # type: ignore[union-attr, index]
            for f in i["findings"] if f["package"] == "libc6"
        )  # fmt: skip
        if libc["installed"] == os_libc["installed"]:  # not upgraded by the image's own apt run: the OS layer's
            assert (libc["origin"], libc["remedy"]) == ("base", "rebuild on a newer os:trixie")
        suppressed = found[("CVE-2099-2005", "ca-certificates")]
        assert (suppressed["suppressed"], suppressed["expires"]) == ("ignored", ACCEPTED_UNTIL.isoformat())
        assert found[("CVE-2099-2006", "base-files")]["suppressed"] is None  # expired: counts again
        failing_ids = {(f["id"], f["package"]) for f in python["violations"]}
        assert ("CVE-2099-2002", "python3.13") in failing_ids and ("CVE-2099-2001", "libc6") in failing_ids
        # LOW: found (the planted fix is newer than any tzdata), reported, and below the gate
        tzdata = found[("CVE-2099-2004", "tzdata")]
        assert (tzdata["severity"], tzdata["fixed"], tzdata["suppressed"]) == ("LOW", "9999a-0", None)
        assert ("CVE-2099-2004", "tzdata") not in failing_ids
        assert not any("CVE-2099-2004" in line for line in python["failing"] + python["warnings"])
        # the expired exception's finding fails the gate (CRITICAL, fixed) and the warning names the exception
        base_files = found[("CVE-2099-2006", "base-files")]
        assert ("CVE-2099-2006", "base-files") in failing_ids
        assert (
            f"CVE-2099-2006 base-files {base_files['installed']} (CRITICAL, fixed in 99.9): {base_files['remedy']}"
            in python["failing"]
        )
        assert (
            "CVE-2099-2006 counts again: its exception (security/exceptions.yaml:8) expired on"
            f" {EXPIRED_ON.isoformat()}" in python["warnings"]
        )
        assert any(w.startswith("CVE-2099-2003 apt") and "no fix yet" in w for w in python["warnings"])
        assert python["passed"] is False
    leaky = images[("leaky:1-runtime", "linux/amd64")]
    # the file, and the RUN line that wrote it, which the image's history keeps
    assert [(s["rule"], s["file"]) for s in leaky["secrets"]] == [
        ("github-pat", "/home/app/.config/hub"), ("github-pat", "(image config and history)"),
    ]  # fmt: skip
    assert any("secret github-pat" in line for line in leaky["failing"])
    assert report["exceptions"] == {"CVE-2099-2005": "applied", "CVE-2099-2006": "expired"}
    assert report["db"]["updated_at"].startswith(NOW.strftime("%Y-%m-%dT%H:%M:%S"))  # type: ignore[index]
    rec = record.read(built / ".factory" / "builds" / "latest.json")
    verdict = rec.result("python:3.13-runtime").verdicts["scan"]["linux/arm64"]
    assert not verdict.passed and verdict.report and Path(verdict.report).name == "scan.json"
    assert verdict.sbom == images[("python:3.13-runtime", "linux/arm64")]["sbom"]
    status = CliRunner().invoke(main, ["--root", str(built), "status", "-o", "json"])
    rows = {(r["target"], r["platform"]): r for r in json.loads(status.stdout)["images"]}
    assert rows[("os:trixie", "linux/amd64")]["scan"]["passed"] is False


def test_the_db_from_the_local_registry(built: Path, tmp_path: Path) -> None:
    cache = tmp_path / "db"
    write_db(cache, _advisories("0"), next_update=NOW + dt.timedelta(days=365), updated_at=NOW)
    repository = f"factory-test-trivy-db-{secrets.token_hex(3)}"
    push_db_artifact("127.0.0.1:5000", repository, "2", cache)
    # an empty cache: trivy keeps a DB it already has until its NextUpdate, so a shared cache would not download
    code, report, stderr = _scan(built, f"{{repository: '127.0.0.1:5000/{repository}:2'}}", tmp_path / "cache")
    assert code == 9, stderr
    os_amd64 = next(i for i in report["images"] if i["target"] == "os:trixie" and i["platform"] == "linux/amd64")  # type: ignore[index, union-attr]
    assert ("CVE-2099-2001", "libc6") in {(f["id"], f["package"]) for f in os_amd64["violations"]}
    assert report["db"]["updated_at"].startswith(NOW.strftime("%Y-%m-%dT%H:%M:%S"))  # type: ignore[index]
