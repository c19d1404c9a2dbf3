"""The scan's reports: JSON (stable), Markdown (for $GITHUB_STEP_SUMMARY) and SARIF 2.1.0 (code scanning).

JSON, Markdown and the terminal table say, per image and platform, the
counts by severity x fixable x origin, every failing finding with package,
installed and fixed version, and every suppressed one with its reason and
its exception's expiry; SARIF holds what fails the gate. All of them name
the vulnerability DB the results came from, because results change when
the DB does.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from factory import __version__
from factory import record as records
from factory.errors import EnvironmentProblem
from factory.scan import IMAGE_CONFIG, DbInfo, ImageScan, as_json, rank
from factory.schema import SEVERITIES
from factory.site import ScanSettings

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_LIMIT = 25000  # GitHub code scanning keeps at most this many results per run
SARIF_LEVELS = {"CRITICAL": "error", "HIGH": "error", "MEDIUM": "warning", "LOW": "note", "UNKNOWN": "note"}


def write(
    directory: Path, scans: Sequence[ImageScan], db: DbInfo, states: dict[str, str], settings: ScanSettings
) -> dict[str, Path]:
    """scan.json, scan.md and scan.sarif beside the record; the paths by format."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"json": directory / "scan.json", "markdown": directory / "scan.md", "sarif": directory / "scan.sarif"}
    records.atomic_write(paths["json"], json.dumps(as_json(scans, db, states), indent=2) + "\n")
    records.atomic_write(paths["markdown"], markdown(scans, db, states))
    records.atomic_write(paths["sarif"], json.dumps(sarif(scans, settings, db), indent=2) + "\n")
    return paths


def _db_line(db: DbInfo) -> str:
    return f"vulnerability DB: version {db.version}, updated {db.updated_at}, next update {db.next_update}"


def table(scans: Sequence[ImageScan], db: DbInfo) -> str:
    """The terminal view: one line per image and platform with counts, then what fails and what is suppressed."""
    lines = [_db_line(db), f"{'image':<28} {'platform':<12} {'gate':<7} {'crit':>4} {'high':>4} {'med':>4} {'low':>4}"]
    for scan in scans:
        counts = _by_severity(scan)
        gate = "pass" if scan.passed else "FAIL"
        lines.append(
            f"{scan.target:<28} {scan.platform:<12} {gate:<7} {counts['CRITICAL']:>4} {counts['HIGH']:>4}"
            f" {counts['MEDIUM']:>4} {counts['LOW']:>4}"
        )
        lines += [f"    fails: {reason}" for reason in scan.failing]
        lines += [f"    warns: {reason}" for reason in scan.warnings]
        lines += [
            f"    suppressed: {f.id} {f.package} ({f.suppressed}: {f.statement}; expires {f.expires or '?'})"
            for f in scan.findings
            if f.suppressed
        ]
    return "\n".join(lines) + "\n"


def _by_severity(scan: ImageScan) -> dict[str, int]:
    counts = dict.fromkeys(SEVERITIES, 0)
    for finding in scan.findings:
        if not finding.suppressed:
            counts[finding.severity if finding.severity in counts else "UNKNOWN"] += 1
    return counts


def markdown(scans: Sequence[ImageScan], db: DbInfo, states: dict[str, str]) -> str:
    """A summary fit for $GITHUB_STEP_SUMMARY."""
    passed = bool(scans) and all(s.passed for s in scans)
    out = [
        f"## Security gate: {'passed' if passed else 'FAILED'}",
        "",
        f"_{_db_line(db)}_",
        "",
        "| image | platform | gate | severity | fixable/own | fixable/base | unfixed/own | unfixed/base |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for scan in scans:
        counts = scan.counts()
        gate = "pass" if scan.passed else "**FAIL**"
        for severity in sorted(counts, key=rank, reverse=True) or ["-"]:
            row = counts.get(severity, {})
            cells = [str(row.get(k, 0)) for k in ("fixable/own", "fixable/base", "unfixed/own", "unfixed/base")]
            out.append(f"| {scan.target} | {scan.platform} | {gate} | {severity} | {' | '.join(cells)} |")
    failing = [(s, f) for s in scans for f in s.violations]
    if failing or any(s.secrets for s in scans):
        out += ["", "### Failing", "", "| image | platform | id | package | installed | fixed | severity | remedy |"]
        out.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for scan, f in failing:
            out.append(
                f"| {scan.target} | {scan.platform} | {f.id} | {f.package} | {f.installed} | {f.fixed or '-'}"
                f" | {f.severity} | {f.remedy} |"
            )
        for scan in scans:
            for secret in scan.secrets:
                out.append(
                    f"| {scan.target} | {scan.platform} | secret {secret.rule} | {secret.file}:{secret.line} | | |"
                    f" {secret.severity} | remove it from the image |"
                )
    suppressed = [(s, f) for s in scans for f in s.findings if f.suppressed]
    if suppressed or states:
        out += ["", "### Exceptions", "", "| id | state |", "| --- | --- |"]
        out += [f"| {exception} | {state} |" for exception, state in sorted(states.items())]
        if suppressed:
            out += ["", "| image | platform | id | package | how | reason | expires |"]
            out.append("| --- | --- | --- | --- | --- | --- | --- |")
            out += [
                f"| {s.target} | {s.platform} | {f.id} | {f.package} | {f.suppressed} | {f.statement}"
                f" | {f.expires or '?'} |"
                for s, f in suppressed
            ]
    warnings = [(s, w) for s in scans for w in s.warnings]
    if warnings:
        out += ["", "### Warnings", ""] + [f"- {s.target} {s.platform}: {w}" for s, w in warnings]
    return "\n".join(out) + "\n"


def sarif(scans: Sequence[ImageScan], settings: ScanSettings, db: DbInfo | None = None) -> dict[str, Any]:
    """A SARIF 2.1.0 log of what fails the gate (violations and secrets), within GitHub's result limit.

    A vulnerability points at the rendered Dockerfile; a secret at its file inside the image (with its
    line), or at the Dockerfile when trivy found it in the image's config and history (a RUN line)."""
    rules: dict[str, dict[str, Any]] = {}
    results: list[dict[str, Any]] = []
    for scan in scans:
        image = f"{scan.target}@{scan.digest}"
        for finding in scan.violations:
            level = SARIF_LEVELS.get(finding.severity, "warning")
            rules.setdefault(finding.id, _rule(finding.id, finding.title or finding.id, level, finding.severity))
            results.append(
                {
                    "ruleId": finding.id,
                    "level": level,
                    "message": {
                        "text": f"{scan.target} ({scan.platform}): {finding.package} {finding.installed}"
                        f" is vulnerable ({finding.severity}); {finding.remedy}"
                    },
                    "locations": [_location(scan.dockerfile or scan.target, image)],
                    "properties": {"purl": finding.purl, "origin": finding.origin, "fixed": finding.fixed},
                }
            )
        for secret in scan.secrets:
            rule = f"secret/{secret.rule}"
            rules.setdefault(rule, _rule(rule, f"secret: {secret.title or secret.rule}", "error", secret.severity))
            in_file = secret.file != IMAGE_CONFIG
            results.append(
                {
                    "ruleId": rule,
                    "level": "error",  # a secret always fails the gate, whatever its severity
                    "message": {
                        "text": f"{scan.target} ({scan.platform}): {secret.title or secret.rule} ({secret.category},"
                        f" {secret.severity}) in {secret.file}{f':{secret.line}' if in_file else ''};"
                        " remove it from the image"
                    },
                    "locations": [
                        _location(secret.file, image, secret.line)
                        if in_file
                        else _location(scan.dockerfile or scan.target, f"{image}, {IMAGE_CONFIG}")
                    ],
                    "properties": {"category": secret.category, "severity": secret.severity},
                }
            )
    truncated = len(results) > SARIF_LIMIT
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "factory-scan", "version": __version__, "rules": list(rules.values())}},
        "results": results[:SARIF_LIMIT],
    }
    properties: dict[str, Any] = {}
    if db is not None:
        properties["vulnerabilityDb"] = {"version": db.version, "updatedAt": db.updated_at}
    if truncated:
        properties.update({"truncated": True, "total": len(results)})
    if properties:
        run["properties"] = properties
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def _rule(rule_id: str, text: str, level: str, severity: str) -> dict[str, Any]:
    return {
        "id": rule_id,
        "shortDescription": {"text": text},
        "defaultConfiguration": {"level": level},
        "properties": {"security-severity": _security_severity(severity)},
    }


def _location(uri: str, where: str, line: int = 0) -> dict[str, Any]:
    """A result's location: a file (with its line when known) and, as its message, the image it is in."""
    physical: dict[str, Any] = {"artifactLocation": {"uri": uri}}
    if line > 0:
        physical["region"] = {"startLine": line}
    return {"physicalLocation": physical, "message": {"text": where}}


def _security_severity(severity: str) -> str:
    return {"CRITICAL": "9.5", "HIGH": "8.0", "MEDIUM": "5.5", "LOW": "2.0"}.get(severity, "0.0")


def entries(files: Iterable[str], *, strict: bool) -> dict[tuple[str, str], dict[str, Any]]:
    """(target, platform) -> that image's entry in the scan reports at `files` (scan.json); a report that
    cannot be read is an EnvironmentProblem when `strict`, else left out."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for file in sorted(set(files)):
        try:
            report = json.loads(Path(file).read_text())
        except (OSError, ValueError) as exc:
            if strict:
                raise EnvironmentProblem(f"cannot read the scan report {file}: {exc}") from exc
            continue
        for image in report.get("images", []):
            found[(str(image.get("target")), str(image.get("platform")))] = image
    return found
