"""The committed catalogue: valid, rendered/ up to date, and every Dockerfile clean."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import dockerfile
import pytest
from click.testing import CliRunner

from factory import lifecycle
from factory.cli import main
from factory.project import Project
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


# The day the catalogue's dates were last reviewed: its states then, exactly.
REVIEWED = dt.date(2026, 12, 7)


def test_the_catalogue_says_which_versions_have_ended_and_what_replaces_them() -> None:
    found = lifecycle.states(Project(REPO).load(today=REVIEWED).targets, REVIEWED)
    assert {target: (s.status.value, str(s.eol), s.replaced_by) for target, s in found.items()} == {
        "os:trixie": ("supported", "2028-08-09", ()),
        "go:1.24-build": ("overridden", "2026-02-10", ("1.27", "1.26")),
        "go:static": ("supported", "None", ()),
        "java:25-runtime": ("supported", "2031-09-30", ()),
        "java:25-build": ("supported", "2031-09-30", ()),
        "java:21-runtime": ("supported", "2029-12-31", ()),
        "java:21-build": ("supported", "2029-12-31", ()),
        "node:20-runtime": ("overridden", "2026-04-30", ("24", "26")),
        "node:20-build": ("overridden", "2026-04-30", ("24", "26")),
        "python:3.13-runtime": ("supported", "2029-10-31", ()),
        "python:3.13-build": ("supported", "2029-10-31", ()),
    }
    assert found["node:20-runtime"].message == (
        "node 20 reached its end of life on 2026-04-30 (replaced by node 24 or node 26); kept until 2027-03-01 by an"
        " override: Debian 13 ships only nodejs 20 and its security team keeps patching it"
    )


def test_no_version_of_the_catalogue_has_ended_without_an_override_today() -> None:
    # On the real day: when an override expires (at most 90 days after its review), this fails,
    # with `factory validate`, until someone renews it with a reason or retires the version.
    today = lifecycle.today()
    ended = [
        t for t, s in lifecycle.states(Project(REPO).load(today=today).targets, today).items() if s.level == "error"
    ]
    assert ended == []
