"""Why-rebuilt notes: package, vulnerability and size changes against the previous digest, and what they decide."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from factory import notes, publish
from factory import record as records
from factory.oci import PlatformImage
from tests.test_publish import REPO, TODAY, Registry, target

OLD = "sha256:" + "b" * 64


def _sbom(**packages: str) -> dict[str, Any]:
    return {
        "components": [
            {"name": n, "version": v, "purl": f"pkg:deb/debian/{n}@{v}?arch=amd64"} for n, v in packages.items()
        ]
        + [{"name": "requests", "version": "2", "purl": "pkg:pypi/requests@2"}]  # not an OS package
    }


def test_the_package_diff_and_the_markdown() -> None:
    note = notes.Note("python:3.13-runtime", "sha256:" + "a" * 64, OLD, [{"reason": "max age", "evidence": "31 d"}])
    note.platforms["linux/amd64"] = notes.platform_note(
        _sbom(openssl="3.5.1-1", perl="5.40", zlib="1.3"),
        _sbom(openssl="3.5.1-1+deb13u1", zlib="1.3", tzdata="2026a"),
        {"findings": [{"id": "CVE-2026-1"}, {"id": "CVE-2026-9", "suppressed": "ignored"}]},
        {"findings": [{"id": "CVE-2026-2"}]},
        50_000_000,
        49_000_000,
    )
    item = note.platforms["linux/amd64"]
    assert item.packages.upgraded == {"openssl": ("3.5.1-1", "3.5.1-1+deb13u1")}
    assert item.packages.added == {"tzdata": "2026a"} and item.packages.removed == {"perl": "5.40"}
    assert (item.fixed, item.introduced) == (["CVE-2026-1"], ["CVE-2026-2"])
    assert note.removed == {"linux/amd64": ["perl"]} and not note.nothing_changed
    text = notes.markdown(note)
    for line in (
        "Why: max age (31 d)",
        "- upgraded openssl 3.5.1-1 -> 3.5.1-1+deb13u1",
        "- removed perl 5.40",
        "- vulnerabilities fixed: CVE-2026-1",
        "- size 50.0 MB -> 49.0 MB (-1.0 MB)",
    ):
        assert line in text, line
    again = notes.from_json(json.loads(json.dumps(note.to_json())))
    assert again == note


def _published_before(registry: Registry) -> None:
    registry.tags_.update({"3.13": OLD, "3": OLD})
    registry.digests.add(OLD)


class Previous:
    """The registry and cosign as seen for the previous image: its platforms and their attestations."""

    def __init__(self, sboms: dict[str, Any], scans: dict[str, Any]) -> None:
        self.sboms, self.scans = sboms, scans

    def platforms(self, path: str, digest: str) -> list[PlatformImage]:
        assert digest == OLD
        return [PlatformImage("linux/amd64", "sha256:" + "c" * 64, 40, 3)]

    def predicate(self, pinned: str, kind: str) -> dict[str, Any] | None:
        if kind == "cyclonedx":
            return self.sboms.get(pinned)
        return {"scanner": {"result": self.scans.get(pinned)}}


def test_the_note_compares_with_what_the_rolling_tag_names_and_decides(tmp_path: Path) -> None:
    registry = Registry()
    _published_before(registry)
    built = target()
    item = publish.plan(built, REPO, registry, [], TODAY)  # type: ignore[arg-type]
    sbom = tmp_path / "sbom.json"
    sbom.write_text(json.dumps(_sbom(openssl="3.5.1-1")))
    scans = {"linux/amd64": {"sbom": str(sbom), "findings": []}}
    old = f"{REPO}@sha256:" + "c" * 64
    previous = Previous({old: _sbom(openssl="3.5.1-1", perl="5.40")}, {old: {"findings": [{"id": "CVE-1"}]}})
    record = records.BuildRecord("run1", "t", "r", "v", 0, "0.1")
    note = publish.release_note(record, built, item, previous, previous, scans)
    assert note.previous == OLD
    assert note.platforms["linux/amd64"].packages.removed == {"perl": "5.40"}
    assert note.platforms["linux/amd64"].fixed == ["CVE-1"]
    assert (note.platforms["linux/amd64"].size_before, note.platforms["linux/amd64"].size_after) == (40, 10)
    assert note.platforms["linux/arm64"].size_before is None  # the previous image had no arm64
    refusal = publish.note_refusal(built, note, allow_removal=False)
    assert refusal is not None and refusal.startswith("packages removed since sha256:bbbbbbbbbbbb (linux/amd64: perl)")
    assert publish.note_refusal(built, note, allow_removal=True) is None

    # rebuilt for package updates alone, and no package changed: nothing to promote
    same = notes.Note(built.id, "sha256:" + "a" * 64, OLD, [])
    same.platforms["linux/amd64"] = notes.platform_note(_sbom(zlib="1"), _sbom(zlib="1"), None, None, 1, 1)
    built.reasons = ["package updates available: zlib 1 -> 2"]
    assert "no package changed" in str(publish.note_refusal(built, same, allow_removal=False))
    built.reasons = ["older than the maximum age: built 2026-10-01"]
    assert publish.note_refusal(built, same, allow_removal=False) is None

    # the digest the tag already names: its note was made when it was first published
    registry.tags_.update({"3.13": built.digest or "", "3": built.digest or ""})
    again = publish.plan(built, REPO, registry, [], TODAY)  # type: ignore[arg-type]
    assert publish.release_note(record, built, again, previous, previous, scans) is None
