"""The whole rendered catalogue is clean at `warning`: own rules, hadolint, shellcheck and trivy."""

from __future__ import annotations

from pathlib import Path

import pytest

from factory.lint import lint_paths
from factory.lint.model import Severity
from factory.lint.policy import for_catalogue
from factory.project import Project
from tests.conftest import FIXTURES, REPO

ROOTS = {"catalogue": REPO, "golden": FIXTURES / "golden"}


@pytest.mark.parametrize("root", list(ROOTS.values()), ids=list(ROOTS))
def test_rendered_catalogue_is_clean_at_warning(root: Path) -> None:
    project = Project(root)
    dockerfiles = sorted(project.rendered.rglob("Dockerfile"))
    assert dockerfiles
    report = lint_paths(dockerfiles, policy=for_catalogue(project.load()))
    assert report.sources == ("factory", "hadolint", "shellcheck", "trivy")
    assert [str(f) for f in report.at_or_above(Severity.WARNING)] == []
    assert report.suppressed == ()  # clean by construction, not by ignores
