"""Every folder of tests/invalid is a bad definition with the exact errors it must produce.

A case folder holds files laid over the minimal fixture project (stacks/...),
an optional DELETE file listing paths to remove, and expected.txt: the exact
stderr of `factory validate`, judged on a fixed day (end-of-life dates and the
90-day limit of overrides are relative to it). Run pytest with --update-golden
to rewrite them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from factory import lifecycle
from factory.cli import main

CASES = Path(__file__).resolve().parent / "invalid"
DAY = dt.date(2026, 12, 7)


@pytest.fixture(autouse=True)
def _on_a_fixed_day(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lifecycle, "today", lambda: DAY)


def _case_files(case: Path) -> tuple[dict[str, str], tuple[str, ...]]:
    files = {
        p.relative_to(case).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(case.rglob("*"))
        if p.is_file() and p.name not in ("expected.txt", "DELETE")
    }
    delete_file = case / "DELETE"
    delete = tuple(delete_file.read_text().split()) if delete_file.exists() else ()
    return files, delete


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir() if p.is_dir()))
def test_invalid_definition_gives_exact_errors(
    case: str, make_project: Callable[..., Path], update_golden: bool
) -> None:
    files, delete = _case_files(CASES / case)
    root = make_project(files=files, delete=delete)
    result = CliRunner().invoke(main, ["--root", str(root), "validate"])
    expected_file = CASES / case / "expected.txt"
    if update_golden:
        expected_file.write_text(result.stderr, encoding="utf-8")
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    assert result.stderr == expected_file.read_text(encoding="utf-8")
    for line in result.stderr.splitlines():
        assert line.startswith("error: stacks/") or line.startswith("error: pins/"), line


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir() if p.is_dir()))
def test_invalid_definition_json_lists_problems(case: str, make_project: Callable[..., Path]) -> None:
    import json

    files, delete = _case_files(CASES / case)
    root = make_project(files=files, delete=delete)
    result = CliRunner().invoke(main, ["--root", str(root), "validate", "--output", "json"])
    assert result.exit_code == 3
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["exit_code"] == 3
    assert report["problems"] and all(p["file"].startswith(("stacks/", "pins/")) for p in report["problems"])
