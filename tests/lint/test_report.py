"""Reports (text, JSON, SARIF 2.1.0), the failure threshold, and finding files to lint."""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path

import pytest

from factory.lint import lint_paths, report, rules, runner
from factory.lint.model import Finding, Severity, Suppressed
from tests.lint.conftest import HEAD_LINES, POLICY, write

TINI = ["USER 10001:10001", 'ENTRYPOINT ["/usr/bin/tini", "--"]']
ERROR = Finding("a/Dockerfile", 1, "FB001", Severity.ERROR, "base image debian floats", "factory")
WARNING = Finding("a/Dockerfile", 3, "DL3008", Severity.WARNING, "Pin versions", "hadolint")
INFO = Finding("b/Dockerfile", 2, "DS-0026", Severity.INFO, "Add HEALTHCHECK", "trivy")
STYLE = Finding("b/Dockerfile", 5, "SC2250", Severity.STYLE, "Prefer braces", "shellcheck")
HIDDEN = Suppressed(
    Finding("b/Dockerfile", 4, "FB070", Severity.WARNING, "recommends", "factory"), "why", "b/Dockerfile:3", True
)
REPORT = runner.Report(
    files=("a/Dockerfile", "b/Dockerfile"),
    findings=(ERROR, WARNING, INFO, STYLE),
    suppressed=(HIDDEN,),
    sources=("factory", "hadolint", "shellcheck", "trivy"),
)


@pytest.mark.parametrize(
    ("findings", "threshold", "fails"),
    [
        ((INFO, STYLE), Severity.WARNING, False),
        ((INFO, STYLE), Severity.INFO, True),
        ((STYLE,), Severity.INFO, False),
        ((STYLE,), Severity.STYLE, True),
        ((WARNING,), Severity.ERROR, False),
        ((WARNING,), Severity.WARNING, True),
        ((ERROR,), Severity.ERROR, True),
        ((), Severity.STYLE, False),
    ],
)
def test_failure_threshold(findings: tuple[Finding, ...], threshold: Severity, fails: bool) -> None:
    assert runner.Report(files=(), findings=findings).failed(threshold) is fails


def test_severity_order_and_parsing() -> None:
    assert Severity.ERROR > Severity.WARNING > Severity.INFO > Severity.STYLE
    assert Severity.parse("Warning") is Severity.WARNING
    with pytest.raises(ValueError, match="expected one of: error, warning, info, style"):
        Severity.parse("fatal")


def test_text_lines() -> None:
    assert report.text(REPORT).splitlines() == [
        "a/Dockerfile:1 FB001 error: base image debian floats",
        "a/Dockerfile:3 DL3008 warning: Pin versions",
        "b/Dockerfile:2 DS-0026 info: Add HEALTHCHECK",
        "b/Dockerfile:5 SC2250 style: Prefer braces",
    ]
    assert report.summary(REPORT, Severity.WARNING) == (
        "fail: 2 at or above warning (2 files, 1 error, 1 warning, 1 info, 1 style, 1 ignored;"
        " checked by factory, hadolint, shellcheck, trivy)"
    )


def test_json_shape() -> None:
    data = json.loads(report.json_text(REPORT, Severity.ERROR))
    assert data["ok"] is False and data["failure_threshold"] == "error"
    assert data["counts"] == {"error": 1, "warning": 1, "info": 1, "style": 1, "suppressed": 1}
    assert data["findings"][0] == {
        "file": "a/Dockerfile",
        "line": 1,
        "code": "FB001",
        "severity": "error",
        "message": "base image debian floats",
        "source": "factory",
    }
    assert data["suppressed"][0]["reason"] == "why" and data["suppressed"][0]["ignored_at"] == "b/Dockerfile:3"


def test_sarif_structure() -> None:
    log = json.loads(report.sarif_text(REPORT))
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-schema-2.1.0.json")
    assert [run["tool"]["driver"]["name"] for run in log["runs"]] == ["factory", "hadolint", "shellcheck", "trivy"]
    own = log["runs"][0]
    assert {r["id"] for r in own["tool"]["driver"]["rules"]} >= {r.code for r in rules.CATALOGUE} | {"FB900", "FB100"}
    for run in log["runs"]:
        driver_rules = run["tool"]["driver"]["rules"]
        for rule in driver_rules:
            assert rule["shortDescription"]["text"]
            assert rule["defaultConfiguration"]["level"] in ("error", "warning", "note", "none")
        for result in run["results"]:
            assert driver_rules[result["ruleIndex"]]["id"] == result["ruleId"]
            assert result["level"] in ("error", "warning", "note", "none")
            assert result["message"]["text"]
            (location,) = result["locations"]
            assert location["physicalLocation"]["artifactLocation"]["uri"].endswith("Dockerfile")
            assert location["physicalLocation"]["region"]["startLine"] >= 1
    levels = [(r["ruleId"], r["level"]) for run in log["runs"] for r in run["results"]]
    assert levels == [
        ("FB001", "error"),
        ("FB070", "warning"),
        ("DL3008", "warning"),
        ("SC2250", "note"),
        ("DS-0026", "note"),
    ]
    suppressed = [r for r in own["results"] if "suppressions" in r]
    assert suppressed[0]["suppressions"][0]["kind"] == "inSource"
    assert suppressed[0]["suppressions"][0]["justification"] == "why"


def test_expand_finds_dockerfiles_in_directories(tmp_path: Path) -> None:
    for relative in ("a/Dockerfile", "b/c/Containerfile", "d/app.Dockerfile", "d/README.md"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("FROM scratch\n")
    found = [p.relative_to(tmp_path).as_posix() for p in runner.expand([tmp_path, tmp_path / "a" / "Dockerfile"])]
    assert found == ["a/Dockerfile", "b/c/Containerfile", "d/app.Dockerfile"]


def test_lint_paths_names_files_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "svc", [*HEAD_LINES, "RUN apt-get install -y curl", *TINI])
    monkeypatch.chdir(tmp_path)
    result = lint_paths([Path("svc")], policy=POLICY, tools_selected=(), today=datetime.date(2026, 1, 1))
    assert result.files == ("svc/Dockerfile",)
    assert [str(f) for f in result.findings] == [
        "svc/Dockerfile:3 FB070 warning: apt-get install without --no-install-recommends installs packages nobody"
        " asked for"
    ]
    assert result.sources == ("factory",)
    assert os.path.isabs(runner.display_name(Path("/")))
