from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from factory.cli import main
from tests.conftest import REPO

FACTORY = Path(sys.executable).parent / "factory"


@pytest.mark.parametrize("args", [[], ["validate"], ["render"], ["lint"], ["list"], ["lock"]])
def test_help_everywhere(args: list[str]) -> None:
    result = CliRunner().invoke(main, [*args, "--help"])
    assert result.exit_code == 0
    assert "Usage: " in result.output


def test_top_level_help_documents_exit_codes() -> None:
    output = CliRunner().invoke(main, ["--help"]).output
    for code in (
        "0  success",
        "1  a check",
        "2  usage",
        "3  invalid definitions",
        "4  a template",
        "5  a required",
        "6  lint",
        "7  a build failed",
        "8  a built image failed",
        "70 internal",
    ):
        assert code in output


def test_list_json_is_a_ci_matrix() -> None:
    result = CliRunner().invoke(main, ["--root", str(REPO), "list", "--output", "json"])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert rows[0]["id"] == "os:trixie"
    ids = [r["id"] for r in rows]
    for row in rows:  # parents are listed before their children
        if row["base"] is not None and row["base"] in ids:
            assert ids.index(row["base"]) < ids.index(row["id"])
    python = next(r for r in rows if r["id"] == "python:3.13-runtime")
    assert python == {
        "id": "python:3.13-runtime",
        "stack": "python",
        "version": "3.13",
        "variant": "runtime",
        "image": "python",
        "platforms": ["linux/amd64", "linux/arm64"],
        "tags": ["python:3.13", "python:3"],
        "base": "os:trixie",
        "dockerfile": "python/3.13/runtime/Dockerfile",
        "published": ["127.0.0.1:5000/base/python:3.13", "127.0.0.1:5000/base/python:3"],
    }


def test_list_json_shows_the_final_references_where_factory_yaml_puts_them(
    make_project: Callable[..., Path],
) -> None:
    root = make_project(files={"factory.yaml": "publish: {registry: registry.example:5000, namespace: images/base}\n"})
    result = CliRunner().invoke(main, ["--root", str(root), "list", "--output", "json"])
    assert result.exit_code == 0, result.output
    tool = next(r for r in json.loads(result.stdout) if r["id"] == "tool:1.0-runtime")
    assert tool["published"] == [
        "registry.example:5000/images/base/tool:1.0",
        "registry.example:5000/images/base/tool:1",
    ]


def test_list_json_names_each_target_once_the_os_first() -> None:
    result = CliRunner().invoke(main, ["--root", str(REPO), "list", "--output", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)), ids
    assert [r["id"] for r in rows if r["stack"] == "os"] == ["os:trixie"] == ids[:1]
    assert rows[0]["base"] is None and rows[0]["dockerfile"] == "os/trixie/Dockerfile"


def test_list_of_the_os_stack_alone() -> None:
    result = CliRunner().invoke(main, ["--root", str(REPO), "list", "--stack", "os", "-o", "json"])
    assert [r["id"] for r in json.loads(result.stdout)] == ["os:trixie"]


def test_list_filters_by_stack() -> None:
    result = CliRunner().invoke(main, ["--root", str(REPO), "list", "--stack", "go", "-o", "json"])
    assert [r["id"] for r in json.loads(result.stdout)] == ["go:1.24-build", "go:static"]


def test_validate_json(make_project: Callable[..., Path]) -> None:
    result = CliRunner().invoke(main, ["--root", str(make_project()), "validate", "-o", "json"])
    assert json.loads(result.stdout) == {
        "ok": True,
        "os": "os:trixie",
        "stacks": ["os", "tool"],
        "targets": 2,
        "warnings": [],
    }


def test_no_project_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--root", str(tmp_path), "validate"])
    assert result.exit_code == 3
    assert result.stderr == f"error: {tmp_path}: no stacks/ directory in this project\n"


def test_project_found_from_a_subdirectory(make_project: Callable[..., Path]) -> None:
    root = make_project()
    result = subprocess.run([str(FACTORY), "validate"], cwd=root / "stacks", capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_unknown_option_is_usage_error() -> None:
    result = CliRunner().invoke(main, ["render", "--frobnicate"])
    assert result.exit_code == 2


def test_render_json_reports_changes(make_project: Callable[..., Path]) -> None:
    root = make_project()
    first = json.loads(CliRunner().invoke(main, ["--root", str(root), "render", "-o", "json"]).stdout)
    assert first["ok"] and first["files"] == 6 and len(first["changed"]) == 6
    second = json.loads(CliRunner().invoke(main, ["--root", str(root), "render", "-o", "json"]).stdout)
    assert second["changed"] == []


def test_internal_errors_exit_70_without_traceback(
    make_project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from factory import project

    def boom(self: object, *args: object) -> None:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(project.Project, "load", boom)
    result = CliRunner().invoke(main, ["--root", str(make_project()), "validate"])
    assert result.exit_code == 70
    assert "internal error: ZeroDivisionError: boom" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["build", "ruby"], "unknown target or stack 'ruby'"),
        (["build", "--platform", "linux/mips"], "no platform left to build"),
        (["list", "--stack", "pyhton"], "unknown stack pyhton"),
        (["render", "--check", "--syntax", "x\nRUN id"], "is not an image reference"),
    ],
)
def test_usage_errors_exit_2(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["--root", str(REPO), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_bad_record_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "record.json"
    bad.write_text("{not json")
    for command in ("verify", "pin"):
        result = CliRunner().invoke(main, ["--root", str(REPO), command, "--record", str(bad)])
        assert result.exit_code == 5, result.output
        assert f"{bad}: not a build record of this factory" in result.stderr


def test_render_lists_only_failing_findings_but_counts_all(make_project: Callable[..., Path]) -> None:
    result = CliRunner().invoke(main, ["--root", str(make_project()), "render"])
    assert result.exit_code == 0, result.output
    assert "DS-0026" not in result.stdout  # info (no HEALTHCHECK): below the warning threshold
    assert "ok at warning" in result.stderr and " info" in result.stderr


def test_build_refuses_a_stale_rendered(make_project: Callable[..., Path]) -> None:
    root = make_project()
    runner = CliRunner()
    assert runner.invoke(main, ["--root", str(root), "render", "--no-lint"]).exit_code == 0
    dockerfile = root / "rendered" / "tool" / "1.0" / "runtime" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("USER 10001:10001", "USER 0:0"))
    result = runner.invoke(main, ["--root", str(root), "build", "-o", "json"])
    assert result.exit_code == 1
    answer = json.loads(result.stdout)
    assert answer["message"] == (
        "rendered/ is stale (rendered/tool/1.0/runtime/Dockerfile): run `factory render` and commit the result first"
    )


def test_the_main_job_stops_at_the_first_failing_stage(make_project: Callable[..., Path]) -> None:
    """Lint findings at the threshold stop the job before anything is built (no engine is touched)."""
    root = make_project(
        files={"stacks/tool.yaml": "variants: {runtime: {install: [{method: os-packages, packages: [gcc]}]}}\n"
        "versions: [{version: '1.0', tags: ['1.0']}]\n"}
    )  # fmt: skip
    runner = CliRunner()
    assert runner.invoke(main, ["--root", str(root), "render", "--no-lint"]).exit_code == 0
    result = runner.invoke(main, ["--root", str(root), "run", "--failure-threshold", "warning"])
    assert result.exit_code == 6, result.output
    assert "FB090" in result.output  # the compiler shipped in a runtime image, shown before stopping
    assert not (root / ".factory" / "builds").exists()
