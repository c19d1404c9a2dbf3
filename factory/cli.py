"""The `factory` command: the only place that prints or exits.

Exit codes (also in README.md): 0 ok, 1 check failed (drift), 2 usage,
3 invalid definitions, 4 render failed, 5 environment, 70 internal error.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from factory import __version__
from factory.errors import DefinitionError, ExitCode, FactoryError
from factory.project import Project

if TYPE_CHECKING:  # the engine modules load only for `factory engine`
    from factory.engine import Engine, Status

F = TypeVar("F", bound=Callable[..., Any])

OUTPUT = click.option(
    "--output",
    "-o",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format; json is stable and meant for scripts and CI.",
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
    rows = matrix.rows(cat, stacks or None)
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
@click.pass_context
@_errors_to_exit_codes
def render(ctx: click.Context, output: str, stacks: tuple[str, ...], check: bool, syntax_line: str | None) -> None:
    """Render every target's Dockerfile and .dockerignore into rendered/ (atomically)."""
    from factory import render as rendering

    project = _project(ctx)
    cat = project.load()
    scope = _scope(cat, stacks)
    files = rendering.Renderer(project.templates, cat, syntax_line=syntax_line).render_all(scope)
    if check:
        difference = rendering.diff(project.rendered, files, scope)
        if output == "json":
            click.echo(json.dumps({"ok": not difference, "stale": bool(difference), "diff": difference}, indent=2))
        elif difference:
            click.echo(difference, nl=False)
            click.echo("error: rendered/ is stale: run `factory render` and commit the result", err=True)
        else:
            click.echo(f"ok: rendered/ is up to date ({len(files)} files)")
        sys.exit(int(ExitCode.CHECK_FAILED) if difference else 0)
    changed = rendering.write(project.rendered, files, scope)
    if output == "json":
        click.echo(json.dumps({"ok": True, "files": len(files), "changed": changed}, indent=2))
    else:
        for path in changed:
            click.echo(f"wrote rendered/{path}")
        click.echo(f"ok: {len(files)} files rendered, {len(changed)} changed")


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
        project = Project(root.resolve()) if root is not None else Project.find()
        registry = site.load(project.root).registry.address
    except DefinitionError:
        if root is not None:
            raise
        registry = site.Registry().address  # outside a project: the default site
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
