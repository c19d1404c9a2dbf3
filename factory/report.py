"""The report of a run: every image with its final tags, digests, sizes, checks, findings and signature.

Made from the build record alone (and the scan report its verdicts name), so
it can be written at the end of the main job, again later, or for an old run.
The JSON document is the data the catalogue site is drawn from (factory.website
extends it); the Markdown is for people and for $GITHUB_STEP_SUMMARY. What was
not published says why.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from factory import notes, scan_reports
from factory import record as records
from factory.publish import refusal
from factory.schema import SEVERITIES

SCHEMA = 1
SIGNED_STATEMENTS = ("cyclonedx", "vuln", "openvex", "slsaprovenance1", "urn:factory:rebuild-reasons:v1")


def document(record: records.BuildRecord) -> dict[str, Any]:
    """The report as one JSON-ready document (README documents its keys)."""
    os_id, os_sizes = _os_base(record)
    scans = scan_entries(record)
    images = [_image(target, {} if target.id == os_id else os_sizes, scans) for target in record.targets]
    published = [i for i in images if i["published"]]
    return {
        "schema": SCHEMA,
        "run": record.run_id,
        "started": record.started,
        "finished": record.finished,
        "vcs_ref": record.vcs_ref,
        "factory_version": record.factory_version,
        "summary": {
            "images": len(images),
            "published": len(published),
            "not_published": len(images) - len(published),
        },
        "images": images,
    }


def _image(
    target: records.TargetResult, os_sizes: Mapping[str, int], scans: Mapping[tuple[str, str], Mapping[str, Any]]
) -> dict[str, Any]:
    publication = target.published
    platforms: dict[str, Any] = {}
    for platform in target.platforms:
        built = target.images.get(platform)
        verify = target.verdicts.get("verify", {}).get(platform)
        scan = target.verdicts.get("scan", {}).get(platform)
        entry = scans.get((target.id, platform), {})
        size = built.compressed_size if built else None
        base = os_sizes.get(platform)
        platforms[platform] = {
            "digest": built.digest if built else None,
            "compressed_size": size,
            "os_base_size": base,
            "over_os_base": size - base if size is not None and base is not None else None,
            "verify": _verdict(verify),
            "scan": _verdict(scan),
            "findings": _by_severity(entry),
            "sbom": (
                {"attestation": f"{publication.repository}@{built.digest}", "type": "cyclonedx"}
                if publication and built
                else None
            ),
        }
    image: dict[str, Any] = {
        "target": target.id,
        "stack": target.stack,
        "version": target.version,
        "variant": target.variant,
        "base": target.base_id,
        "status": str(target.status),
        "build_key": target.build_key,
        "dockerfile": target.dockerfile,
        "platforms": platforms,
        "reasons": target.reasons,
        "published": None,
        "not_published": None,
        "note": None,
    }
    if publication is not None and publication.digest == target.digest:
        image["published"] = {
            "repository": publication.repository,
            "digest": publication.digest,
            "immutable_tag": publication.immutable_tag,
            "tags": publication.tags,
            "references": [f"{publication.repository}:{t}" for t in (publication.immutable_tag, *publication.tags)],
            "signature": publication.signature,
            "attestations": list(SIGNED_STATEMENTS),
            "copies": publication.copies,
            "at": publication.at,
        }
        image["note"] = _note(publication.note)
    else:
        image["not_published"] = refusal(target) or "not published yet: run `factory publish`"
    return image


def _note(path: str | None) -> dict[str, Any] | None:
    """The why-rebuilt note publish wrote (None: none, or no longer readable)."""
    if not path:
        return None
    try:
        note = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return note if isinstance(note, dict) else None


def _verdict(verdict: records.Verdict | None) -> dict[str, Any] | None:
    return None if verdict is None else {"passed": verdict.passed, "summary": verdict.summary}


def _by_severity(entry: Mapping[str, Any]) -> dict[str, int] | None:
    """Unsuppressed findings per severity (every severity listed, highest first), None when not scanned."""
    counts = entry.get("counts")
    if counts is None:
        return None
    return {severity: sum(counts.get(severity, {}).values()) for severity in reversed(SEVERITIES)}


def _os_base(record: records.BuildRecord) -> tuple[str | None, dict[str, int]]:
    """The OS base of the run and its compressed size per platform (what every image is compared with)."""
    for target in record.targets:
        if target.base_id is None and target.stack == "os":
            return target.id, {p: image.compressed_size for p, image in target.images.items()}
    return None, {}


def scan_entries(record: records.BuildRecord) -> dict[tuple[str, str], dict[str, Any]]:
    """(target, platform) -> the scan report's entry, from the reports the verdicts name (unreadable: absent)."""
    files = [v.report for t in record.targets for v in t.verdicts.get("scan", {}).values() if v.report]
    return scan_reports.entries(files, strict=False)


def markdown(doc: Mapping[str, Any]) -> str:
    """The report for people: one table of images, then the published references and what was not published."""
    summary = doc["summary"]
    lines = [
        f"# Run {doc['run']}",
        "",
        f"{summary['images']} images, {summary['published']} published, {summary['not_published']} not published"
        f" (commit {doc['vcs_ref']}, finished {doc['finished']}).",
        "",
        "| image | platform | digest | size | over the OS base | verify | scan | C/H/M/L |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for image in doc["images"]:
        for platform, entry in image["platforms"].items():
            findings = entry["findings"]
            counts = (
                "/".join(str(findings.get(s, 0)) for s in ("CRITICAL", "HIGH", "MEDIUM", "LOW")) if findings else ""
            )
            lines.append(
                f"| {image['target']} | {platform} | `{(entry['digest'] or '')[:19]}` | {_mb(entry['compressed_size'])}"
                f" | {_mb(entry['over_os_base'])} | {_mark(entry['verify'])} | {_mark(entry['scan'])} | {counts} |"
            )
    published = [i for i in doc["images"] if i["published"]]
    if published:
        lines += ["", "## Published", ""]
        for image in published:
            where = image["published"]
            lines.append(f"- **{image['target']}** `{where['repository']}@{where['digest']}`")
            lines.append(f"  - tags: {', '.join(f'`{r}`' for r in where['references'])}")
            lines.append(f"  - signature: `{where['signature']}`; attested: {', '.join(where['attestations'])}")
        notes_shown = [notes.markdown(notes.from_json(i["note"])) for i in published if i["note"]]
        if notes_shown:
            lines += ["", "## Why rebuilt", ""]
            lines += [text.replace("## ", "### ", 1).replace("\n### ", "\n#### ") for text in notes_shown]
    refused = [i for i in doc["images"] if i["not_published"]]
    if refused:
        lines += ["", "## Not published", ""]
        lines += [f"- **{i['target']}**: {i['not_published']}" for i in refused]
    return "\n".join(lines) + "\n"


def _mb(size: int | None) -> str:
    return "" if size is None else f"{size / 1e6:.1f} MB"


def _mark(verdict: Mapping[str, Any] | None) -> str:
    return "-" if verdict is None else ("ok" if verdict["passed"] else "FAILED")


def write(record: records.BuildRecord, directory: Path) -> dict[str, Path]:
    """report.json and report.md beside the record, each replaced atomically."""
    doc = document(record)
    paths = {"json": directory / "report.json", "markdown": directory / "report.md"}
    records.atomic_write(paths["json"], json.dumps(doc, indent=2, sort_keys=True) + "\n")
    records.atomic_write(paths["markdown"], markdown(doc))
    return paths
