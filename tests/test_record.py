from __future__ import annotations

import json
from pathlib import Path

import pytest

from factory import record
from factory.errors import EnvironmentProblem


def test_roundtrip_and_latest(tmp_path: Path) -> None:
    rec = record.BuildRecord("R1", "2026-01-01T00:00:00Z", "127.0.0.1:5000", "abc", 86400, "0.1.0")
    target = record.TargetResult(
        "python:3.13-runtime",
        "python",
        "3.13",
        "runtime",
        "rendered/x/Dockerfile",
        "f" * 64,
        ["linux/amd64"],
        ["python:3.13"],
        status="built",
        reference="r/python:t",
        digest="sha256:" + "1" * 64,
    )
    target.images["linux/amd64"] = record.PlatformResult("sha256:" + "2" * 64, 1234, 3)
    rec.targets.append(target)
    path = record.write(rec, tmp_path / "builds" / "R1")
    assert json.loads((tmp_path / "builds" / "latest.json").read_text()) == json.loads(path.read_text())
    again = record.read(path)
    assert again == rec
    assert again.result("python:3.13-runtime").pinned == "r/python:t@sha256:" + "1" * 64
    assert again.failed == []
    assert sorted(p.name for p in (tmp_path / "builds" / "R1").iterdir()) == ["record.json"]


def _with_verdicts(**verdicts: record.Verdict) -> record.BuildRecord:
    rec = record.BuildRecord("R2", "2026-01-01T00:00:00Z", "127.0.0.1:5000", "abc", 0, "0.1.0")
    target = record.TargetResult("os:trixie", "os", None, "runtime", "Dockerfile", "f" * 64, ["linux/amd64"], [])
    target.verdicts = {stage: {"linux/amd64": verdict} for stage, verdict in verdicts.items()}
    rec.targets.append(target)
    return rec


def test_scan_verdicts_name_the_sbom_and_verify_verdicts_their_checks(tmp_path: Path) -> None:
    rec = _with_verdicts(
        scan=record.Verdict(False, "1 failing", "t", "scan.json", sbom="/c/sbom/sha256-1.cdx.json"),
        verify=record.Verdict(True, "2 checks passed", "t", "verify.json", checks={"architecture": True, "LANG": True}),
    )
    path = record.write(rec, tmp_path / "R2")
    assert json.loads(path.read_text())["schema"] == record.SCHEMA_VERSION == 4
    again = record.read(path).result("os:trixie").verdicts
    assert again["scan"]["linux/amd64"].sbom == "/c/sbom/sha256-1.cdx.json"
    assert again["verify"]["linux/amd64"].checks == {"architecture": True, "LANG": True}


def test_a_schema_3_record_without_sbom_or_checks_is_still_read(tmp_path: Path) -> None:
    old = _with_verdicts(scan=record.Verdict(True, "passed", "t", "scan.json")).to_json()
    old["schema"] = 3
    for verdicts in old["targets"][0]["verdicts"].values():
        for verdict in verdicts.values():
            del verdict["sbom"], verdict["checks"]
    (tmp_path / "record.json").write_text(json.dumps(old))
    verdict = record.read(tmp_path / "record.json").result("os:trixie").verdicts["scan"]["linux/amd64"]
    assert (verdict.sbom, verdict.checks, verdict.report) == (None, None, "scan.json")


def test_checks_are_read_strictly(tmp_path: Path) -> None:
    data = _with_verdicts(verify=record.Verdict(True, "ok", "t")).to_json()
    data["targets"][0]["verdicts"]["verify"]["linux/amd64"]["checks"] = {"architecture": "yes"}
    (tmp_path / "record.json").write_text(json.dumps(data))
    with pytest.raises(EnvironmentProblem, match=r"verdicts\.verify\.linux/amd64\.checks\.architecture: expected"):
        record.read(tmp_path / "record.json")


def _target(reference: str | None) -> record.TargetResult:
    return record.TargetResult(
        "t:1-runtime", "t", "1", "runtime", "d", "0" * 64, ["linux/amd64"], [], reference=reference
    )


def test_the_repository_is_the_reference_without_tag_or_digest_and_keeps_the_registry_port() -> None:
    assert _target("127.0.0.1:5000/factory-staging/python:3.13-R").repository == "127.0.0.1:5000/factory-staging/python"
    assert _target("127.0.0.1:5000/factory-staging/python").repository == "127.0.0.1:5000/factory-staging/python"
    pinned = "127.0.0.1:5000/factory-staging/python:3.13-R@sha256:" + "1" * 64
    assert _target(pinned).repository == "127.0.0.1:5000/factory-staging/python"
    assert _target(None).repository is None


def _written(tmp_path: Path, change: dict[str, object], target_change: dict[str, object] | None = None) -> Path:
    rec = record.BuildRecord("R1", "2026-01-01T00:00:00Z", "127.0.0.1:5000", "abc", 86400, "0.1.0")
    rec.targets.append(_target("127.0.0.1:5000/factory-staging/t:1-runtime-R1"))
    data = {**rec.to_json(), **change}
    data["targets"] = [{**data["targets"][0], **(target_change or {})}]  # type: ignore[index]
    path = tmp_path / "record.json"
    path.write_text(json.dumps(data))
    return path


def test_a_record_of_a_newer_factory_is_refused_with_upgrade_the_factory(tmp_path: Path) -> None:
    path = _written(tmp_path, {"schema": record.SCHEMA_VERSION + 1})
    with pytest.raises(EnvironmentProblem) as caught:
        record.read(path)
    assert caught.value.show() == (
        f"{path}: not a build record this factory can read: written by a newer factory (record schema"
        f" {record.SCHEMA_VERSION + 1}; this factory reads up to {record.SCHEMA_VERSION}): upgrade the factory"
    )


def test_an_older_record_is_read(tmp_path: Path) -> None:
    assert record.read(_written(tmp_path, {"schema": 1})).schema == record.SCHEMA_VERSION


def test_a_status_that_is_no_status_is_rejected_naming_the_field_and_the_allowed_values(tmp_path: Path) -> None:
    path = _written(tmp_path, {}, {"status": "done"})
    with pytest.raises(EnvironmentProblem) as caught:
        record.read(path)
    assert caught.value.show() == (
        f"{path}: not a build record this factory can read: targets[0].status: expected one of"
        ' pending, building, built, failed, skipped, got "done"'
    )


def test_statuses_are_read_as_the_enum(tmp_path: Path) -> None:
    read = record.read(_written(tmp_path, {}, {"status": "built"}))
    assert read.targets[0].status is record.Status.BUILT
