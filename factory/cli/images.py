"""The commands that make and judge images: os, build, verify, scan, plan, status, pin."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from factory import present
from factory.cli.common import OUTPUT, _bases, _project, _record_option, _workspace
from factory.errors import ExitCode

if TYPE_CHECKING:  # engine, lint and build modules load lazily: `validate` and `list` stay fast
    pass


@click.group(name="os")
def os_group() -> None:
    """The unified OS base: bootstrap its root filesystem per architecture."""


@os_group.command(name="build")
@click.option("--platform", "platforms", multiple=True, help="Only these platforms (default: all of the OS).")
@click.option("--refresh", is_flag=True, help="Bootstrap again even if a cached rootfs is still fresh.")
@OUTPUT
@click.pass_context
def os_build(ctx: click.Context, platforms: tuple[str, ...], refresh: bool, output: str) -> None:
    """Bootstrap the OS root filesystems and build the multi-arch OS base image (= `build os:<release>`)."""
    workspace = _workspace(ctx)
    ctx.invoke(
        build,
        output=output,
        targets=(workspace.catalogue.os.id,),
        platforms=platforms,
        refresh_os=refresh,
        no_cache=False,
    )


@os_group.command(name="bootstrap")
@OUTPUT
@click.option("--platform", "platforms", multiple=True, help="Only these platforms (default: all of the OS).")
@click.option("--refresh", is_flag=True, help="Bootstrap again even if a cached rootfs is still fresh.")
@click.pass_context
def os_bootstrap(ctx: click.Context, output: str, platforms: tuple[str, ...], refresh: bool) -> None:
    """Bootstrap (or reuse) the OS root filesystem tarballs with mmdebstrap."""
    from factory import pipeline, progress

    workspace = _workspace(ctx)
    with progress.open_board() as board:
        results = pipeline.bootstrap(workspace, board, platforms, refresh=refresh)
    present.bootstrapped(results, output)


@click.command()
@OUTPUT
@click.argument("targets", nargs=-1)
@click.option("--platform", "platforms", multiple=True, help="Only these platforms (default: each target's own).")
@click.option("--refresh-os", is_flag=True, help="Bootstrap the OS root filesystem again even if cached.")
@click.option("--no-cache", is_flag=True, help="Run every build step again (the cache is still refreshed).")
@click.option("--plan", "use_plan", is_flag=True, help="Build exactly what `factory plan` says (TARGETS filter it).")
@click.option(
    "--base",
    "bases",
    multiple=True,
    metavar="ID=REPOSITORY@DIGEST",
    help="Build FROM this image for the parent ID instead of building the parent (repeatable).",
)
@click.pass_context
def build(
    ctx: click.Context,
    output: str,
    targets: tuple[str, ...],
    platforms: tuple[str, ...],
    refresh_os: bool,
    no_cache: bool,
    use_plan: bool,
    bases: tuple[str, ...],
) -> None:
    """Build TARGETS (ids or stack names; default: all) and their bases, parents first.

    Refuses a stale rendered/ (run `factory render` first). Each image is built
    for all its platforms and pushed to the staging repository; the record
    (digests per platform, sizes, durations, cache hits) is written to
    .factory/builds/<run>/record.json. A failed target does not stop
    independent ones; its dependants are skipped. Progress: a live table on a
    terminal, timestamped lines otherwise (CI, pipes, NO_COLOR). With --plan,
    only the targets the rebuild plan chose (a child alone is built FROM its
    published parent) and nothing at all when the plan is empty (exit 0).
    """
    from factory import pipeline, progress

    workspace = _workspace(ctx)
    with progress.open_board() as board:
        rebuild = pipeline.plan(workspace, board, targets) if use_plan else None
        if rebuild is not None and not rebuild.rebuild:
            present.planned(rebuild, output)
            return
        record = pipeline.build(
            workspace,
            board,
            targets,
            platforms,
            no_cache=no_cache,
            refresh_os=refresh_os,
            rebuild=rebuild,
            bases=_bases(bases),
        )
    present.built(record, workspace.builds / record.run_id / "record.json", output)
    if record.failed:
        sys.exit(int(ExitCode.BUILD_FAILED))


@click.command()
@OUTPUT
@click.argument("targets", nargs=-1)
@_record_option
@click.pass_context
def verify(ctx: click.Context, output: str, targets: tuple[str, ...], record_path: Path | None) -> None:
    """Run every built image of a build record on each of its platforms and check it.

    Each check is named in the results; a static busybox is mounted, so
    images without a shell get them too:

    \b
      identity    architecture, non-root user, own group, HOME writable
      PID 1       tini is PID 1, orphans reaped, stops on SIGTERM (docker
                  stop ends it through SIGTERM, well before the kill)
      commands    CMD can be overridden (a command given to docker run runs
                  behind the ENTRYPOINT and its exit code comes back)
      restricted  read-only root (--read-only with a tmpfs /tmp)
      hygiene     no apt lists, no package caches, no password hashes,
                  setuid/setgid allow-list (os.yaml setuid_allowed)
      OS          LANG, timezone (as os.yaml declares; images on the OS)
      the image   verify: COMMAND (the target's own; the first also as uid
                  12345:0 and under a read-only root), artifact checks (a
                  program one image makes runs in the others)

    The verdict per target and platform, with every check by name, is
    written into the record.
    """
    from factory import pipeline, progress

    workspace = _workspace(ctx)
    path = pipeline.record_path(workspace.site, record_path)
    with progress.open_board() as board:
        verification = pipeline.verify(workspace, path, board, targets)
    present.verified(verification, output)
    if not verification.passed:
        sys.exit(int(ExitCode.VERIFY_FAILED))


@click.command()
@click.option(
    "--output",
    "-o",
    type=click.Choice(["text", "json", "sarif", "markdown"]),
    default="text",
    show_default=True,
    help="text: a table; json: the stable report; sarif: what fails the gate, for code scanning;"
    " markdown: for a step summary.",
)
@click.argument("targets", nargs=-1)
@_record_option
@click.pass_context
def scan(ctx: click.Context, output: str, targets: tuple[str, ...], record_path: Path | None) -> None:
    """Scan every built image of a build record per platform: SBOM, vulnerabilities, secrets; the gate decides.

    trivy reports everything; factory.yaml `scan:` decides (fixable findings at
    or above `fail_on`, default HIGH, fail; unfixed ones warn at CRITICAL;
    secrets always fail), with the exceptions of security/exceptions.yaml.
    The SBOM of each digest is made once and cached; the reports (scan.json,
    scan.md, scan.sarif) go beside the record and the verdicts into it.
    Exit 9 when the gate fails.
    """
    from factory import pipeline, progress, scan_reports

    workspace = _workspace(ctx)
    path = pipeline.record_path(workspace.site, record_path)
    with progress.open_board() as board:
        outcome = pipeline.scan(workspace, path, board, targets)
    present.scanned(outcome, output, scan_reports)
    if not outcome.passed:
        sys.exit(int(ExitCode.SCAN_FAILED))


@click.command()
@click.option(
    "--output",
    "-o",
    type=click.Choice(["text", "json", "markdown", "github-matrix"]),
    default="text",
    show_default=True,
    help="json: `rebuild` (in order, with reasons) and `unchanged`; github-matrix: the waves as job matrices.",
)
@click.argument("targets", nargs=-1)
@click.option("--no-rescan", is_flag=True, help="Do not check the published SBOMs against factory.lock and today's DB.")
@click.pass_context
def plan(ctx: click.Context, output: str, targets: tuple[str, ...], no_rescan: bool) -> None:
    """Which targets to rebuild now, in which waves, and why (reads the published images; builds nothing).

    Reasons, each with its evidence: never published, definition or template
    changed (which file, by git since the image's commit), parent rebuilt,
    base digest changed, platforms changed, older than the maximum age (30
    days), a vulnerability of the published SBOM that today's DB says the
    archive fixes (CVE, severity, fixed version), package updates in
    factory.lock (a trigger only when one fixes a vulnerability), the
    version's end of life (noted). Children of a rebuilt parent always
    rebuild. TARGETS (ids or stacks) keep only those in the plan. An
    unreadable registry is exit 5.
    """
    from factory import pipeline, progress

    workspace = _workspace(ctx)
    with progress.open_board() as board:
        result = pipeline.plan(workspace, board, targets, rescan=not no_rescan)
    present.planned(result, output)


@click.command()
@OUTPUT
@_record_option
@click.pass_context
def status(ctx: click.Context, output: str, record_path: Path | None) -> None:
    """The verdicts of a build record: target x platform x (built, verified, scanned, findings)."""
    from factory import pipeline
    from factory import record as records

    workspace = _workspace(ctx)
    present.status(records.read(pipeline.record_path(workspace.site, record_path)), output)


@click.command()
@OUTPUT
@_record_option
@click.pass_context
def pin(ctx: click.Context, output: str, record_path: Path | None) -> None:
    """Record the digests of a build in pins/images.yaml (then `factory render` uses them in every FROM)."""
    from factory import pipeline

    written, changed = pipeline.pin(_project(ctx), record_path)
    present.pinned(written, changed, output)
