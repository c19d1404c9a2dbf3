"""Why-rebuilt notes: what a newly published digest changes against the one its tag named before.

Per platform: the packages added, removed and upgraded (from the two
CycloneDX SBOMs), the vulnerabilities fixed and introduced (from the two
scan results), and the compressed size before and after; with the reasons
the image was built for. The JSON goes into the signed rebuild-reasons
attestation, the Markdown is attached beside it, both land in the report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class PackageDiff:
    added: dict[str, str] = field(default_factory=dict)  # name -> version
    removed: dict[str, str] = field(default_factory=dict)
    upgraded: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (before, after)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.upgraded)


@dataclass
class PlatformNote:
    packages: PackageDiff
    fixed: list[str]  # vulnerability ids the previous image had and this one has not
    introduced: list[str]
    size_before: int | None
    size_after: int | None


@dataclass
class Note:
    """The note of one published digest (previous None: the tag's first image)."""

    target: str
    digest: str
    previous: str | None
    reasons: list[dict[str, str]]
    platforms: dict[str, PlatformNote] = field(default_factory=dict)

    @property
    def nothing_changed(self) -> bool:
        """The same packages on every platform as the previous digest (nothing to promote for package updates)."""
        return self.previous is not None and all(p.packages.empty for p in self.platforms.values())

    @property
    def removed(self) -> dict[str, list[str]]:
        """Platform -> the packages that disappeared."""
        return {p: sorted(n.packages.removed) for p, n in self.platforms.items() if n.packages.removed}

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for note in data["platforms"].values():
            upgraded = note["packages"]["upgraded"].items()
            note["packages"]["upgraded"] = {name: {"from": a, "to": b} for name, (a, b) in upgraded}
        return data


def packages(sbom: Mapping[str, Any]) -> dict[str, str]:
    """name -> version of the OS packages a CycloneDX SBOM lists (trivy's `pkg:deb` components)."""
    found = {}
    for component in sbom.get("components", []):
        purl = str(component.get("purl", ""))
        if purl.startswith("pkg:deb/") and component.get("name"):
            found[str(component["name"])] = str(component.get("version", ""))
    return found


def diff(before: Mapping[str, str], after: Mapping[str, str]) -> PackageDiff:
    return PackageDiff(
        added={n: v for n, v in sorted(after.items()) if n not in before},
        removed={n: v for n, v in sorted(before.items()) if n not in after},
        upgraded={n: (before[n], v) for n, v in sorted(after.items()) if n in before and before[n] != v},
    )


def finding_ids(result: Mapping[str, Any] | None) -> set[str]:
    """The unsuppressed vulnerability ids of a scan result (the gate's per-image entry)."""
    if not result:
        return set()
    return {str(f["id"]) for f in result.get("findings", []) if not f.get("suppressed")}


def platform_note(
    sbom_before: Mapping[str, Any] | None,
    sbom_after: Mapping[str, Any],
    scan_before: Mapping[str, Any] | None,
    scan_after: Mapping[str, Any] | None,
    size_before: int | None,
    size_after: int | None,
) -> PlatformNote:
    before, after = finding_ids(scan_before), finding_ids(scan_after)
    return PlatformNote(
        diff(packages(sbom_before or {}), packages(sbom_after)),
        sorted(before - after),
        sorted(after - before),
        size_before,
        size_after,
    )


def markdown(note: Note) -> str:
    """The note for people: reasons, then per platform the package, vulnerability and size changes."""
    title = f"## {note.target} `{note.digest[:19]}`"
    lines = [title, "", "Why: " + "; ".join(_reason(r) for r in note.reasons), ""]
    if note.previous is None:
        lines.append("The first image under this tag.")
    else:
        lines.append(f"Against the previous image `{note.previous[:19]}`:")
    for platform, item in sorted(note.platforms.items()):
        lines += ["", f"### {platform}", ""]
        changes = item.packages
        if note.previous is not None:
            if changes.empty:
                lines.append("- packages: no change")
            lines += [f"- upgraded {n} {a} -> {b}" for n, (a, b) in changes.upgraded.items()]
            lines += [f"- added {n} {v}" for n, v in changes.added.items()]
            lines += [f"- removed {n} {v}" for n, v in changes.removed.items()]
        if item.fixed:
            lines.append(f"- vulnerabilities fixed: {', '.join(item.fixed)}")
        if item.introduced:
            lines.append(f"- vulnerabilities introduced: {', '.join(item.introduced)}")
        if item.size_before is not None and item.size_after is not None:
            delta = item.size_after - item.size_before
            sizes = f"{item.size_before / 1e6:.1f} MB -> {item.size_after / 1e6:.1f} MB"
            lines.append(f"- size {sizes} ({delta / 1e6:+.1f} MB)")
        elif item.size_after is not None:
            lines.append(f"- size {item.size_after / 1e6:.1f} MB")
    return "\n".join(lines) + "\n"


def _reason(reason: Mapping[str, str]) -> str:
    return f"{reason['reason']} ({reason['evidence']})" if reason.get("evidence") else reason["reason"]


def from_json(data: Mapping[str, Any]) -> Note:
    """A note read back (from an attestation or a file)."""
    platforms = {}
    for platform, item in (data.get("platforms") or {}).items():
        raw = item.get("packages") or {}
        upgraded = {k: (v["from"], v["to"]) for k, v in (raw.get("upgraded") or {}).items()}
        changes = PackageDiff(dict(raw.get("added") or {}), dict(raw.get("removed") or {}), upgraded)
        platforms[platform] = PlatformNote(
            changes,
            list(item.get("fixed") or []),
            list(item.get("introduced") or []),
            item.get("size_before"),
            item.get("size_after"),
        )
    reasons: Sequence[Mapping[str, str]] = data.get("reasons") or []
    return Note(str(data["target"]), str(data["digest"]), data.get("previous"), [dict(r) for r in reasons], platforms)
