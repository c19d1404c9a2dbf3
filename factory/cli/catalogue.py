"""The catalogue commands: validate, list, render, lint, preview, lock (no engine needed)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from factory import present
from factory.cli.common import (
    FAILURE_THRESHOLD,
    LINT_TOOLS,
    OUTPUT,
    _exit_for_lint,
    _ignore_file,
    _lint_workspace,
    _project,
    _root_or_none,
    _severity,
    _syntax,
    _tools,
    _workspace,
)
from factory.errors import ExitCode

if TYPE_CHECKING:  # engine, lint and build modules load lazily: `validate` and `list` stay fast
    pass


@click.command()
@OUTPUT
@click.pass_context
def validate(ctx: click.Context, output: str) -> None:
    """Check factory.yaml, stacks/*.yaml, pins and the ignore file, and render every target in memory.

    Every problem of every file is reported at once as file:line: field: message
    (exit 3); what validate accepts, render accepts. A version past its end of
    life (eol) is refused unless an override in force keeps it; one that ends
    within 90 days, or is kept by an override, is a warning (exit 0).
    """
    from factory import pipeline

    workspace = pipeline.validate(_project(ctx))
    present.validated(workspace.catalogue, pipeline.lifecycle_warnings(workspace), output)


@click.command(name="list")
@OUTPUT
@click.option("--stack", "stacks", multiple=True, help="Only these stacks (repeatable; 'os' is the OS base).")
@click.pass_context
def list_targets(ctx: click.Context, output: str, stacks: tuple[str, ...]) -> None:
    """Print the build matrix: one row per target, in build order (usable as a CI matrix)."""
    from factory import matrix

    workspace = _workspace(ctx)
    present.matrix(matrix.rows(workspace.catalogue, workspace.scope(stacks), workspace.site.publish), output)


@click.command()
@OUTPUT
@click.option("--stack", "stacks", multiple=True, help="Only these stacks (repeatable; 'os' is the OS base).")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 with a unified diff if rendered/ is stale.")
@click.option(
    "--syntax",
    "syntax_line",
    default=None,
    metavar="IMAGE",
    help="Emit a `# syntax=IMAGE` line (off by default: it makes BuildKit pull a frontend image); pin it by"
    " digest (IMAGE@sha256:...), or the lint warns (FB002) and render exits 6.",
)
@click.option("--no-lint", is_flag=True, help="Do not lint what was rendered (lint runs by default after writing).")
@FAILURE_THRESHOLD
@click.pass_context
def render(
    ctx: click.Context,
    output: str,
    stacks: tuple[str, ...],
    check: bool,
    syntax_line: str | None,
    no_lint: bool,
    failure_threshold: str,
) -> None:
    """Render every target's Dockerfile and .dockerignore into rendered/ (atomically), then lint them.

    The lint (own rules, hadolint, shellcheck, trivy) runs on the rendered
    Dockerfiles in scope; rendered/ is written either way, and the command
    exits 6 when findings reach --failure-threshold (5 when a linter is not
    installed). `--check` only compares.
    """
    from factory import pipeline

    workspace = _workspace(ctx)
    scope = workspace.scope(stacks)
    syntax = _syntax(syntax_line, workspace)
    if check:
        files = pipeline.render(workspace, scope, syntax)
        difference = pipeline.drift(workspace, files, scope)
        present.drift(difference, len(files), output)
        sys.exit(int(ExitCode.CHECK_FAILED) if difference else 0)
    ignore_file = None if no_lint else _ignore_file(workspace.project.root, None)
    done = pipeline.render_and_lint(workspace, scope, syntax, lint_after=not no_lint, ignore_file=ignore_file)
    threshold = _severity(failure_threshold)
    present.rendered(len(done.files), done.changed, done.report, threshold, output)
    if done.report is not None:
        _exit_for_lint(done.report, threshold)


@click.command()
@OUTPUT
@click.option(
    "--check", is_flag=True, help="Only compare: exit 1 and list what moved when factory.lock is not current."
)
@click.pass_context
def lock(ctx: click.Context, output: str, check: bool) -> None:
    """Resolve every external input into factory.lock: OS packages, downloads, outside images, tools.

    The OS packages every target installs (with their Depends closure, as apt
    would add them) are read from the Packages indexes of the release's suites
    on the configured mirror (factory.yaml os.mirror, else stacks/os.yaml, else
    this machine's apt sources), each checked against its Release file. The
    file is deterministic and written atomically; on any failure (exit 5: an
    unreachable mirror, an index that does not match) the old file stays.
    `--check` writes nothing and exits 1 listing what moved.
    """
    from factory import pipeline, progress

    workspace = _workspace(ctx)
    with progress.open_board() as board:
        outcome = pipeline.lock(workspace, board, check=check)
    present.locked(outcome, output, check=check)
    if check and not outcome.current:
        sys.exit(int(ExitCode.CHECK_FAILED))


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--output",
    "-o",
    type=click.Choice(["text", "json", "sarif"]),
    default="text",
    show_default=True,
    help="text: `file:line CODE severity: message`; json: stable, for scripts; sarif: SARIF 2.1.0 for code scanning.",
)
@FAILURE_THRESHOLD
@click.option(
    "--tools",
    "tool_list",
    default=",".join(LINT_TOOLS),
    show_default=True,
    metavar="LIST",
    help="Comma-separated external linters to run beside the own rules.",
)
@click.option("--no-tools", is_flag=True, help="Own rules only (fast; no hadolint, shellcheck or trivy).")
@click.option(
    "--ignore-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Project ignore file (default: .factory-ignore.yaml in the project, or in the working directory).",
)
@click.option(
    "--allow-image",
    "allow_images",
    multiple=True,
    metavar="PATTERN",
    help="Also allow base images whose repository matches this glob (repeatable), e.g. 'registry.example/base/*'.",
)
@click.option(
    "--require-digest/--no-require-digest",
    default=True,
    show_default=True,
    help="Require base images to be pinned by digest, not only a tag.",
)
@click.pass_context
def lint(
    ctx: click.Context,
    paths: tuple[Path, ...],
    output: str,
    failure_threshold: str,
    tool_list: str,
    no_tools: bool,
    ignore_file: Path | None,
    allow_images: tuple[str, ...],
    require_digest: bool,
) -> None:
    """Lint Dockerfiles: the own rule catalogue (FB codes) plus hadolint, shellcheck and trivy.

    PATHS are Dockerfiles or directories to search (default: every
    rendered/**/Dockerfile of the project). Base images must be the unified OS
    or another catalogue image (plus --allow-image); a team's Dockerfile is
    linted even while the catalogue is invalid (then only --allow-image counts,
    any other base is an error, and a warning says so). A directory with no
    Dockerfile is a usage error. Findings print as `file:line CODE severity:
    message`; the exit code is 6 when one is at or above --failure-threshold,
    5 when hadolint, shellcheck or trivy is not installed (FB100).

    \b
    Ignores always carry a reason:
      # factory ignore=CODE[,CODE] reason    (comment above the instruction)
      .factory-ignore.yaml                   (code, path glob, reason, expires)
    """
    from factory import pipeline

    selected = () if no_tools else _tools(tool_list)
    workspace, invalid = _lint_workspace(ctx, explicit=bool(paths))
    root = workspace.project.root if workspace is not None else _root_or_none(ctx)
    report = pipeline.lint(
        workspace,
        paths,
        tools=selected,
        ignore_file=_ignore_file(root, ignore_file),
        allow_images=allow_images,
        require_digest=require_digest,
        invalid_catalogue=invalid,
    )
    threshold = _severity(failure_threshold)
    present.lint(report, threshold, output)
    _exit_for_lint(report, threshold)


@click.command()
@click.option(
    "--base",
    "base_ref",
    required=True,
    metavar="REF",
    help="The git ref to compare with (e.g. origin/main), rendered from git itself with its own stacks and templates.",
)
@click.option(
    "--output",
    "-o",
    type=click.Choice(["markdown", "json"]),
    default="markdown",
    show_default=True,
    help="markdown: the pull-request comment (within 60,000 characters); json: the same data, whole.",
)
@click.option(
    "--full",
    "full_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="Also write the whole Markdown, never truncated, to FILE.",
)
@FAILURE_THRESHOLD
@click.option("--no-tools", is_flag=True, help="Lint with the own rules only (no hadolint, shellcheck or trivy).")
@click.pass_context
def preview(
    ctx: click.Context, base_ref: str, output: str, full_path: Path | None, failure_threshold: str, no_tools: bool
) -> None:
    """Preview a change for its pull request: the rendered images against the base ref, and why.

    Renders the base ref from git (a temporary worktree, removed afterwards)
    and the working tree, both in memory, and shows per image what changed
    and why, the rebuild plan in waves, the image graph, the lint of the new
    render, risky edits and the diffs (identical ones grouped). The Markdown
    starts with the marker <!-- factory-preview --> and stays within 60,000
    characters (past that it says TRUNCATED: see --full); with
    $GITHUB_STEP_SUMMARY set, the whole preview is also appended there.
    Exit 1 when rendered/ is stale, 6 when lint findings reach
    --failure-threshold, 2 when REF names no commit.
    """
    from factory import pipeline

    project = _project(ctx)
    tools = () if no_tools else LINT_TOOLS
    result = pipeline.preview(project, base_ref, tools=tools, ignore_file=_ignore_file(project.root, None))
    threshold = _severity(failure_threshold)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    present.preview(result, threshold, output, full=full_path, summary=Path(summary) if summary else None)
    if result.stale:
        sys.exit(int(ExitCode.CHECK_FAILED))
    if result.lint.failed(threshold):
        sys.exit(int(ExitCode.LINT_FAILED))
