from __future__ import annotations

import json
from pathlib import Path

from factory import record


def test_roundtrip_and_latest(tmp_path: Path) -> None:
    rec = record.BuildRecord("R1", "2026-01-01T00:00:00Z", "127.0.0.1:5000", "abc", 86400, "0.1.0")
    target = record.TargetResult(
        "python:3.13-runtime",
        "python",
        "3.13",
        "runtime",
        "rendered/x/Dockerfile",
        "f" * 64,
        ["linux/amd64"],
        ["python:3.13"],
        status="built",
        reference="r/python:t",
        digest="sha256:" + "1" * 64,
    )
    target.images["linux/amd64"] = record.PlatformResult("sha256:" + "2" * 64, 1234, 3)
    rec.targets.append(target)
    path = record.write(rec, tmp_path / "builds" / "R1")
    assert json.loads((tmp_path / "builds" / "latest.json").read_text()) == json.loads(path.read_text())
    again = record.read(path)
    assert again == rec
    assert again.result("python:3.13-runtime").pinned == "r/python:t@sha256:" + "1" * 64
    assert again.failed == []
    assert sorted(p.name for p in (tmp_path / "builds" / "R1").iterdir()) == ["record.json"]


def _target(reference: str | None) -> record.TargetResult:
    return record.TargetResult(
        "t:1-runtime", "t", "1", "runtime", "d", "0" * 64, ["linux/amd64"], [], reference=reference
    )


def test_the_repository_is_the_reference_without_tag_or_digest_and_keeps_the_registry_port() -> None:
    assert _target("127.0.0.1:5000/factory-staging/python:3.13-R").repository == "127.0.0.1:5000/factory-staging/python"
    assert _target("127.0.0.1:5000/factory-staging/python").repository == "127.0.0.1:5000/factory-staging/python"
    pinned = "127.0.0.1:5000/factory-staging/python:3.13-R@sha256:" + "1" * 64
    assert _target(pinned).repository == "127.0.0.1:5000/factory-staging/python"
    assert _target(None).repository is None
