from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner

from factory import pins, record
from factory.cli import main


def _record(tmp: Path) -> Path:
    rec = record.BuildRecord("R", "2026-01-01T00:00:00Z", "127.0.0.1:5000", "abc", 86400, "0.1.0")
    for target_id, status in (("os:trixie", "built"), ("tool:1.0-runtime", "failed")):
        rec.targets.append(record.TargetResult(
            target_id, "x", None, "v", "d", "0" * 64, ["linux/amd64"], [], status=status,
            reference=f"127.0.0.1:5000/factory-staging/{target_id.split(':')[0]}:tag-R",
            digest="sha256:" + "e" * 64 if status == "built" else None,
        ))  # fmt: skip
    return record.write(rec, tmp / "builds" / "R")


def test_pin_then_render_uses_the_digest(make_project: Callable[..., Path], tmp_path: Path) -> None:
    root = make_project()
    runner = CliRunner()
    result = runner.invoke(main, ["--root", str(root), "pin", "--record", str(_record(tmp_path))])
    assert result.exit_code == 0, result.output
    assert "pinned os:trixie" in result.output and "tool" not in result.output  # failed targets are not pinned
    text = (root / "pins" / "images.yaml").read_text()
    assert text.startswith(pins.HEADER)
    assert runner.invoke(main, ["--root", str(root), "render", "--no-lint"]).exit_code == 0
    dockerfile = (root / "rendered" / "tool" / "1.0" / "runtime" / "Dockerfile").read_text()
    assert f"ARG BASE_IMAGE=127.0.0.1:5000/factory-staging/os@sha256:{'e' * 64}\n" in dockerfile
    again = runner.invoke(main, ["--root", str(root), "pin", "--record", str(_record(tmp_path)), "-o", "json"])
    assert '"changed": []' in again.output
