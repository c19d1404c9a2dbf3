"""The run report from a record, and the main job's composition: it reports whatever stage stops it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from factory import notes, pipeline, report
from factory import record as records
from factory.cli import main
from tests.test_publish import target

OS_DIGEST = "sha256:" + "9" * 64


def _record(tmp_path: Path) -> records.BuildRecord:
    record = records.BuildRecord("run1", "2026-12-02T10:00:00Z", "127.0.0.1:5000", "abc123", 0, "0.1", "2026-12-02T11Z")
    os_base = records.TargetResult(
        "os:trixie", "os", "trixie", "base", "rendered/os/trixie/Dockerfile", "0" * 64,
        ["linux/amd64", "linux/arm64"], ["os:trixie"], status=records.Status.BUILT, digest=OS_DIGEST,
        images={"linux/amd64": records.PlatformResult(OS_DIGEST, 30_000_000, 1),
                "linux/arm64": records.PlatformResult(OS_DIGEST, 31_000_000, 1)},
    )  # fmt: skip
    published = target()
    published.base_id = "os:trixie"
    published.images["linux/amd64"].compressed_size = 80_000_000
    scan = tmp_path / "scan.json"
    counts = {"HIGH": {"fixable/own": 1, "unfixed/base": 2}, "LOW": {"unfixed/base": 4}}
    scan.write_text(json.dumps({"images": [{"target": published.id, "platform": "linux/amd64", "counts": counts}]}))
    for platform in published.platforms:
        published.verdicts["scan"][platform].report = str(scan)
    published.published = records.Publication(
        "127.0.0.1:5000/base/python", published.digest or "", ["3.13", "3"], "3.13-20261202",
        "127.0.0.1:5000/base/python:sha256-aaa.sig", ["copy"], "2026-12-02T12:00:00Z",
    )  # fmt: skip
    note = notes.Note(published.id, published.digest or "", None, [{"reason": "requested", "evidence": ""}])
    note.platforms["linux/amd64"] = notes.platform_note(None, {}, None, None, None, 80_000_000)
    (tmp_path / "note.json").write_text(json.dumps(note.to_json()))
    published.published.note = str(tmp_path / "note.json")
    unscanned = target(verify={"linux/amd64": True, "linux/arm64": True})
    unscanned.id = "python:3.13-build"
    record.targets += [os_base, published, unscanned]
    return record


def test_the_report_has_tags_digests_sizes_against_the_os_findings_and_why_not(tmp_path: Path) -> None:
    doc = report.document(_record(tmp_path))
    assert doc["summary"] == {"images": 3, "published": 1, "not_published": 2}
    by_id = {i["target"]: i for i in doc["images"]}
    python = by_id["python:3.13-runtime"]
    assert python["published"]["references"] == [
        "127.0.0.1:5000/base/python:3.13-20261202",
        "127.0.0.1:5000/base/python:3.13",
        "127.0.0.1:5000/base/python:3",
    ]
    amd64 = python["platforms"]["linux/amd64"]
    assert (amd64["compressed_size"], amd64["os_base_size"], amd64["over_os_base"]) == (
        80_000_000,
        30_000_000,
        50_000_000,
    )
    assert amd64["findings"] == {"CRITICAL": 0, "HIGH": 3, "MEDIUM": 0, "LOW": 4, "UNKNOWN": 0}
    assert amd64["sbom"] == {"attestation": "127.0.0.1:5000/base/python@sha256:" + "1" * 64, "type": "cyclonedx"}
    assert python["platforms"]["linux/arm64"]["findings"] is None  # no entry in the scan report
    assert by_id["python:3.13-build"]["not_published"] == "not scanned on linux/amd64, linux/arm64"
    assert by_id["os:trixie"]["platforms"]["linux/amd64"]["over_os_base"] is None
    assert by_id["os:trixie"]["not_published"] == "not verified on linux/amd64, linux/arm64"

    text = report.markdown(doc)
    assert (
        "| python:3.13-runtime | linux/amd64 | `sha256:111111111111` | 80.0 MB | 50.0 MB | ok | ok | 0/3/0/4 |" in text
    )
    assert "- **python:3.13-build**: not scanned on linux/amd64, linux/arm64" in text
    assert "`127.0.0.1:5000/base/python:3.13-20261202`" in text
    assert python["note"]["reasons"] == [{"reason": "requested", "evidence": ""}]
    assert "## Why rebuilt\n\n### python:3.13-runtime `sha256:aaaaaaaaaaaa`" in text
    assert "#### linux/amd64\n\n- size 80.0 MB" in text


def test_the_main_job_reports_when_the_gate_stops_it(
    make_project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stages faked at the seams (no engine): verify passes, the gate fails; the job ends 9 with a report."""
    root = make_project()
    runner = CliRunner()
    assert runner.invoke(main, ["--root", str(root), "render", "--no-lint"]).exit_code == 0
    calls: list[str] = []

    def build(workspace: pipeline.Workspace, board: Any, **_: Any) -> records.BuildRecord:
        calls.append("build")
        record = records.BuildRecord("run9", "t", "r", "v", 0, "0.1", finished="t")
        record.targets.append(target(verify={"linux/amd64": True, "linux/arm64": True}))
        records.write(record, workspace.builds / "run9")
        return record

    def verify(workspace: pipeline.Workspace, path: Path, board: Any) -> Any:
        calls.append("verify")
        return type("V", (), {"passed": True, "results": [], "report": path})()

    def scan(workspace: pipeline.Workspace, path: Path, board: Any) -> Any:
        calls.append("scan")
        record = records.read(path)
        failing = records.Verdict(False, "1 failing: CVE-2099-1 glibc", "t")
        record.targets[0].verdicts["scan"] = {"linux/amd64": failing, "linux/arm64": records.Verdict(True, "ok", "t")}
        records.write(record, path.parent)
        failed = type("S", (), {"target": record.targets[0].id, "passed": False})()
        return type("G", (), {"passed": False, "scans": [failed], "reports": {"markdown": path}})()

    def publish(*_: Any, **__: Any) -> Any:
        calls.append("publish")
        raise AssertionError("an image that failed the gate is never published")

    lint_clean = type("L", (), {"failed": lambda self, threshold: False, "findings": []})()
    monkeypatch.setattr(pipeline, "lint", lambda *a, **k: lint_clean)
    monkeypatch.setattr("factory.present.lint", lambda *a, **k: None)
    for name, fake in {"build": build, "verify": verify, "scan": scan, "publish": publish}.items():
        monkeypatch.setattr(pipeline, name, fake)
    result = runner.invoke(main, ["--root", str(root), "run", "--output", "json"])
    assert result.exit_code == 9, result.output
    assert calls == ["build", "verify", "scan"]
    assert json.loads(result.stdout)["message"].startswith("the security gate failed for python:3.13-runtime")
    written = json.loads((root / ".factory" / "builds" / "run9" / "report.json").read_text())
    (image,) = written["images"]
    assert image["not_published"] == "scan failed on linux/amd64: 1 failing: CVE-2099-1 glibc"
    assert "report: " in result.stderr


def test_the_main_job_with_an_empty_plan_builds_and_pushes_nothing(
    make_project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from factory import plan

    root = make_project()
    runner = CliRunner()
    assert runner.invoke(main, ["--root", str(root), "render", "--no-lint"]).exit_code == 0
    unchanged = plan.Entry("tool:1.0-runtime", ["linux/amd64"], last_built="2026-12-01")
    empty = plan.Plan([], [unchanged], "2026-12-07")
    lint_clean = type("L", (), {"failed": lambda self, threshold: False, "findings": []})()
    monkeypatch.setattr(pipeline, "lint", lambda *a, **k: lint_clean)
    monkeypatch.setattr("factory.present.lint", lambda *a, **k: None)
    monkeypatch.setattr(pipeline, "plan", lambda *a, **k: empty)

    def build(*_: Any, **__: Any) -> Any:
        raise AssertionError("an empty plan builds nothing")

    monkeypatch.setattr(pipeline, "build", build)
    result = runner.invoke(main, ["--root", str(root), "run", "--plan"])
    assert result.exit_code == 0, result.output
    assert "nothing to rebuild (2026-12-07)" in result.stdout
    assert "tool:1.0-runtime: last built 2026-12-01" in result.stdout
    assert not (root / ".factory" / "builds").exists()


def test_a_second_main_job_waits_for_the_first_then_gives_up_clearly(
    make_project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from factory import locks

    root = make_project()
    monkeypatch.setattr(pipeline, "RUN_LOCK_WAIT_S", 0.5)
    with locks.exclusive(root / ".factory" / "run.lock", 1, "", "", print):  # a first run holds the state
        result = CliRunner().invoke(main, ["--root", str(root), "run", "--output", "json"])
    assert result.exit_code == 5, result.output
    assert json.loads(result.stdout)["message"].endswith("run.lock: gave up waiting")
    assert "waiting for it" in result.stderr
