"""Shared fixtures: the repo root, throw-away projects, golden-file updating."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.cdp import find_chromium

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="Rewrite golden files (tests/fixtures/golden/rendered, tests/invalid/*/expected.txt).",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Engine and browser tests skip on a laptop without an engine or chromium, but must never skip in CI.
    in_ci = os.environ.get("CI") == "true"
    engine = os.environ.get("FACTORY_TEST_ENGINE") == "1"
    browser = find_chromium() is not None
    for item in items:
        if "engine" in item.keywords and not engine and not in_ci:
            item.add_marker(pytest.mark.skip(reason="no engine (set FACTORY_TEST_ENGINE=1)"))
        if "browser" in item.keywords and not browser and not in_ci:
            item.add_marker(pytest.mark.skip(reason="no chromium (apt-get install chromium)"))


def pytest_runtest_setup(item: pytest.Item) -> None:
    if "engine" in item.keywords and os.environ.get("FACTORY_TEST_ENGINE") != "1" and os.environ.get("CI") == "true":
        pytest.fail("engine tests must run in CI: .ci/run starts the engine and sets FACTORY_TEST_ENGINE=1")
    if "browser" in item.keywords and find_chromium() is None and os.environ.get("CI") == "true":
        pytest.fail("browser tests must run in CI: .ci/run installs chromium (elsewhere set FACTORY_CHROMIUM)")


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[..., Path]:
    """Copy a fixture project into tmp_path (templates from the repo), apply overrides."""

    def make(fixture: str = "minimal", files: dict[str, str] | None = None, delete: tuple[str, ...] = ()) -> Path:
        root = tmp_path / "project"
        shutil.copytree(FIXTURES / fixture, root, symlinks=False, ignore=shutil.ignore_patterns("templates"))
        shutil.copytree(REPO / "templates", root / "templates")
        for relative, text in (files or {}).items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        for relative in delete:
            (root / relative).unlink()
        return root

    return make
