"""Ignores: inline comments with reasons, the project file with expiry dates, and their own findings."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from factory.errors import DefinitionError
from factory.lint import ignores, runner
from factory.lint.parse import Dockerfile, parse_file
from tests.lint.conftest import HEAD_LINES, POLICY, parsed, write

TODAY = datetime.date(2026, 6, 1)
TINI = ["USER 10001:10001", 'ENTRYPOINT ["/usr/bin/tini", "--"]']


def _lint(dockerfiles: list[Dockerfile], ignore_file: ignores.IgnoreFile | None = None) -> runner.Report:
    return runner.lint_dockerfiles(
        dockerfiles, policy=POLICY, tools_selected=("shellcheck",), ignore_file=ignore_file, today=TODAY
    )


def test_inline_ignore_covers_the_next_instruction_heredoc_included(tmp_path: Path) -> None:
    lines = [
        *HEAD_LINES,
        "# factory ignore=FB070,SC2086 the OS base sets APT::Install-Recommends already",  # 3
        "RUN <<EOT",  # 4
        "set -eux",
        "apt-get install -y curl",  # 6: FB070
        "echo $1",  # 7: SC2086
        "EOT",
        "RUN apt-get install -y wget",  # 9: FB070, not covered
        *TINI,
    ]
    report = _lint([parsed(tmp_path, lines)])
    assert [(f.code, f.line) for f in report.findings] == [("FB070", 9)]
    assert [(s.finding.code, s.finding.line, s.where, s.inline) for s in report.suppressed] == [
        ("FB070", 6, "Dockerfile:3", True),
        ("SC2086", 7, "Dockerfile:3", True),
    ]
    assert report.suppressed[0].reason == "the OS base sets APT::Install-Recommends already"


def test_inline_ignore_without_reason_is_a_finding_and_not_honoured(tmp_path: Path) -> None:
    lines = [*HEAD_LINES, "# factory ignore=FB070", "RUN apt-get install -y curl", *TINI]
    report = _lint([parsed(tmp_path, lines)])
    assert [(f.code, f.line) for f in report.findings] == [("FB901", 3), ("FB070", 4)]
    assert report.suppressed == ()


def test_hadolint_pragma_covers_the_same_sc_codes_from_shellcheck(tmp_path: Path) -> None:
    lines = [*HEAD_LINES, "# hadolint ignore=DL3003,SC2086", "RUN <<EOT", "set -eux", "echo $1", "EOT", *TINI]
    report = _lint([parsed(tmp_path, lines)])
    assert report.findings == ()
    assert [s.finding.code for s in report.suppressed] == ["SC2086"]


def test_the_first_ignore_in_comment_order_wins_and_each_covers_only_its_instruction(tmp_path: Path) -> None:
    lines = [
        *HEAD_LINES,
        "# factory ignore=FB070 first reason",  # 3
        "# factory ignore=FB070,FB071 second reason",  # 4
        "RUN apt-get update && apt-get install -y curl",  # 5: FB070, FB071
        "# factory ignore=FB071 covers line 7 only",  # 6
        "RUN apt-get update",  # 7: FB071
        "RUN apt-get install -y wget",  # 8: FB070, not covered
        *TINI,
    ]
    report = _lint([parsed(tmp_path, lines)])
    assert [(f.code, f.line) for f in report.findings] == [("FB070", 8)]
    assert [(s.finding.code, s.finding.line, s.reason) for s in report.suppressed] == [
        ("FB070", 5, "first reason"),
        ("FB071", 5, "second reason"),
        ("FB071", 7, "covers line 7 only"),
    ]


def _ignore_file(tmp_path: Path, text: str) -> ignores.IgnoreFile:
    path = tmp_path / ".factory-ignore.yaml"
    path.write_text(text, encoding="utf-8")
    return ignores.load(path, ".factory-ignore.yaml")


def test_project_file_matches_code_and_path(tmp_path: Path) -> None:
    ignore_file = _ignore_file(
        tmp_path,
        """\
ignores:
  - code: FB070
    path: "team/*/Dockerfile"
    reason: the team's mirror disables recommends globally
    expires: 2026-12-31
  - code: FB070
    path: "other/*"
    reason: does not apply here
    expires: 2026-12-31
""",
    )
    lines = [*HEAD_LINES, "RUN apt-get install -y curl", *TINI]
    inside = parsed(tmp_path / "team" / "app", lines)
    outside = parse_file(write(tmp_path / "elsewhere", lines), "elsewhere/Dockerfile")
    report = _lint([inside, outside], ignore_file)
    assert [(f.file, f.code) for f in report.findings] == [("elsewhere/Dockerfile", "FB070")]
    assert [(s.where, s.inline) for s in report.suppressed] == [(".factory-ignore.yaml:2", False)]


def test_expired_entry_is_a_finding_and_stops_suppressing(tmp_path: Path) -> None:
    ignore_file = _ignore_file(
        tmp_path,
        """\
ignores:
  - code: FB070
    reason: until the mirror is fixed
    expires: 2026-05-31
""",
    )
    lines = [*HEAD_LINES, "RUN apt-get install -y curl", *TINI]
    report = _lint([parsed(tmp_path, lines)], ignore_file)
    assert [(f.file, f.line, f.code, f.severity.label) for f in report.findings] == [
        (".factory-ignore.yaml", 2, "FB900", "warning"),
        ("Dockerfile", 3, "FB070", "warning"),
    ]
    assert "expired on 2026-05-31 (until the mirror is fixed)" in report.findings[0].message


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        (
            "ignores:\n  - code: FB070\n    expires: 2026-01-01\n",
            [".factory-ignore.yaml:2: ignores[0].reason: required field is missing"],
        ),
        (
            "ignores:\n  - code: fb70\n    reason: x\n    expires: soon\n",
            [
                ".factory-ignore.yaml:2: ignores[0].code: expected a finding code such as FB041, DL3008, SC2086"
                " or DS-0026, got 'fb70'",
                ".factory-ignore.yaml:4: ignores[0].expires: expected a date, got string 'soon';"
                " write the day as YYYY-MM-DD, unquoted",
            ],
        ),
        (
            "ignore: []\n",
            [
                ".factory-ignore.yaml:1: ignore: unknown field; did you mean 'ignores'?",
                ".factory-ignore.yaml:1: ignores: required field is missing",
            ],
        ),
    ],
)
def test_invalid_ignore_file_names_file_line_field(tmp_path: Path, text: str, problems: list[str]) -> None:
    with pytest.raises(DefinitionError) as caught:
        _ignore_file(tmp_path, text)
    assert [str(p) for p in caught.value.problems] == problems
