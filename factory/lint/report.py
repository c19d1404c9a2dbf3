"""Findings as text (`file:line CODE severity: message`), JSON, or SARIF 2.1.0 for code-scanning UIs."""

from __future__ import annotations

import json
from typing import Any

from factory import __version__
from factory.lint import ignores, rules, tools
from factory.lint.model import HADOLINT, OWN, SHELLCHECK, TRIVY, Finding, Severity, Suppressed
from factory.lint.runner import Report

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SARIF_LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note", Severity.STYLE: "note"}
TOOL_URIS = {
    HADOLINT: "https://github.com/hadolint/hadolint",
    SHELLCHECK: "https://www.shellcheck.net",
    TRIVY: "https://trivy.dev",
}
# Codes the engine itself reports, beside the rule catalogue.
ENGINE_CODES = {
    tools.TOOL_MISSING: (Severity.ERROR, "a lint tool must be installed"),
    tools.TOOL_PARSE_FAILED: (Severity.ERROR, "a lint tool must be able to parse the file"),
    tools.TOOL_FAILED: (Severity.ERROR, "a lint tool must run to completion"),
    ignores.EXPIRED: (Severity.WARNING, "an ignore must not be past its expiry date"),
    ignores.NO_REASON: (Severity.WARNING, "an inline ignore must give its reason"),
}


def text(report: Report) -> str:
    """One line per standing finding, sorted by file and line."""
    return "".join(f"{finding}\n" for finding in report.findings)


def summary(report: Report, threshold: Severity) -> str:
    """A closing line: files, findings per severity, and the verdict at the threshold."""
    counts = report.counts()
    parts = [f"{counts[s.label]} {s.label}" for s in sorted(Severity, reverse=True) if counts[s.label]]
    found = ", ".join(parts) or "no findings"
    ignored = f", {counts['suppressed']} ignored" if counts["suppressed"] else ""
    failing = len(report.at_or_above(threshold))
    verdict = f"fail: {failing} at or above {threshold.label}" if failing else f"ok at {threshold.label}"
    files = f"{len(report.files)} file{'' if len(report.files) == 1 else 's'}"
    return f"{verdict} ({files}, {found}{ignored}; checked by {', '.join(report.sources)})"


def _finding_json(finding: Finding) -> dict[str, Any]:
    return {
        "file": finding.file,
        "line": finding.line,
        "code": finding.code,
        "severity": finding.severity.label,
        "message": finding.message,
        "source": finding.source,
    }


def as_json(report: Report, threshold: Severity) -> dict[str, Any]:
    """The stable JSON document of a run."""
    return {
        "ok": not report.failed(threshold),
        "failure_threshold": threshold.label,
        "files": list(report.files),
        "sources": list(report.sources),
        "counts": report.counts(),
        "findings": [_finding_json(f) for f in report.findings],
        "suppressed": [
            {**_finding_json(s.finding), "reason": s.reason, "ignored_at": s.where} for s in report.suppressed
        ],
    }


def json_text(report: Report, threshold: Severity) -> str:
    return json.dumps(as_json(report, threshold), indent=2) + "\n"


def _rules_of(source: str, results: list[Finding]) -> list[dict[str, Any]]:
    """Rule metadata for a run: the whole catalogue for our own source, the codes seen for a tool."""
    described: dict[str, tuple[Severity, str]] = {}
    if source == OWN:
        described.update({r.code: (r.severity, r.message) for r in rules.CATALOGUE})
    described.update(ENGINE_CODES)
    for finding in results:
        described.setdefault(finding.code, (finding.severity, finding.message))
    used = {f.code for f in results}
    return [
        {
            "id": code,
            "shortDescription": {"text": message},
            "defaultConfiguration": {"level": SARIF_LEVELS[severity]},
            "properties": {"severity": severity.label},
        }
        for code, (severity, message) in sorted(described.items())
        if source == OWN or code in used
    ]


def _result(finding: Finding, index: dict[str, int], suppression: Suppressed | None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": finding.code,
        "ruleIndex": index[finding.code],
        "level": SARIF_LEVELS[finding.severity],
        "message": {"text": finding.message},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": finding.file},
                    "region": {"startLine": max(finding.line, 1)},
                }
            }
        ],
        "properties": {"severity": finding.severity.label},
    }
    if suppression is not None:
        result["suppressions"] = [
            {
                "kind": "inSource" if suppression.inline else "external",
                "justification": suppression.reason,
                "location": {"physicalLocation": {"artifactLocation": {"uri": suppression.where.rsplit(":", 1)[0]}}},
            }
        ]
    return result


def sarif(report: Report) -> dict[str, Any]:
    """A SARIF 2.1.0 log: one run per source (our rules, hadolint, shellcheck, trivy), suppressions included."""
    runs = []
    for source in report.sources:
        standing = [f for f in report.findings if f.source == source]
        suppressed = [s for s in report.suppressed if s.finding.source == source]
        catalogue = _rules_of(source, [*standing, *(s.finding for s in suppressed)])
        index = {rule["id"]: number for number, rule in enumerate(catalogue)}
        results = [_result(f, index, None) for f in standing]
        results.extend(_result(s.finding, index, s) for s in suppressed)
        driver: dict[str, Any] = {"name": source, "rules": catalogue}
        if source in TOOL_URIS:
            driver["informationUri"] = TOOL_URIS[source]
        if source == OWN:
            driver["version"] = __version__
        runs.append({"tool": {"driver": driver}, "results": results, "columnKind": "utf16CodeUnits"})
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": runs}


def sarif_text(report: Report) -> str:
    return json.dumps(sarif(report), indent=2) + "\n"
