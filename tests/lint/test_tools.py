"""hadolint, shellcheck and trivy: run for real, findings mapped to Dockerfile lines and merged."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from factory import process
from factory.lint import rules, tools
from factory.lint import runner as lint_runner
from factory.lint.model import TOOLS, Finding, Severity
from factory.lint.parse import parse_text
from tests.lint.conftest import POLICY, parsed

BAD = [
    "FROM debian:latest",  # 1
    "RUN <<EOT",  # 2
    "set -eu",  # 3
    "echo $1",  # 4
    "cd /tmp",  # 5
    "EOT",  # 6
    "RUN mkdir -p /x && \\",  # 7
    "    cd /x",  # 8
]


def _codes(findings: Sequence[Finding], source: str) -> list[tuple[str, int]]:
    return sorted((f.code, f.line) for f in findings if f.source == source)


def test_shellcheck_findings_map_to_dockerfile_lines(tmp_path: Path) -> None:
    found = tools.run_shellcheck([parsed(tmp_path, BAD)])
    assert _codes(found, "shellcheck") == [("SC2086", 4), ("SC2164", 8)]
    assert {f.severity for f in found} == {Severity.INFO, Severity.WARNING}


def test_shellcheck_knows_stage_args_but_not_undeclared_names(tmp_path: Path) -> None:
    lines = ["FROM scratch", "ARG version", "RUN <<EOT", "set -eu", 'echo "$version" "$other"', "EOT"]
    found = tools.run_shellcheck([parsed(tmp_path, lines)])
    assert [(f.code, f.line, f.message.split()[0]) for f in found] == [("SC2154", 5, "other")]


def test_tools_merge_with_own_rules(tmp_path: Path) -> None:
    dockerfile = parsed(tmp_path, BAD)
    runners = tools.runners(TOOLS)
    assert list(runners) == ["hadolint", "shellcheck", "trivy"]
    findings = [*rules.check(dockerfile, POLICY), *(f for run in runners.values() for f in run([dockerfile]))]
    assert ("DL3007", 1) in _codes(findings, "hadolint")
    assert ("DL3003", 7) in _codes(findings, "hadolint")
    assert ("DS-0001", 1) in _codes(findings, "trivy")
    assert ("FB001", 1) in _codes(findings, "factory")
    assert ("SC2164", 8) in _codes(findings, "shellcheck")
    assert not [f for f in findings if f.source == "hadolint" and f.code.startswith("SC")]  # no duplicates


def test_hadolint_keeps_sc_findings_when_shellcheck_does_not_run(tmp_path: Path) -> None:
    found = tools.run_hadolint([parsed(tmp_path, BAD)], keep_shellcheck=True)
    assert any(f.code.startswith("SC") for f in found)


def test_hadolint_reads_a_heredoc_followed_directly_by_an_instruction(tmp_path: Path) -> None:
    lines = ["FROM debian:12", "RUN <<EOT", "set -eux", "echo hi", "EOT", "RUN cd /tmp && true", "USER 1"]
    found = tools.run_hadolint([parsed(tmp_path, lines)])
    assert _codes(found, "hadolint") == [("DL3003", 6)]


@pytest.mark.parametrize("runner", [tools.run_hadolint, tools.run_trivy], ids=["hadolint", "trivy"])
def test_a_file_the_tool_cannot_parse_is_an_error_finding(runner: tools.Runner) -> None:
    broken = parse_text("FROM debian:12\nFROBNICATE now\n", "broken/Dockerfile")
    found = runner([broken])
    assert [(f.file, f.code, f.severity) for f in found] == [("broken/Dockerfile", "FB101", Severity.ERROR)]
    assert "cannot parse" in found[0].message


def test_a_missing_tool_is_an_error_finding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tools, "locate", lambda name: None)
    dockerfile = parsed(tmp_path, BAD)
    for runner in (tools.run_hadolint, tools.run_shellcheck, tools.run_trivy):
        found = runner([dockerfile])
        assert [(f.code, f.line, f.severity) for f in found] == [("FB100", 1, Severity.ERROR)]
        assert "not installed" in found[0].message
        assert f"pip install {tools.PACKAGES[found[0].source]}" in found[0].message


def test_a_tool_printing_garbage_is_an_error_finding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "bin" / "fake"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'segmentation fault' >&2\nexit 139\n")
    fake.chmod(0o755)
    monkeypatch.setattr(tools, "locate", lambda name: str(fake))
    dockerfile = parsed(tmp_path / "df", BAD)
    for runner in (tools.run_hadolint, tools.run_shellcheck, tools.run_trivy):
        found = runner([dockerfile])
        assert [f.code for f in found] == ["FB102"]
        assert "exit 139: segmentation fault" in found[0].message


def test_locate_prefers_the_interpreter_directory() -> None:
    assert tools.locate("hadolint") is not None
    assert Path(tools.locate("trivy") or "").parent == Path(sys.executable).parent


def test_trivy_runs_offline_without_touching_home(tmp_path: Path) -> None:
    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("no network namespaces here (unshare -n)")
    binary = tools.locate("trivy")
    assert binary is not None
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "Dockerfile").write_text("FROM debian:latest\n")
    argv = tools.trivy_argv(binary, str(tmp_path / "in"), str(tmp_path / "cache"))
    for flag in ("--skip-check-update", "--skip-version-check", "--disable-telemetry"):
        assert flag in argv
    env = {**os.environ, "HOME": str(tmp_path / "home")}
    done = subprocess.run([unshare, "-n", *argv], capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert '"DS-0001"' in done.stdout
    assert not (tmp_path / "home").exists()


def test_a_budget_is_charged_per_file_in_equal_parts_and_spent_files_are_skipped() -> None:
    first, second = parse_text("FROM scratch\n", "a/Dockerfile"), parse_text("FROM scratch\n", "b/Dockerfile")
    budget = tools.Budget(10)
    budget.charge([first, second], 8)
    budget.charge([first], 6)
    assert (budget.left(first), budget.left(second)) == (0, 6)
    within, skipped = budget.split([first, second], "trivy")
    assert within == [second]
    assert [(f.file, f.code, f.severity, f.source, f.message) for f in skipped] == [
        (
            "a/Dockerfile",
            "FB102",
            Severity.ERROR,
            "trivy",
            "trivy was not run: the file's time budget of 10 s (hadolint, shellcheck and trivy together) is used up",
        )
    ]


def test_one_budget_per_file_across_the_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Far too little for hadolint to start: it is killed, and shellcheck and trivy find the budget spent.
    monkeypatch.setattr(tools, "BUDGET", 0.0001)
    dockerfile = parsed(tmp_path, BAD)
    report = lint_runner.lint_dockerfiles([dockerfile], policy=POLICY, tools_selected=TOOLS)
    budget = "the file's time budget of 0.0001 s (hadolint, shellcheck and trivy together)"
    assert [(f.code, f.line, f.source, f.message) for f in report.findings if f.source != "factory"] == [
        ("FB102", 1, "hadolint", f"hadolint failed: did not finish within {budget}"),
        ("FB102", 1, "shellcheck", f"shellcheck was not run: {budget} is used up"),
        ("FB102", 1, "trivy", f"trivy was not run: {budget} is used up"),
    ]


def test_a_batch_may_take_the_time_its_files_have_left(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = parsed(tmp_path / "a", BAD), parsed(tmp_path / "b", BAD)
    budget = tools.Budget(60)
    tools.run_hadolint([first], budget)  # the real hadolint: its time is charged to the first file only
    assert 0 < budget.left(first) < 60 and budget.left(second) == 60
    seen: list[tuple[list[str], float]] = []

    def fake_run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:  # checks argv only
        seen.append((argv, float(kwargs["timeout"])))  # type: ignore[arg-type]
        return subprocess.CompletedProcess(argv, 0, '{"Results": []}', "")

    monkeypatch.setattr(process.subprocess, "run", fake_run)
    left = budget.left(first) + budget.left(second)
    tools.run_trivy([first, second], budget)
    ((argv, timeout),) = seen
    assert timeout == left  # the sum of what both files had left
    assert argv[argv.index("--timeout") + 1] == f"{math.ceil(left)}s"


def test_the_tools_see_onbuild_triggers(tmp_path: Path) -> None:
    lines = [
        "FROM debian:12",  # 1
        "ONBUILD RUN <<EOT",  # 2
        "set -eu",  # 3
        "echo $1",  # 4: SC2086 in the trigger's heredoc
        "EOT",  # 5, followed directly by an instruction (hadolint needs the fix-up for ONBUILD too)
        "ONBUILD RUN mkdir -p /x && cd /x",  # 6
        "USER 1",
    ]
    dockerfile = parsed(tmp_path, lines)
    assert _codes(tools.run_shellcheck([dockerfile]), "shellcheck") == [("SC2086", 4), ("SC2164", 6)]
    found = tools.run_hadolint([dockerfile], keep_shellcheck=False)
    assert "FB101" not in {f.code for f in found}, [str(f) for f in found]
