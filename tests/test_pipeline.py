"""The engine-free stages of factory.pipeline: render with its lint, the OS bootstrap, pin."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from factory import osbase, pipeline
from factory.cli import main
from factory.progress import Board, PlainSink
from factory.project import Project
from tests.test_pins import _record


def _workspace(root: Path) -> pipeline.Workspace:
    return pipeline.Workspace.open(Project(root))


def test_render_and_lint_writes_rendered_then_lints_what_it_wrote(make_project: Callable[..., Path]) -> None:
    workspace = _workspace(make_project())
    done = pipeline.render_and_lint(workspace, lint_after=True)
    assert (workspace.project.rendered / "tool" / "1.0" / "runtime" / "Dockerfile").is_file()
    assert "tool/1.0/runtime/Dockerfile" in done.changed and len(done.files) >= len(done.changed)
    assert done.report is not None
    assert len(done.report.files) == sum(f.path.endswith("/Dockerfile") for f in done.files)
    again = pipeline.render_and_lint(workspace, lint_after=False)
    assert again.changed == [] and again.report is None


def test_render_and_lint_limits_both_to_the_scope(make_project: Callable[..., Path]) -> None:
    workspace = _workspace(make_project())
    done = pipeline.render_and_lint(workspace, ["tool"])
    assert done.report is not None and len(done.report.files) == 1
    assert all(f.path.startswith("tool/") for f in done.files)


def test_bootstrap_asks_for_each_selected_architecture(
    make_project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    root = make_project()
    workspace = _workspace(root)
    pipeline.render_and_lint(workspace, lint_after=False)  # the recipe lives in rendered/os/<release>/
    asked: list[tuple[str, bool]] = []

    def rootfs(self: osbase.Bootstrapper, arch: str, progress: Callable[[str], None]) -> osbase.Rootfs:
        asked.append((arch, self.refresh))
        progress(f"rootfs {arch}: made")
        return osbase.Rootfs(arch, tmp_path / f"{arch}.tar", "k", 0, False)

    monkeypatch.setattr(osbase.Bootstrapper, "rootfs", rootfs)
    shown = io.StringIO()
    board = Board(PlainSink(shown))
    every = pipeline.bootstrap(workspace, board)
    assert [r.arch for r in every] == [p.split("/")[1] for p in workspace.catalogue.os.platforms]
    assert "rootfs amd64: made" in shown.getvalue()
    asked.clear()
    assert [r.arch for r in pipeline.bootstrap(workspace, board, ["linux/arm64"], refresh=True)] == ["arm64"]
    assert asked == [("arm64", True)]


def test_pin_reads_the_latest_record_of_the_state_dir_even_while_the_catalogue_is_invalid(
    make_project: Callable[..., Path],
) -> None:
    root = make_project()
    _record(root / ".factory")  # writes .factory/builds/R/record.json and .factory/builds/latest.json
    (root / "stacks" / "tool.yaml").write_text("variants: {runtime: {frobnicate: 1}}\n")
    assert CliRunner().invoke(main, ["--root", str(root), "validate"]).exit_code == 3
    written, changed = pipeline.pin(Project(root), None)
    assert written == root / "pins" / "images.yaml" and changed == ["os:trixie"]
    result = CliRunner().invoke(main, ["--root", str(root), "pin", "-o", "json"])
    assert result.exit_code == 0, result.output


def test_pin_without_a_record_says_to_build_first(make_project: Callable[..., Path]) -> None:
    root = make_project()
    result = CliRunner().invoke(main, ["--root", str(root), "pin"])
    assert result.exit_code == 5
    assert "run `factory build` first" in result.stderr
