"""What the CLI shows: text for people, JSON (and SARIF) for scripts, one place for each command.

Colour only on a terminal, never with NO_COLOR or TERM=dumb; JSON goes to
stdout alone (progress and notes go to stderr), so `--output json` is always
one parseable document, errors included.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import click

from factory import __version__
from factory.errors import DefinitionError, FactoryError, Problem, UsageProblem

if TYPE_CHECKING:
    from factory import model
    from factory import record as records
    from factory.engine import Status
    from factory.lint.model import Severity
    from factory.lint.runner import Report
    from factory.osbase import Rootfs
    from factory.pipeline import (
        CopyOutcome,
        LockOutcome,
        PruneOutcome,
        PublishOutcome,
        ScanOutcome,
        SiteOutcome,
        Verification,
    )
    from factory.preview import Preview


def colour_enabled(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """True when `stream` is a terminal and nobody asked for plain text (NO_COLOR, TERM=dumb)."""
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR") or env.get("TERM", "").lower() == "dumb":
        return False
    try:
        return stream.isatty()
    except (ValueError, OSError):
        return False


def style(text: str, colour: str, *, err: bool = True, bold: bool = False) -> str:
    """`text` in `colour` when the stream it goes to shows colour, else unchanged."""
    stream = sys.stderr if err else sys.stdout
    return click.style(text, fg=colour, bold=bold) if colour_enabled(stream) else text


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))


# -- errors ----------------------------------------------------------------------------------


def error_json(exc: FactoryError | click.ClickException | None, code: int, message: str) -> dict[str, Any]:
    """The JSON document of a failed command: stable keys ok, exit_code, error, message (and problems)."""
    result: dict[str, Any] = {"ok": False, "exit_code": code, "error": type(exc).__name__ if exc else "InternalError"}
    if isinstance(exc, DefinitionError):
        result["problems"] = [_problem_json(p) for p in exc.problems]
    result["message"] = message
    return result


def _problem_json(problem: Problem) -> dict[str, Any]:
    return {"file": problem.file, "line": problem.line, "field": problem.field, "message": problem.message}


def error_sarif(code: int, message: str) -> dict[str, Any]:
    """A SARIF 2.1.0 log of a lint run that could not be carried out: no results, the reason as a notification."""
    from factory.lint.report import SARIF_SCHEMA

    invocation = {
        "executionSuccessful": False,
        "exitCode": code,
        "toolExecutionNotifications": [{"level": "error", "message": {"text": message}}],
    }
    driver = {"name": "factory", "version": __version__}
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{"tool": {"driver": driver}, "invocations": [invocation], "results": []}],
    }


def error(exc: FactoryError | click.ClickException | None, code: int, message: str, output: str) -> None:
    """Show a failure in the command's output format: JSON/SARIF on stdout, else `error: ...` lines on stderr."""
    if output == "json":
        echo_json(error_json(exc, code, message))
    elif output == "sarif":
        echo_json(error_sarif(code, message))
    else:
        prefix = style("error: ", "red", bold=True)
        click.echo(prefix + message.replace("\n", "\n" + prefix), err=True)


# -- definitions and rendering ---------------------------------------------------------------


def validated(catalogue: model.Catalogue, warnings: Iterable[Problem], output: str) -> None:
    """The verdict, and the warnings that do not fail it (versions ending soon or kept past their end of life)."""
    stacks = [s for s in catalogue.stacks if s != "os"]
    if output == "json":
        echo_json(
            {
                "ok": True,
                "os": catalogue.os.id,
                "stacks": list(catalogue.stacks),
                "targets": len(catalogue.targets),
                "warnings": [_problem_json(w) for w in warnings],
            }
        )
        return
    for warning in warnings:
        click.echo(style("warning: ", "yellow", bold=True) + str(warning), err=True)
    click.echo(f"ok: {catalogue.os.id} and {len(stacks)} stacks, {len(catalogue.targets)} targets are valid")


def matrix(rows: list[dict[str, Any]], output: str) -> None:
    if output == "json":
        echo_json(rows)
        return
    for row in rows:
        platforms, tags = ",".join(row["platforms"]), " ".join(row["tags"])
        click.echo(f"{row['id']:<28} {platforms:<24} {tags:<28} rendered/{row['dockerfile']}")


def drift(difference: str, files: int, output: str) -> None:
    if output == "json":
        echo_json({"ok": not difference, "stale": bool(difference), "diff": difference})
    elif difference:
        click.echo(difference, nl=False)
        click.echo(
            style("error: ", "red", bold=True) + "rendered/ is stale: run `factory render` and commit the result",
            err=True,
        )
    else:
        click.echo(f"ok: rendered/ is up to date ({files} files)")


def locked(outcome: LockOutcome, output: str, *, check: bool) -> None:
    """What moved in factory.lock (one line per fact), then the verdict; --check fails on any difference."""
    changes = [{"what": c.what, "old": c.old, "new": c.new} for c in outcome.changes]
    counts = {section: len(outcome.document[section]) for section in ("targets", "downloads", "images")}
    packages = sum(len(by_name) for by_arch in outcome.document["packages"].values() for by_name in by_arch.values())
    if output == "json":
        echo_json(
            {
                "ok": outcome.current or not check,
                "file": str(outcome.path),
                "current": outcome.current,
                "existed": outcome.existed,
                "written": outcome.written,
                "changes": changes,
                "packages": packages,
                **counts,
            }
        )
        return
    for change in outcome.changes:
        if change.old is None:
            click.echo(f"+ {change.what}" + (f": {change.new}" if change.new else ""))
        elif change.new is None:
            click.echo(f"- {change.what}" + (f": {change.old}" if change.old else ""))
        else:
            click.echo(f"~ {change.what}: {change.old} -> {change.new}")
    name = outcome.path.name
    summary = f"{packages} packages of {counts['targets']} targets, {counts['downloads']} with downloads"
    if outcome.current:
        click.echo(f"ok: {name} is current ({summary})")
    elif check:
        what = f"{len(outcome.changes)} changes" if outcome.existed else "it does not exist"
        click.echo(style("error: ", "red", bold=True) + f"{name} is stale ({what}): run `factory lock`", err=True)
    else:
        click.echo(f"wrote {outcome.path} ({summary}; {len(outcome.changes)} changes)")


def rendered(files: int, changed: list[str], report: Report | None, threshold: Severity, output: str) -> None:
    failed = report is not None and report.failed(threshold)
    if output == "json":
        result: dict[str, Any] = {"ok": not failed, "files": files, "changed": changed}
        if report is not None:
            from factory.lint import report as lint_report

            result["lint"] = lint_report.as_json(report, threshold)
        echo_json(result)
        return
    for path in changed:
        click.echo(f"wrote rendered/{path}")
    click.echo(f"ok: {files} files rendered, {len(changed)} changed")
    if report is not None:
        # render shows what fails; the summary still counts everything (`factory lint` lists it all)
        lint(report, threshold, "text", only_failing=True)


def lint(report: Report, threshold: Severity, output: str, *, only_failing: bool = False, err: bool = False) -> None:
    """Findings (all, or with `only_failing` those at or above the threshold) and the verdict line."""
    from factory.lint import report as lint_report

    if output == "json":
        click.echo(lint_report.json_text(report, threshold), nl=False)
        return
    if output == "sarif":
        click.echo(lint_report.sarif_text(report), nl=False)
        return
    shown = report if not only_failing else dataclasses.replace(report, findings=report.at_or_above(threshold))
    click.echo(lint_report.text(shown), nl=False, err=err)
    verdict = lint_report.summary(report, threshold)
    word, rest = verdict.split(" ", 1)
    click.echo(style(word, "red" if report.failed(threshold) else "green") + " " + rest, err=True)


SUMMARY_LIMIT = 1_000_000  # characters; GitHub refuses a step summary over 1 MiB


def preview(
    result: Preview, threshold: Severity, output: str, *, full: Path | None = None, summary: Path | None = None
) -> None:
    """The PR preview: Markdown within the comment budget (or JSON) on stdout; the whole Markdown to `full`,
    and appended to the step summary `summary`."""
    from factory import preview as previewing

    if full is not None:
        _write(full, previewing.markdown(result, threshold, budget=None), "--full")
    if summary is not None:
        _write(summary, previewing.markdown(result, threshold, budget=SUMMARY_LIMIT), "GITHUB_STEP_SUMMARY", "a")
    if output == "json":
        echo_json(previewing.document(result, threshold))
    else:
        click.echo(previewing.markdown(result, threshold), nl=False)


def _write(path: Path, text: str, what: str, mode: str = "w") -> None:
    try:
        with path.open(mode, encoding="utf-8") as out:
            out.write(text)
    except OSError as exc:
        raise UsageProblem(f"{what}: cannot write {path}: {exc.strerror or exc}") from exc


def pinned(written: Path, changed: list[str], output: str) -> None:
    if output == "json":
        echo_json({"ok": True, "file": str(written), "changed": changed})
        return
    for target_id in changed:
        click.echo(f"pinned {target_id}")
    click.echo(f"ok: {written} ({len(changed)} changed); run `factory render` to use them")


# -- the engine ----------------------------------------------------------------------------------


def engine_status(status: Status, output: str) -> None:
    if output == "json":
        echo_json(status.to_json())
        return
    data = status.to_json()
    click.echo(f"factory engine{f' node {status.node}' if status.node else ''} ({status.host}, prefix {status.prefix})")
    for name, c in data["components"].items():
        pid = f"pid {c['pid']}  " if c["pid"] else ""
        click.echo(f"  {name:<11} {c['state']:<14} {pid}{c['endpoint']}")
    b = data["binfmt"]
    click.echo(f"  {'binfmt':<11} {b['name']}: {b['state']}  flags {b['flags'] or '-'}  {b['interpreter']}")
    engine = data["engine"]
    if engine:
        click.echo(
            f"  {'engine':<11} {engine['version']} (API {engine['api_version']}), image store {engine['image_store']}"
        )
        click.echo(f"  {'buildx':<11} {engine['buildx_version']}, builder default: {', '.join(engine['platforms'])}")
    reachable = "reachable" if status.registry_reachable else "NOT reachable"
    click.echo(f"  {'registry':<11} http://{status.registry} {reachable}")
    click.echo(
        f"  {'use':<11} export DOCKER_HOST={status.env['DOCKER_HOST']} DOCKER_CONFIG={status.env['DOCKER_CONFIG']}"
    )
    for warning in status.warnings:
        click.echo(f"warning: {warning}", err=True)
    for problem in status.problems:
        click.echo(f"not ready: {problem}", err=True)
    click.echo("ready" if status.ready else "NOT READY")


def bootstrapped(results: Iterable[Rootfs], output: str) -> None:
    items: list[dict[str, Any]] = [
        {"arch": r.arch, "path": str(r.path), "key": r.key, "cached": r.cached, "bytes": r.path.stat().st_size}
        for r in results
    ]
    if output == "json":
        echo_json(items)
        return
    for item in items:
        cached = ", cached" if item["cached"] else ""
        click.echo(f"{item['arch']}: {item['path']} ({item['bytes'] / 1e6:.1f} MB{cached})")


# -- builds and verdicts ---------------------------------------------------------------------------


def built(record: records.BuildRecord, path: Path, output: str) -> None:
    """Per target its status and the digest (built) or the reason (failed, skipped); then where the record is."""
    from factory.record import Status

    if output == "json":
        click.echo(json.dumps(record.to_json(), indent=2, sort_keys=True))
        return
    for result in record.targets:
        detail = result.digest if result.status == Status.BUILT else result.reason
        click.echo(f"{result.status:<8} {result.id:<28} {detail}")
    click.echo(f"record: {path}")


def verified(verification: Verification, output: str) -> None:
    if output == "json":
        echo_json(
            [
                {
                    "target": r.target,
                    "platform": r.platform,
                    "passed": r.passed,
                    "checks": [dataclasses.asdict(c) for c in r.checks],
                }
                for r in verification.results
            ]
        )
        return
    for r in verification.results:
        state = "ok" if r.passed else style("FAILED", "red", err=False)
        click.echo(f"{state:<7} {r.target:<28} {r.platform}")
        for c in r.checks:
            if not c.passed:
                click.echo(f"        {c.name}: {c.detail}")
    click.echo(f"results: {verification.report}")


def internal(exc: BaseException) -> str:
    return f"internal error: {type(exc).__name__}: {exc} (set FACTORY_DEBUG=1 for a traceback)"


def scanned(outcome: ScanOutcome, output: str, reports: Any) -> None:
    """The gate's result in the chosen format (the files themselves are beside the record)."""
    if output == "json":
        click.echo(outcome.reports["json"].read_text(), nl=False)
        return
    if output in ("sarif", "markdown"):
        click.echo(outcome.reports[output].read_text(), nl=False)
        return
    click.echo(reports.table(outcome.scans, outcome.db), nl=False)
    for exception, state in sorted(outcome.exceptions.items()):
        click.echo(f"exception {exception}: {state}")
    verdict = "passed" if outcome.passed else "FAILED"
    colour = "green" if outcome.passed else "red"
    click.echo(style(f"gate {verdict}", colour, err=False) + f" (reports: {outcome.reports['json'].parent})")


def status(record: records.BuildRecord, output: str) -> None:
    """target x platform x (built, verified, scanned)."""
    rows = []
    for target in record.targets:
        for platform in target.platforms or ["-"]:
            row: dict[str, Any] = {"target": target.id, "platform": platform, "built": str(target.status)}
            for stage in ("verify", "scan"):
                verdict = target.verdicts.get(stage, {}).get(platform)
                row[stage] = None if verdict is None else {"passed": verdict.passed, "summary": verdict.summary}
            rows.append(row)
    if output == "json":
        echo_json({"run": record.run_id, "images": rows})
        return
    click.echo(f"run {record.run_id} (record schema {record.schema})")
    click.echo(f"{'target':<28} {'platform':<12} {'built':<8} {'verified':<9} {'scanned':<8} findings")
    for row in rows:
        verify, scan = row["verify"], row["scan"]
        findings = scan["summary"] if scan else ""
        marks = f"{_mark(verify):<9} {_mark(scan):<8}"
        click.echo(f"{row['target']:<28} {row['platform']:<12} {row['built']:<8} {marks} {findings}")


def _mark(verdict: dict[str, Any] | None) -> str:
    return "-" if verdict is None else ("ok" if verdict["passed"] else "FAILED")


def published(outcome: PublishOutcome, output: str, copied: CopyOutcome | None = None) -> None:
    """Each promoted target with its references (and copies), and what was not published and why."""
    copies = [
        {
            "target": item.target,
            "repository": item.destination,
            "digest": item.digest,
            "references": [f"{item.destination}:{m.tag}" for m in item.moves],
            "writes": writes,
        }
        for item, writes in (copied.copies if copied else [])
    ]
    if output == "json":
        echo_json(
            {
                "copied": copies,
                "ok": outcome.passed,
                "published": [
                    {
                        "target": o.target,
                        "repository": o.repository,
                        "digest": o.digest,
                        "immutable_tag": o.immutable,
                        "tags": o.tags,
                        "references": [f"{o.repository}:{t}" for t in (o.immutable, *o.tags)],
                        "writes": o.writes,
                    }
                    for o in outcome.published
                ],
                "not_published": [{"target": t, "reason": r} for t, r in sorted(outcome.refused.items())],
            }
        )
        return
    for o in outcome.published:
        state = "published" if o.writes else "unchanged"
        click.echo(f"{state:<10} {o.target:<28} {o.repository}@{o.digest}")
        click.echo(f"           tags: {', '.join((o.immutable, *o.tags))}")
    for copy in copies:
        state = "copied" if copy["writes"] else "unchanged"
        click.echo(f"{state:<10} {copy['target']:<28} {copy['repository']}@{copy['digest']}")
    for target, reason in sorted(outcome.refused.items()):
        click.echo(f"{style('NOT PUBLISHED', 'red', err=False)} {target}: {reason}")


def reported(reports: dict[str, Path], output: str) -> None:
    """A run's report: the JSON document, or the Markdown for people (both files are beside the record)."""
    click.echo(reports["json" if output == "json" else "markdown"].read_text(), nl=False)


def site_written(outcome: SiteOutcome, output: str) -> None:
    """The site's data (site.json's document), or where it went and what it holds; a record left out is said."""
    for why in outcome.skipped:
        click.echo(style(f"left out: {why}", "yellow"), err=True)
    if output == "json":
        echo_json(outcome.document)
        return
    summary = outcome.document["summary"]
    runs = len(outcome.document["site"]["runs"])
    click.echo(
        f"wrote {outcome.directory}/index.html and {summary['images']} image pages"
        f" ({summary['published']} published) from {runs} run{'' if runs == 1 else 's'}"
    )


def pruned(outcome: PruneOutcome, output: str) -> None:
    """What prune deleted (or would delete) and the old tags it kept, with why."""
    deleted = [
        {"repository": d.repository, "digest": d.digest, "tags": list(d.tags), "why": d.why} for d in outcome.deleted
    ]
    if output == "json":
        echo_json({"ok": True, "dry_run": outcome.dry_run, "deleted": deleted, "kept": outcome.kept})
        return
    verb = "would delete" if outcome.dry_run else "deleted"
    for item in deleted:
        click.echo(f"{verb} {item['repository']}@{item['digest'][:19]} ({', '.join(item['tags'])}): {item['why']}")
    for line in outcome.kept:
        click.echo(f"kept {line}")
    done = "would be deleted" if outcome.dry_run else "deleted"
    click.echo(f"{len(deleted)} manifests {done}, {len(outcome.kept)} old tags kept")


def planned(result: Any, output: str) -> None:
    """The rebuild plan: text, JSON, Markdown (a PR comment or step summary) or GitHub job matrices."""
    if output == "json":
        echo_json(result.to_json())
        return
    if output == "github-matrix":
        click.echo(json.dumps(result.matrix(), sort_keys=True))
        return
    markdown = output == "markdown"
    lines: list[str] = []
    if not result.rebuild:
        lines.append(f"nothing to rebuild ({result.date})")
    elif markdown:
        lines += ["| image | platforms | reasons | wave |", "| --- | --- | --- | --- |"]
        for entry in result.rebuild:
            reasons = "<br>".join(r.line() for r in entry.reasons if r.triggers)
            lines.append(f"| {entry.target} | {', '.join(entry.platforms)} | {reasons} | {entry.wave} |")
    else:
        for number, wave in enumerate(result.waves):
            lines.append(f"wave {number}:")
            for entry in wave:
                lines.append(f"  rebuild {entry.target} ({', '.join(entry.platforms)})")
                lines += [f"    - {r.line()}" for r in entry.reasons if r.triggers]
    if result.unchanged:
        lines.append("" if not markdown else "\nUnchanged:\n")
        for entry in result.unchanged:
            noted = "; ".join(r.line() for r in entry.reasons)
            built = entry.last_built or "unknown"
            lines.append(
                f"{'- ' if markdown else '  '}{entry.target}: last built {built}" + (f" ({noted})" if noted else "")
            )
    click.echo("\n".join(lines))


def changelog(repository: str, releases: list[Any], output: str) -> None:
    """A tag's history: each immutable tag with its digest and note (JSON, or the notes' Markdown)."""
    from factory import notes

    if output == "json":
        echo_json({"repository": repository, "releases": [dataclasses.asdict(r) for r in releases]})
        return
    if not releases:
        click.echo(f"{repository}: no release yet")
        return
    for release in releases:
        click.echo(
            f"# {repository}:{release.tag} {release.digest}"
            if output == "markdown"
            else f"{release.tag} {release.digest}"
        )
        if release.note is None:
            click.echo("(no signed note)")
        else:
            click.echo(notes.markdown(notes.from_json(release.note)))
