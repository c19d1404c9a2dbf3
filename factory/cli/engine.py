"""`factory engine`: the local BuildKit engine, the registry and emulation (root)."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import click

from factory import present
from factory.cli.common import OUTPUT, _project
from factory.errors import DefinitionError, ExitCode
from factory.project import Project

if TYPE_CHECKING:  # engine, lint and build modules load lazily: `validate` and `list` stay fast
    from factory.engine import Engine


@click.group(name="engine")
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
