"""The `factory` command: the only place that prints or exits.

Exit codes (also in README.md): 0 ok, 1 check failed (drift), 2 usage,
3 invalid definitions, 4 render failed, 5 environment, 6 lint findings at or
above the failure threshold, 7 build failed, 8 verification failed,
70 internal error.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from factory import __version__
from factory.docker import Docker
from factory.errors import DefinitionError, EnvironmentProblem, ExitCode, FactoryError
from factory.project import Project

if TYPE_CHECKING:  # engine and lint modules load lazily: `validate` and `list` stay fast
    from factory.engine import Engine, Status
    from factory.lint.engine import Report
    from factory.lint.ignores import IgnoreFile
    from factory.lint.model import Severity
    from factory.lint.policy import Policy

F = TypeVar("F", bound=Callable[..., Any])
LINT_TOOLS = ("hadolint", "shellcheck", "trivy")

OUTPUT = click.option(
    "--output",
    "-o",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format; json is stable and meant for scripts and CI.",
)

FAILURE_THRESHOLD = click.option(
    "--failure-threshold",
    type=click.Choice(["error", "warning", "info", "style"]),
    default="warning",
    show_default=True,
    help="Exit 6 when a lint finding is at or above this severity (error > warning > info > style).",
)


def _errors_to_exit_codes(func: F) -> F:
    """The error boundary: FactoryError -> its message and exit code, no traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except FactoryError as exc:
            output = click.get_current_context().params.get("output", "text")
            if output == "json":
                click.echo(json.dumps(_error_json(exc), indent=2))
            else:
                click.echo(
                    click.style("error: ", fg="red", bold=True) + exc.show().replace("\n", "\nerror: "), err=True
                )
            sys.exit(int(exc.exit_code))
        except (click.ClickException, click.exceptions.Exit, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:  # a bug: say so plainly, with the traceback only on request
            if os.environ.get("FACTORY_DEBUG"):
                raise
            click.echo(f"internal error: {type(exc).__name__}: {exc} (set FACTORY_DEBUG=1 for a traceback)", err=True)
            sys.exit(int(ExitCode.INTERNAL))

    return wrapper  # type: ignore[return-value]


def _error_json(exc: FactoryError) -> dict[str, Any]:
    result: dict[str, Any] = {"ok": False, "exit_code": int(exc.exit_code), "error": type(exc).__name__}
    if isinstance(exc, DefinitionError):
        result["problems"] = [
            {"file": p.file, "line": p.line, "field": p.field, "message": p.message} for p in exc.problems
        ]
    else:
        result["message"] = exc.show()
    return result


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="factory")
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Project directory (default: nearest directory with stacks/, or $FACTORY_ROOT).",
)
@click.pass_context
def main(ctx: click.Context, root: Path | None) -> None:
    """Base-image factory: stack definitions in, linted multi-arch base images out.

    \b
    Exit codes:
      0  success
      1  a check found a difference (render --check: rendered/ is stale)
      2  usage error
      3  invalid definitions (stacks/*.yaml, pins/images.yaml)
      4  a template failed to render (rendered/ left untouched)
      5  a required tool or service is missing
      6  lint findings at or above the failure threshold
      7  a build failed (independent targets still finished)
      8  a built image failed verification
      70 internal error (a bug: please report it)
    """
    ctx.obj = root


def _project(ctx: click.Context) -> Project:
    root = ctx.find_root().obj
    return Project(root.resolve()) if root is not None else Project.find()


@main.command()
@OUTPUT
@click.pass_context
@_errors_to_exit_codes
def validate(ctx: click.Context, output: str) -> None:
    """Validate stacks/*.yaml and pins; report every problem as file:line: field: message."""
    project = _project(ctx)
    cat = project.load()
    stacks = sorted({t.stack for t in cat.targets})
    if output == "json":
        click.echo(json.dumps({"ok": True, "os": cat.os.id, "stacks": stacks, "targets": len(cat.targets)}, indent=2))
    else:
        click.echo(f"ok: {cat.os.id} and {len(stacks)} stacks, {len(cat.targets)} targets are valid")


@main.command(name="list")
@OUTPUT
@click.option("--stack", "stacks", multiple=True, help="Only these stacks (repeatable).")
@click.pass_context
@_errors_to_exit_codes
def list_targets(ctx: click.Context, output: str, stacks: tuple[str, ...]) -> None:
    """Print the build matrix: one row per target, in build order (usable as a CI matrix)."""
    from factory import matrix

    project = _project(ctx)
    cat = project.load()
    rows = matrix.rows(cat, _scope(cat, stacks))
    if output == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(
            f"{row['id']:<28} {','.join(row['platforms']):<24} {' '.join(row['tags']):<28} rendered/{row['dockerfile']}"
        )


@main.command()
@OUTPUT
@click.option("--stack", "stacks", multiple=True, help="Only these stacks (repeatable; 'os' is the OS base).")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 with a unified diff if rendered/ is stale.")
@click.option(
    "--syntax",
    "syntax_line",
    default=None,
    metavar="IMAGE",
    help="Emit a `# syntax=IMAGE` line (off by default: it makes BuildKit pull a frontend image).",
)
@click.option("--no-lint", is_flag=True, help="Do not lint what was rendered (lint runs by default after writing).")
@FAILURE_THRESHOLD
@click.pass_context
@_errors_to_exit_codes
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
    exits 6 when findings reach --failure-threshold. `--check` only compares.
    """
    from factory import render as rendering
    from factory import rendered

    project = _project(ctx)
    cat = project.load()
    scope = _scope(cat, stacks)
    syntax = _syntax(syntax_line, ctx)
    files = rendering.Renderer(project.templates, cat, syntax_line=syntax).render_all(scope)
    if check:
        difference = rendered.diff(project.rendered, files, scope)
        if output == "json":
            click.echo(json.dumps({"ok": not difference, "stale": bool(difference), "diff": difference}, indent=2))
        elif difference:
            click.echo(difference, nl=False)
            click.echo("error: rendered/ is stale: run `factory render` and commit the result", err=True)
        else:
            click.echo(f"ok: rendered/ is up to date ({len(files)} files)")
        sys.exit(int(ExitCode.CHECK_FAILED) if difference else 0)
    changed = rendered.write(project.rendered, files, scope)
    report = None
    if not no_lint:
        from factory.lint import lint_paths, policy

        dockerfiles = [project.rendered / f.path for f in files if f.path.endswith("/Dockerfile")]
        report = lint_paths(dockerfiles, policy=policy.for_catalogue(cat), ignore_file=_ignore_file(project.root, None))
    threshold = _severity(failure_threshold)
    failed = report is not None and report.failed(threshold)
    if output == "json":
        result: dict[str, Any] = {"ok": not failed, "files": len(files), "changed": changed}
        if report is not None:
            from factory.lint import report as lint_report

            result["lint"] = lint_report.as_json(report, threshold)
        click.echo(json.dumps(result, indent=2))
    else:
        for path in changed:
            click.echo(f"wrote rendered/{path}")
        click.echo(f"ok: {len(files)} files rendered, {len(changed)} changed")
        if report is not None:
            # render shows what fails; the summary still counts everything (`factory lint` lists it all)
            _print_lint(report, threshold, only_failing=True)
    if failed:
        sys.exit(int(ExitCode.LINT_FAILED))


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
@_errors_to_exit_codes
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
    or another catalogue image (plus --allow-image). Findings print as
    `file:line CODE severity: message`; the exit code is 6 when one is at or
    above --failure-threshold.

    \b
    Ignores always carry a reason:
      # factory ignore=CODE[,CODE] reason    (comment above the instruction)
      .factory-ignore.yaml                   (code, path glob, reason, expires)
    """
    from factory.lint import lint_paths
    from factory.lint import report as lint_report

    selected = () if no_tools else _tools(tool_list)
    project = _optional_project(ctx, required=not paths)
    policy = _lint_policy(project, allow_images)
    policy = dataclasses.replace(policy, require_digest=require_digest)
    if not paths:
        assert project is not None
        paths = tuple(sorted(project.rendered.rglob("Dockerfile")))
        if not paths:
            raise click.UsageError(f"no Dockerfile under {project.rendered}: run `factory render` first")
    from factory.lint.engine import expand

    if not expand(paths):
        raise click.UsageError(
            f"no Dockerfile in {', '.join(map(str, paths))} (looked for Dockerfile, Containerfile, *.Dockerfile)"
        )
    root = project.root if project is not None else None
    report = lint_paths(paths, policy=policy, tools_selected=selected, ignore_file=_ignore_file(root, ignore_file))
    threshold = _severity(failure_threshold)
    if output == "json":
        click.echo(lint_report.json_text(report, threshold), nl=False)
    elif output == "sarif":
        click.echo(lint_report.sarif_text(report), nl=False)
    else:
        _print_lint(report, threshold)
    if report.failed(threshold):
        sys.exit(int(ExitCode.LINT_FAILED))


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


def _optional_project(ctx: click.Context, *, required: bool) -> Project | None:
    """The project, when there is one; linting explicit paths needs none."""
    try:
        return _project(ctx)
    except DefinitionError:
        if required or ctx.find_root().obj is not None:
            raise
        return None


def _lint_policy(project: Project | None, allow_images: tuple[str, ...]) -> Policy:
    from factory.lint import policy

    if project is None:
        return policy.Policy(allowed_images=allow_images, allowed_source="--allow-image")
    return policy.for_catalogue(project.load(), extra_allowed=allow_images)


def _ignore_file(root: Path | None, explicit: Path | None) -> IgnoreFile | None:
    """The ignore file to apply: the explicit one, else the project's, else one in the working directory."""
    from factory.lint import ignores

    if explicit is not None:
        return ignores.load(explicit, str(explicit))
    for directory in (root, Path.cwd()):
        if directory is not None and (directory / ignores.IGNORE_FILE).is_file():
            candidate = directory / ignores.IGNORE_FILE
            return ignores.load(candidate, _shown(candidate))
    return None


def _shown(path: Path) -> str:
    from factory.lint.engine import display_name

    return display_name(path)


def _print_lint(report: Report, threshold: Severity, *, only_failing: bool = False) -> None:
    """Findings (all, or with `only_failing` those at or above the threshold) and the verdict line."""
    from factory.lint import report as lint_report

    shown = report if not only_failing else dataclasses.replace(report, findings=report.at_or_above(threshold))
    click.echo(lint_report.text(shown), nl=False)
    verdict = lint_report.summary(report, threshold)
    colour = "red" if report.failed(threshold) else "green"
    click.echo(click.style(verdict.split(" ", 1)[0], fg=colour) + " " + verdict.split(" ", 1)[1], err=True)


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

    root = ctx.find_root().obj
    try:
        project: Project | None = Project(root.resolve()) if root is not None else Project.find()
    except DefinitionError:
        project = None  # outside a project: the default site
    # Inside a project an invalid factory.yaml is an error, never a silent fallback.
    registry = site.load(project.root).registry.address if project is not None else site.Registry().address
    layout = Layout.from_env(os.environ, registry_addr=registry)
    return Engine(layout, say=lambda line: click.echo(line, err=output == "json"))


def _print_status(status: Status, output: str) -> None:
    if output == "json":
        click.echo(json.dumps(status.to_json(), indent=2))
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


@engine_group.command(name="up")
@OUTPUT
@NODE
@click.option("--refresh", is_flag=True, help="Refresh the private package lists and download the engine .debs again.")
@click.pass_context
@_errors_to_exit_codes
def engine_up(ctx: click.Context, output: str, node: str | None, refresh: bool) -> None:
    """Install, configure and start what is missing (idempotent: a second run only checks)."""
    _print_status(_engine(ctx, output).up(node, refresh=refresh), output)


@engine_group.command(name="status")
@OUTPUT
@NODE
@click.pass_context
@_errors_to_exit_codes
def engine_status(ctx: click.Context, output: str, node: str | None) -> None:
    """Report each part; exit 0 only when everything is running and answering (else 5)."""
    status = _engine(ctx, output).status(node)
    _print_status(status, output)
    if not status.ready:
        sys.exit(int(ExitCode.ENVIRONMENT))


@engine_group.command(name="down")
@NODE
@click.option("--binfmt", "unregister_binfmt", is_flag=True, help="Also remove the qemu-aarch64 binfmt rule.")
@click.pass_context
@_errors_to_exit_codes
def engine_down(ctx: click.Context, node: str | None, unregister_binfmt: bool) -> None:
    """Stop the nodes, registry, dockerd and containerd `up` started (or only --node NAME); data is kept."""
    _engine(ctx).down(node, unregister_binfmt=unregister_binfmt)


def _syntax(option: str | None, ctx: click.Context) -> str | None:
    """The `# syntax=` frontend: --syntax, else factory.yaml build.syntax; validated like a reference."""
    import re

    value = option if option is not None else _site(ctx).build.syntax
    if value is not None and not re.fullmatch(r"[a-z0-9./_-]+(:[A-Za-z0-9_.-]+)?(@sha256:[0-9a-f]{64})?", value):
        raise click.BadParameter(f"{value!r} is not an image reference", param_hint="--syntax")
    return value


def _scope(cat: Any, stacks: tuple[str, ...]) -> list[str] | None:
    if not stacks:
        return None
    known = {t.stack for t in cat.targets} | {"os"}
    unknown = sorted(set(stacks) - known)
    if unknown:
        raise click.BadParameter(
            f"unknown stack {', '.join(unknown)} (known: {', '.join(sorted(known))})", param_hint="--stack"
        )
    return sorted(set(stacks))


def _site(ctx: click.Context) -> Any:
    from factory import site

    return site.load(_project(ctx).root)


def _say(output: str) -> Callable[[str], None]:
    """Progress lines with elapsed time on stderr (stdout stays clean for --output json)."""
    import time

    start = time.monotonic()

    def say(message: str) -> None:
        elapsed = int(time.monotonic() - start)
        click.echo(f"[{elapsed // 60:3d}:{elapsed % 60:02d}] {message}", err=True)

    return say


@main.group(name="os")
def os_group() -> None:
    """The unified OS base: bootstrap its root filesystem per architecture."""


@os_group.command(name="build")
@click.option("--platform", "platforms", multiple=True, help="Only these platforms (default: all of the OS).")
@click.option("--refresh", is_flag=True, help="Bootstrap again even if a cached rootfs is still fresh.")
@OUTPUT
@click.pass_context
@_errors_to_exit_codes
def os_build(ctx: click.Context, platforms: tuple[str, ...], refresh: bool, output: str) -> None:
    """Bootstrap the OS root filesystems and build the multi-arch OS base image (= `build os:<release>`)."""
    cat = _project(ctx).load()
    ctx.invoke(build, output=output, targets=(cat.os.id,), platforms=platforms, refresh_os=refresh, no_cache=False)


@os_group.command(name="bootstrap")
@OUTPUT
@click.option("--platform", "platforms", multiple=True, help="Only these platforms (default: all of the OS).")
@click.option("--refresh", is_flag=True, help="Bootstrap again even if a cached rootfs is still fresh.")
@click.pass_context
@_errors_to_exit_codes
def os_bootstrap(ctx: click.Context, output: str, platforms: tuple[str, ...], refresh: bool) -> None:
    """Bootstrap (or reuse) the OS root filesystem tarballs with mmdebstrap."""
    from factory import osbase

    project = _project(ctx)
    cat = project.load()
    recipe = osbase.Recipe.rendered(project.rendered / "os" / cat.os.release)
    boot = osbase.Bootstrapper(cat.os, _site(ctx), recipe, refresh=refresh)
    say = _say(output)
    results = [boot.rootfs(p.split("/")[1], say) for p in (platforms or cat.os.platforms)]
    if output == "json":
        click.echo(
            json.dumps(
                [
                    {
                        "arch": r.arch,
                        "path": str(r.path),
                        "key": r.key,
                        "cached": r.cached,
                        "bytes": r.path.stat().st_size,
                    }
                    for r in results
                ],
                indent=2,
            )
        )
    else:
        for r in results:
            click.echo(f"{r.arch}: {r.path} ({r.path.stat().st_size / 1e6:.1f} MB{', cached' if r.cached else ''})")


@main.command()
@OUTPUT
@click.argument("targets", nargs=-1)
@click.option("--platform", "platforms", multiple=True, help="Only these platforms (default: each target's own).")
@click.option("--refresh-os", is_flag=True, help="Bootstrap the OS root filesystem again even if cached.")
@click.option("--no-cache", is_flag=True, help="Run every build step again (the cache is still refreshed).")
@click.pass_context
@_errors_to_exit_codes
def build(
    ctx: click.Context,
    output: str,
    targets: tuple[str, ...],
    platforms: tuple[str, ...],
    refresh_os: bool,
    no_cache: bool,
) -> None:
    """Build TARGETS (ids or stack names; default: all) and their bases, parents first.

    Each image is built for all its platforms and pushed to the staging
    repository; the record (digests per platform, sizes, durations, cache hits)
    is written to .factory/builds/<run>/record.json. A failed target does not
    stop independent ones; its dependants are skipped.
    """
    from factory import build as building
    from factory import osbase

    project = _project(ctx)
    cat = project.load()
    site_config = _site(ctx)
    steps = building.plan(cat, project, targets, platforms or site_config.platforms)
    recipe = osbase.Recipe.rendered(project.rendered / "os" / cat.os.release)
    boot = osbase.Bootstrapper(cat.os, site_config, recipe, refresh=refresh_os)
    say = _say(output)
    say(f"building {len(steps)} targets: {', '.join(s.id for s in steps)}")
    run = building.BuildRun(
        project,
        site_config,
        Docker.discover(),
        prepare_os=boot.prepare_context,
        progress=say,
        no_cache=no_cache,
    )
    record = run.execute(steps)
    if output == "json":
        click.echo(json.dumps(record.to_json(), indent=2, sort_keys=True))
    else:
        for result in record.targets:
            detail = result.digest if result.status == "built" else result.reason
            click.echo(f"{result.status:<8} {result.id:<28} {detail}")
        click.echo(f"record: {run.directory / 'record.json'}")
    if record.failed:
        sys.exit(int(ExitCode.BUILD_FAILED))


RECORD_HELP = "Build record to use (default: .factory/builds/latest.json, the last finished run)."


def _record_option(func: F) -> F:
    """--record FILE, shared by the commands that read a build record."""
    option = click.option(
        "--record", "record_path", type=click.Path(dir_okay=False, path_type=Path), default=None, help=RECORD_HELP
    )
    return option(func)


def _record_path(ctx: click.Context, record_path: Path | None) -> Path:
    path = record_path or _site(ctx).state_dir / "builds" / "latest.json"
    if not path.is_file():
        raise EnvironmentProblem(f"no build record at {path}: run `factory build` first")
    return path


@main.command()
@OUTPUT
@click.argument("targets", nargs=-1)
@_record_option
@click.pass_context
@_errors_to_exit_codes
def verify(ctx: click.Context, output: str, targets: tuple[str, ...], record_path: Path | None) -> None:
    """Run every built image of a build record on each of its platforms and check it.

    Checks: the architecture inside matches the platform, the user is the
    numeric non-root account, PID 1 is tini, and the stack's verify commands pass.
    """
    from factory import record as records
    from factory import verify as verifying

    project = _project(ctx)
    cat = project.load()
    path = _record_path(ctx, record_path)
    record = records.read(path)
    built = {t.id for t in record.targets}
    unknown = sorted(set(targets) - built)
    if unknown:
        raise click.BadParameter(
            f"{', '.join(unknown)} not in the record {path} (it has: {', '.join(sorted(built))})", param_hint="TARGETS"
        )
    selection = set(targets) if targets else None
    verifier = verifying.Verifier(Docker.discover(), cat, progress=_say(output))
    results = verifier.verify(record, selection)
    suffix = "" if selection is None else "-" + "-".join(sorted(t.replace(":", "_") for t in selection))[:80]
    out_path = path.parent / (record.run_id if path.name == "latest.json" else "") / f"verify{suffix}.json"
    verifying.write(results, out_path)
    if output == "json":
        click.echo(
            json.dumps(
                [
                    {
                        "target": r.target,
                        "platform": r.platform,
                        "passed": r.passed,
                        "checks": [vars(c) for c in r.checks],
                    }
                    for r in results
                ],
                indent=2,
            )
        )
    else:
        for r in results:
            click.echo(f"{'ok' if r.passed else 'FAILED':<7} {r.target:<28} {r.platform}")
            for c in r.checks:
                if not c.passed:
                    click.echo(f"        {c.name}: {c.detail}")
        click.echo(f"results: {out_path}")
    if not results or not all(r.passed for r in results):
        sys.exit(int(ExitCode.VERIFY_FAILED))


@main.command()
@OUTPUT
@_record_option
@click.pass_context
@_errors_to_exit_codes
def pin(ctx: click.Context, output: str, record_path: Path | None) -> None:
    """Record the digests of a build in pins/images.yaml (then `factory render` uses them in every FROM)."""
    from factory import pins
    from factory import record as records

    project = _project(ctx)
    path = _record_path(ctx, record_path)
    written, changed = pins.write(project.root, records.read(path), project.pin_repositories())
    if output == "json":
        click.echo(json.dumps({"ok": True, "file": str(written), "changed": changed}, indent=2))
    else:
        for target_id in changed:
            click.echo(f"pinned {target_id}")
        click.echo(f"ok: {written} ({len(changed)} changed); run `factory render` to use them")
