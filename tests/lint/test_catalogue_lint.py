"""The whole rendered catalogue is clean at `warning`: own rules, hadolint, shellcheck and trivy.

Below it, FB013 (info) names the versions kept past their end of life, judged on the day
the catalogue's dates were last reviewed (tests/test_catalogue_quality.py REVIEWED).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from factory.lint import lint_paths
from factory.lint.model import Severity
from factory.lint.policy import for_catalogue
from factory.project import Project
from tests.conftest import FIXTURES, REPO
from tests.test_catalogue_quality import REVIEWED

ROOTS = {"catalogue": REPO, "golden": FIXTURES / "golden"}
OVERRIDDEN = {
    "go/1.24/build": "go 1.24 reached its end of life on 2026-02-10 (replaced by go 1.27 or go 1.26); kept until"
    " 2027-03-01 by an override: Debian 13 ships only golang-1.24, patched in point releases (limited security"
    " support)",
    "node/20/build": "node 20 reached its end of life on 2026-04-30 (replaced by node 24 or node 26); kept until"
    " 2027-03-01 by an override: Debian 13 ships only nodejs 20 and its security team keeps patching it",
}
OVERRIDDEN["node/20/runtime"] = OVERRIDDEN["node/20/build"]
END_OF_LIFE = {"catalogue": OVERRIDDEN, "golden": {}}


@pytest.mark.parametrize("name", list(ROOTS))
def test_rendered_catalogue_is_clean_at_warning(name: str) -> None:
    project = Project(ROOTS[name])
    dockerfiles = sorted(project.rendered.rglob("Dockerfile"))
    assert dockerfiles
    policy = for_catalogue(project.load(today=REVIEWED), today=REVIEWED)
    report = lint_paths(dockerfiles, policy=policy)
    assert report.sources == ("factory", "hadolint", "shellcheck", "trivy")
    assert [str(f) for f in report.at_or_above(Severity.WARNING)] == []
    assert report.suppressed == ()  # clean by construction, not by ignores
    end_of_life = [f for f in report.findings if f.code == "FB013"]
    assert {
        str(Path(f.file).resolve().parent.relative_to(project.rendered)): f.message for f in end_of_life
    } == END_OF_LIFE[name]
    assert {f.severity for f in end_of_life} <= {Severity.INFO}
