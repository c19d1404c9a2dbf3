"""The `factory` command: argument parsing and the one error boundary; nothing else.

What each command does lives in factory.pipeline (the stages), what it shows
in factory.present. FactoryGroup.main is the only place that turns errors into
exit codes: every FactoryError, every click usage error and every bug, in the
command's output format (`--output json` gets a JSON document even for a
misspelt option; `lint --output sarif` gets a SARIF log).

Exit codes (also in README.md): 0 ok, 1 check failed (drift), 2 usage,
3 invalid definitions, 4 render failed, 5 environment, 6 lint findings at or
above the failure threshold, 7 build failed, 8 verification failed,
70 internal error.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from factory import __version__, present
from factory.errors import DefinitionError, ExitCode, FactoryError
from factory.project import Project

if TYPE_CHECKING:  # engine, lint and build modules load lazily: `validate` and `list` stay fast
    from factory.engine import Engine
    from factory.lint.ignores import IgnoreFile
    from factory.lint.model import Severity
    from factory.lint.runner import Report
    from factory.pipeline import Workspace

F = TypeVar("F", bound=Callable[..., Any])
LINT_TOOLS = ("hadolint", "shellcheck", "trivy")
EXIT_CODES_HELP = """
\b
Exit codes:
  0  success
  1  a check found a difference (render --check: rendered/ is stale; lock --check)
  2  usage error
  3  invalid definitions (stacks/*.yaml, pins/images.yaml, factory.yaml)
  4  a template failed to render (rendered/ left untouched)
  5  a required tool or service is missing
  6  lint findings at or above the failure threshold
  7  a build failed (independent targets still finished)
  8  a built image failed verification
  9  the security gate failed (a fixable finding at the threshold, a secret)
  10 a selected target was not published (it did not pass every stage)
  70 internal error (a bug: please report it)
"""


class FactoryGroup(click.Group):
    """The command group whose `main` is the error boundary of every command."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> NoReturn:
        argv = list(sys.argv[1:] if args is None else args)
        output = _output_format(argv)
        try:
            returned = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        except FactoryError as exc:
            present.error(exc, int(exc.exit_code), exc.show(), output)
            sys.exit(int(exc.exit_code))
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            code = exc.exit_code if exc.exit_code != 1 else int(ExitCode.USAGE)
            if output in ("json", "sarif"):
                present.error(exc, code, exc.format_message(), output)
            else:
                exc.show()
            sys.exit(code)
        except click.exceptions.Abort:
            present.error(None, 130, "interrupted", output)
            sys.exit(130)
        except KeyboardInterrupt:
            present.error(None, 130, "interrupted", output)
            sys.exit(130)
        except SystemExit:
            raise
        except Exception as exc:  # a bug: say so plainly, with the traceback only on request
            if os.environ.get("FACTORY_DEBUG"):
                raise
            present.error(None, int(ExitCode.INTERNAL), present.internal(exc), output)
            sys.exit(int(ExitCode.INTERNAL))
        sys.exit(returned if isinstance(returned, int) else 0)  # click returns the code of --help, --version


def _output_format(argv: list[str]) -> str:
    """The --output/-o value of a command line, read before click parses it (for errors click raises)."""
    for index, word in enumerate(argv):
        if word in ("--output", "-o") and index + 1 < len(argv):
            return argv[index + 1]
        if word.startswith("--output="):
            return word.split("=", 1)[1]
        if word.startswith("-o") and len(word) > 2:
            return word[2:]
    return "text"


OUTPUT = click.option(
    "--output",
    "-o",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format; json is stable and meant for scripts and CI (errors too).",
)

FAILURE_THRESHOLD = click.option(
    "--failure-threshold",
    type=click.Choice(["error", "warning", "info", "style"]),
    default="warning",
    show_default=True,
    help="Exit 6 when a lint finding is at or above this severity (error > warning > info > style).",
)


@click.group(cls=FactoryGroup, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES_HELP)
@click.version_option(__version__, prog_name="factory")
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Project directory (default: nearest directory with stacks/, or $FACTORY_ROOT).",
)
@click.pass_context
def main(ctx: click.Context, root: Path | None) -> None:
    """Base-image factory: stack definitions in, linted, built and verified multi-arch base images out."""
    ctx.obj = root


def _project(ctx: click.Context) -> Project:
    root = ctx.find_root().obj
    return Project(root.resolve()) if root is not None else Project.find()


def _workspace(ctx: click.Context) -> Workspace:
    from factory.pipeline import Workspace

    return Workspace.open(_project(ctx))


@main.command()
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


@main.command(name="list")
@OUTPUT
@click.option("--stack", "stacks", multiple=True, help="Only these stacks (repeatable; 'os' is the OS base).")
@click.pass_context
def list_targets(ctx: click.Context, output: str, stacks: tuple[str, ...]) -> None:
    """Print the build matrix: one row per target, in build order (usable as a CI matrix)."""
    from factory import matrix

    workspace = _workspace(ctx)
    present.matrix(matrix.rows(workspace.catalogue, workspace.scope(stacks), workspace.site.publish), output)


@main.command()
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


@main.command()
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


@main.command()
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


def _exit_for_lint(report: Report, threshold: Severity) -> None:
    """Exit 5 when a linter is not installed (the report is already shown: stdout stays one document), 6 when
    findings reach the threshold, else return."""
    from factory.lint import tools

    problem = tools.missing(report.findings)
    if problem is not None:
        present.error(problem, int(problem.exit_code), problem.show(), "text")
        sys.exit(int(problem.exit_code))
    if report.failed(threshold):
        sys.exit(int(ExitCode.LINT_FAILED))


@main.command()
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


def _lint_workspace(ctx: click.Context, *, explicit: bool) -> tuple[Workspace | None, bool]:
    """The project for linting, and whether its catalogue is invalid; with explicit paths an invalid or
    missing project is no obstacle (an invalid one makes the policy fail closed)."""
    try:
        project = _project(ctx)
    except DefinitionError:
        if not explicit or ctx.find_root().obj is not None:
            raise
        return None, False
    try:
        return _workspace(ctx), False
    except DefinitionError as exc:
        if not explicit:
            raise
        click.echo(
            f"warning: the catalogue of {project.root} is invalid ({len(exc.problems)} problems; see `factory"
            " validate`): base images are checked against --allow-image only, and any other is an error",
            err=True,
        )
        return None, True


def _root_or_none(ctx: click.Context) -> Path | None:
    try:
        return _project(ctx).root
    except DefinitionError:
        return None


def _severity(label: str) -> Severity:
    from factory.lint.model import Severity

    return Severity.parse(label)


def _tools(tool_list: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(n.strip() for n in tool_list.split(",") if n.strip()))
    unknown = sorted(set(names) - set(LINT_TOOLS))
    if unknown:
        raise click.BadParameter(
            f"unknown tool {', '.join(unknown)} (known: {', '.join(LINT_TOOLS)})", param_hint="--tools"
        )
    return names


def _ignore_file(root: Path | None, explicit: Path | None) -> IgnoreFile | None:
    """The ignore file to apply: the explicit one, else the project's, else one in the working directory."""
    from factory.lint import ignores
    from factory.lint.runner import display_name

    if explicit is not None:
        return ignores.load(explicit, str(explicit))
    for directory in (root, Path.cwd()):
        if directory is not None and (directory / ignores.IGNORE_FILE).is_file():
            candidate = directory / ignores.IGNORE_FILE
            return ignores.load(candidate, display_name(candidate))
    return None


def _syntax(option: str | None, workspace: Workspace) -> str | None:
    """The `# syntax=` frontend: --syntax, else factory.yaml build.syntax; validated like a reference."""
    from factory.values import KINDS

    value = option if option is not None else workspace.site.build.syntax
    if value is not None and KINDS["frontend"].problem(value) is not None:
        raise click.BadParameter(f"{value!r} is not an image reference", param_hint="--syntax")
    return value


# -- the engine ------------------------------------------------------------------------------


@main.group(name="engine")
def engine_group() -> None:
    """The local BuildKit engine: containerd, dockerd with buildx, a loopback registry, arm64 emulation.

    \b
    Needs root. Paths, sockets and the registry address default to the shared
    machine-wide engine; FACTORY_PREFIX, FACTORY_RUN, FACTORY_DOCKER_SOCK,
    FACTORY_CONTAINERD_SOCK, FACTORY_REGISTRY_ADDR and the other FACTORY_*
    variables of README.md point it at a separate instance.
    """


NODE = click.option(
    "--node",
    default=None,
    metavar="NAME",
    callback=lambda _ctx, _param, value: _check_node_name(value),
    help="A second dockerd beside the default one (own socket, data, bridge; shared containerd), e.g. arm64.",
)


def _check_node_name(value: str | None) -> str | None:
    from factory.engine.layout import NODE_NAME

    if value is not None and not NODE_NAME.fullmatch(value):
        raise click.BadParameter(f"{value!r}: expected {NODE_NAME.pattern} (it names a bridge)", param_hint="--node")
    return value


def _engine(ctx: click.Context, output: str = "text") -> Engine:
    """The engine the CLI manages; steps are printed as they happen (to stderr with --output json)."""
    from factory import site
    from factory.engine import Engine, Layout

    try:
        project: Project | None = _project(ctx)
    except DefinitionError:
        project = None  # outside a project: the default site
    # Inside a project an invalid factory.yaml is an error, never a silent fallback.
    registry = site.load(project.root).registry.address if project is not None else site.Registry().address
    layout = Layout.from_env(os.environ, registry_addr=registry)
    return Engine(layout, say=lambda line: click.echo(line, err=output == "json"))


@engine_group.command(name="up")
@OUTPUT
@NODE
@click.option("--refresh", is_flag=True, help="Refresh the private package lists and download the engine .debs again.")
@click.pass_context
def engine_up(ctx: click.Context, output: str, node: str | None, refresh: bool) -> None:
    """Install, configure and start what is missing (idempotent: a second run only checks)."""
    present.engine_status(_engine(ctx, output).up(node, refresh=refresh), output)


@engine_group.command(name="status")
@OUTPUT
@NODE
@click.pass_context
def engine_status(ctx: click.Context, output: str, node: str | None) -> None:
    """Report each part; exit 0 only when everything is running and answering (else 5)."""
    status = _engine(ctx, output).status(node)
    present.engine_status(status, output)
    if not status.ready:
        sys.exit(int(ExitCode.ENVIRONMENT))


@engine_group.command(name="down")
@NODE
@click.option("--binfmt", "unregister_binfmt", is_flag=True, help="Also remove the qemu-aarch64 binfmt rule.")
@click.pass_context
def engine_down(ctx: click.Context, node: str | None, unregister_binfmt: bool) -> None:
    """Stop the nodes, registry, dockerd and containerd `up` started (or only --node NAME); data is kept."""
    _engine(ctx).down(node, unregister_binfmt=unregister_binfmt)


# -- the OS base -----------------------------------------------------------------------------


@main.group(name="os")
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


# -- build and verify ------------------------------------------------------------------------


@main.command()
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


def _bases(given: tuple[str, ...]) -> dict[str, str]:
    """--base ID=REPOSITORY@DIGEST options as a mapping (a malformed one is a usage error)."""
    found = {}
    for item in given:
        target_id, sep, pinned = item.partition("=")
        if not sep or not target_id or "@sha256:" not in pinned:
            raise click.BadParameter(f"{item!r}: expected ID=REPOSITORY@sha256:DIGEST", param_hint="--base")
        found[target_id] = pinned
    return found


ALLOW_REMOVAL = click.option(
    "--allow-removal",
    is_flag=True,
    help="Publish even when packages disappeared against the image the tag named before (else refused, exit 10).",
)


def _record_option(func: F) -> F:
    """--record FILE, shared by the commands that read a build record."""
    option = click.option(
        "--record",
        "record_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Build record to use (default: .factory/builds/latest.json, the last finished run).",
    )
    return option(func)


@main.command()
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


@main.command()
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


@main.command()
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


@main.command()
@OUTPUT
@_record_option
@click.pass_context
def status(ctx: click.Context, output: str, record_path: Path | None) -> None:
    """The verdicts of a build record: target x platform x (built, verified, scanned, findings)."""
    from factory import pipeline
    from factory import record as records

    workspace = _workspace(ctx)
    present.status(records.read(pipeline.record_path(workspace.site, record_path)), output)


@main.command()
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


@main.command()
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


@main.command()
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


@main.group(name="keys")
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


@main.command()
@OUTPUT
@_record_option
@click.pass_context
def pin(ctx: click.Context, output: str, record_path: Path | None) -> None:
    """Record the digests of a build in pins/images.yaml (then `factory render` uses them in every FROM)."""
    from factory import pipeline

    written, changed = pipeline.pin(_project(ctx), record_path)
    present.pinned(written, changed, output)


@main.command(name="run")
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


@main.command(name="site")
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


@main.command()
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
