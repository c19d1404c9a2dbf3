"""What the CLI shows for a build: one line per target, the digest of what was built, the reason otherwise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from factory import present
from factory import record as records

DIGEST = "sha256:" + "1" * 64


def _record() -> records.BuildRecord:
    rec = records.BuildRecord("R", "2026-01-01T00:00:00Z", "127.0.0.1:5000", "abc", 0, "0.1.0")
    for target_id, status, reason in (
        ("os:trixie", records.Status.BUILT, None),
        ("a:1-runtime", records.Status.FAILED, "buildx exited 1"),
        ("a:1-build", records.Status.SKIPPED, "base a:1-runtime failed"),
    ):
        rec.targets.append(
            records.TargetResult(
                target_id, "s", None, "v", "d", "0" * 64, ["linux/amd64"], [], status=status, reason=reason,
                digest=DIGEST if status is records.Status.BUILT else None,
            )
        )  # fmt: skip
    return rec


def test_built_shows_the_digest_of_what_was_built_and_the_reason_of_the_rest(
    capsys: pytest.CaptureFixture[str],
) -> None:
    present.built(_record(), Path("/state/builds/R/record.json"), "text")
    assert capsys.readouterr().out.splitlines() == [
        f"built    os:trixie                    {DIGEST}",
        "failed   a:1-runtime                  buildx exited 1",
        "skipped  a:1-build                    base a:1-runtime failed",
        "record: /state/builds/R/record.json",
    ]


def test_built_as_json_is_the_record(capsys: pytest.CaptureFixture[str]) -> None:
    present.built(_record(), Path("record.json"), "json")
    assert [t["status"] for t in json.loads(capsys.readouterr().out)["targets"]] == ["built", "failed", "skipped"]
