"""The commands that release images and tell about them: publish, prune, changelog, keys, report, site, run."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from factory import present
from factory.cli.common import (
    ALLOW_REMOVAL,
    FAILURE_THRESHOLD,
    OUTPUT,
    _ignore_file,
    _project,
    _record_option,
    _severity,
    _workspace,
)
from factory.errors import ExitCode

if TYPE_CHECKING:  # engine, lint and build modules load lazily: `validate` and `list` stay fast
    from factory.lint.runner import Report


@click.command()
@OUTPUT
@click.argument("targets", nargs=-1)
@_record_option
@click.option(
    "--to",
    "to",
    metavar="REGISTRY[/NAMESPACE]",
    default=None,
    help="Then copy what is published to another registry (digests, signatures, SBOMs unchanged).",
)
@ALLOW_REMOVAL
@click.pass_context
def publish(
    ctx: click.Context,
    output: str,
    targets: tuple[str, ...],
    record_path: Path | None,
    to: str | None,
    allow_removal: bool,
) -> None:
    """Promote what passed build, verify and scan (every platform) to its final tags, signed.

    By digest, never rebuilt: the staging index is copied into
    factory.yaml `publish.registry`/`publish.namespace` (default
    127.0.0.1:5000/base), signed with cosign (publish.signing_key, password
    from COSIGN_PASSWORD), each platform's SBOM attested, then tagged with
    one immutable dated tag and the definition's rolling tags. The tag map is
    printed before any write; publishing the same digest again writes
    nothing. With --to, what is published is then copied to another registry
    (namespace default: publish.namespace) with its digests, signature,
    attestations and attached SBOMs, and tagged the same; the signature is
    checked there. Exit 10 when a selected target was not published (why is
    listed).
    """
    from factory import pipeline, progress

    workspace = _workspace(ctx)
    path = pipeline.record_path(workspace.site, record_path)
    copied = None
    with progress.open_board() as board:
        outcome = pipeline.publish(workspace, path, board, targets, allow_removal=allow_removal)
        if to is not None and outcome.published:
            copied = pipeline.copy(workspace, path, board, to, [o.target for o in outcome.published])
    present.published(outcome, output, copied)
    if outcome.refused or not outcome.published:
        sys.exit(int(ExitCode.NOT_PUBLISHED))


@click.command()
@OUTPUT
@click.option(
    "--older-than",
    "days",
    type=click.IntRange(1, 3650),
    default=14,
    show_default=True,
    metavar="DAYS",
    help="Delete the staging tags and build caches of runs that started more than DAYS days ago.",
)
@click.option("--dry-run", is_flag=True, help="Only list what would be deleted, and what is kept and why.")
@click.pass_context
def prune(ctx: click.Context, output: str, days: int, dry_run: bool) -> None:
    """Delete old staging tags and build caches from the registry; never what a final tag, a pin or the latest
    run points at.

    A registry deletes manifests, so a digest goes only when every tag on it
    may go. Disk space comes back when the registry's garbage collection runs.
    """
    from factory import pipeline, progress

    workspace = _workspace(ctx)
    with progress.open_board() as board:
        outcome = pipeline.prune(workspace, board, days, dry_run=dry_run)
    present.pruned(outcome, output)


@click.command()
@click.option("--output", "-o", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.argument("reference", metavar="IMAGE:TAG")
@click.pass_context
def changelog(ctx: click.Context, output: str, reference: str) -> None:
    """The history of a published tag (e.g. python:3.13): every digest it named, newest first, and why.

    Read from the registry: the immutable dated tags of that tag and the
    signed why-rebuilt note of each digest (reasons, package changes,
    vulnerabilities fixed and introduced, size), checked with the public key.
    """
    from factory import pipeline

    repository, releases = pipeline.changelog(_workspace(ctx), reference)
    present.changelog(repository, releases, output)


@click.group(name="keys")
def keys_group() -> None:
    """The cosign key pair publish signs with."""


@keys_group.command(name="generate")
@OUTPUT
@click.option("--force", is_flag=True, help="Replace an existing key pair.")
@click.pass_context
def keys_generate(ctx: click.Context, output: str, force: bool) -> None:
    """Make a cosign key pair at factory.yaml publish.signing_key (default ~/.config/factory/cosign.key).

    The private key is encrypted with COSIGN_PASSWORD (empty when unset);
    the public key (`.pub` beside it) is what consumers verify with.
    """
    from factory import publish as publishing
    from factory.process import Runner

    workspace = _workspace(ctx)
    key = publishing.generate_key(workspace.site.publish.key_path, Runner(), force=force)
    if output == "json":
        present.echo_json({"ok": True, "private_key": str(key.private), "public_key": str(key.public)})
    else:
        click.echo(f"wrote {key.private} (private, 0600) and {key.public} (public)")


@click.command(name="run")
@OUTPUT
@FAILURE_THRESHOLD
@click.option("--no-cache", is_flag=True, help="Run every build step again.")
@click.option("--plan", "use_plan", is_flag=True, help="Build only what `factory plan` chose (nothing if empty).")
@ALLOW_REMOVAL
@click.pass_context
def run_main_job(
    ctx: click.Context, output: str, failure_threshold: str, no_cache: bool, use_plan: bool, allow_removal: bool
) -> None:
    """The main job: validate, render --check, lint, build, verify, scan, publish, report, site.

    Needs the engine (`factory engine up` first). Each stage runs only after
    the one before passed; the exit code is the first failing stage's (3, 1,
    6, 7, 8, 9, 10). Once the build has a record, the report
    (.factory/builds/<run>/report.md and report.json) is written whatever
    happens next: every image with its final tags, digests, sizes, checks,
    findings and signature, and what was not published and why; then the
    catalogue site (.factory/site/, see `factory site`). On the
    embedded defaults a signing key is generated under ~/.config/factory.
    With --plan, only what the rebuild plan chose is built; an empty plan
    builds and pushes nothing and says "nothing to rebuild" (exit 0). One
    main job at a time per state directory (a second waits).
    """
    from factory import pipeline, progress

    workspace = pipeline.validate(_project(ctx))
    threshold = _severity(failure_threshold)

    def lint_passes(report: Report) -> bool:
        from factory.lint import tools

        present.lint(report, threshold, "text", only_failing=True, err=output == "json")
        problem = tools.missing(report.findings)
        if problem is not None:
            raise problem
        return not report.failed(threshold)

    ignore_file = _ignore_file(workspace.project.root, None)
    with progress.open_board() as board:
        job = pipeline.main_job(
            workspace,
            board,
            lint_passes,
            ignore_file=ignore_file,
            no_cache=no_cache,
            use_plan=use_plan,
            allow_removal=allow_removal,
        )
    if job.record_path is None:
        present.planned(job.plan, output)
        return
    present.reported(job.reports, output)


@click.command(name="site")
@OUTPUT
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory to write (default: .factory/site/); one already there is replaced only if `factory site` wrote it.",
)
@click.option(
    "--record",
    "record_paths",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A build record to draw from (repeatable; default: every run's under .factory/builds/).",
)
@click.pass_context
def site_pages(ctx: click.Context, output: str, out: Path | None, record_paths: tuple[Path, ...]) -> None:
    """Write the catalogue site: static pages about every image, from the build records.

    An index of every image (tags, platforms, digests, sizes, vulnerability
    counts, signature, last rebuild and why, end of life; filterable), the
    graph of which image is built FROM which, and a page per image: the
    commands to pull it by digest, verify its signature and fetch its SBOM,
    size charts against the OS base and the official images
    (data/official-sizes.yaml), the history of each tag with the
    why-rebuilt notes, the findings with their suppressions, the packages
    and the rendered Dockerfile. Self-contained (nothing is fetched when
    viewed): open index.html from disk or serve the directory from any web
    server. The data is site.json beside it (--output json prints it); the
    directory is replaced all at once. `factory run` writes it at its end.
    """
    from factory import pipeline

    present.site_written(pipeline.write_site(_workspace(ctx), out, record_paths), output)


@click.command()
@click.option(
    "--output",
    "-o",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
    help="text or markdown: the Markdown report; json: the report document (the catalogue site's data).",
)
@_record_option
@click.pass_context
def report(ctx: click.Context, output: str, record_path: Path | None) -> None:
    """Write and print the report of a run: final tags, digests, sizes, checks, findings, signatures.

    Made from the build record (and the scan report it names) alone, so it
    can be made again for any run; written as report.json and report.md
    beside the record. `factory run` writes it at its end.
    """
    from factory import pipeline

    workspace = _workspace(ctx)
    present.reported(pipeline.report(workspace, pipeline.record_path(workspace.site, record_path)), output)
