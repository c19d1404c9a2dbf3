"""The committed catalogue: valid, rendered/ up to date, and every Dockerfile clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dockerfile
import pytest
from click.testing import CliRunner

from factory.cli import main
from tests.conftest import FIXTURES, REPO
from tests.dockerfiles import problems

HADOLINT = Path(sys.executable).parent / "hadolint"
ROOTS = {"catalogue": REPO, "golden": FIXTURES / "golden"}
DOCKERFILES = [
    pytest.param(root / "rendered" / p, id=f"{name}:{p}")
    for name, root in ROOTS.items()
    for p in sorted(q.relative_to(root / "rendered").as_posix() for q in (root / "rendered").rglob("Dockerfile"))
]


def test_catalogue_validates() -> None:
    result = CliRunner().invoke(main, ["--root", str(REPO), "validate"])
    assert result.exit_code == 0, result.output
    assert "ok: os:trixie" in result.output


@pytest.mark.parametrize("root", list(ROOTS.values()), ids=list(ROOTS))
def test_rendered_is_up_to_date(root: Path) -> None:
    result = CliRunner().invoke(main, ["--root", str(root), "render", "--check"])
    assert result.exit_code == 0, result.output


def test_catalogue_renders_every_target() -> None:
    result = CliRunner().invoke(main, ["--root", str(REPO), "list", "--output", "json"])
    import json

    rows = json.loads(result.stdout)
    for row in rows:
        assert (REPO / "rendered" / row["dockerfile"]).is_file(), row["id"]
    assert {r["stack"] for r in rows} >= {"os", "python", "node", "java", "go"}
    assert {(r["stack"], r["variant"]) for r in rows} >= {
        ("python", "runtime"),
        ("python", "build"),
        ("node", "runtime"),
        ("node", "build"),
        ("java", "runtime"),
        ("java", "build"),
        ("go", "build"),
        ("go", "static"),
    }


@pytest.mark.parametrize("path", DOCKERFILES)
def test_dockerfile_parses_with_buildkit_parser(path: Path) -> None:
    commands = dockerfile.parse_file(str(path))
    assert commands[-1].cmd in ("ENTRYPOINT", "CMD")
    heredoc_runs = [c for c in commands if c.cmd == "RUN"]
    assert all(c.heredocs for c in heredoc_runs)


@pytest.mark.parametrize("path", DOCKERFILES)
def test_dockerfile_follows_the_practices(path: Path) -> None:
    assert problems(path) == []


@pytest.mark.parametrize("path", DOCKERFILES)
def test_dockerfile_passes_hadolint(path: Path) -> None:
    result = subprocess.run(
        [str(HADOLINT), "--no-color", "--failure-threshold", "info", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
