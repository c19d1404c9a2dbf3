"""What an engine instance is made of and how it is doing: daemons, their states, the client environment."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from factory.engine import configs, probes
from factory.engine.layout import Layout

Report = Callable[[str], None]


def quiet(_: str) -> None:
    """A reporter that says nothing."""
    pass


@dataclass(frozen=True)
class Daemon:
    """One long-running process of the instance and how to start, probe and stop it."""

    name: str
    exe: Path
    argv: tuple[str, ...]
    config: Path  # a change here needs a restart
    log: Path
    pidfile: Path
    listen: Path | str  # unix socket, or host:port
    setting: str  # what to change to put it elsewhere (named in conflict errors)
    probe: Callable[[], bool]
    ready_timeout: float
    stop_timeout: float
    stale: tuple[Path, ...] = ()  # left behind by a previous run; removed before a start
    bridge: str | None = None  # created before a start, if missing

    @property
    def endpoint(self) -> str:
        return f"unix://{self.listen}" if isinstance(self.listen, Path) else f"http://{self.listen}"


@dataclass(frozen=True)
class Component:
    """How one daemon is doing: running (ours and answering), not answering, or stopped."""

    name: str
    state: str
    pid: int | None
    endpoint: str
    log: str


@dataclass(frozen=True)
class Status:
    """Everything `factory engine status` reports; ready when `problems` is empty."""

    host: str
    prefix: str
    node: str | None
    components: tuple[Component, ...]
    binfmt: dict[str, str]
    engine: probes.EngineInfo | None
    registry: str
    registry_reachable: bool
    env: dict[str, str]
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def ready(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        engine = self.engine
        return {
            "ready": self.ready,
            "problems": list(self.problems),
            "warnings": list(self.warnings),
            "host": self.host,
            "prefix": self.prefix,
            "node": self.node,
            "components": {
                c.name: {"state": c.state, "pid": c.pid, "endpoint": c.endpoint, "log": c.log} for c in self.components
            },
            "engine": None
            if engine is None
            else {
                "version": engine.version,
                "api_version": engine.api_version,
                "image_store": engine.image_store,
                "buildx_version": engine.buildx_version,
                "builder": "default",
                "platforms": list(engine.platforms),
            },
            "binfmt": self.binfmt,
            "registry": {"address": self.registry, "reachable": self.registry_reachable},
            "env": self.env,
        }


def client_env(
    layout: Layout | None = None, node: str | None = None, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment to run docker/buildx against the engine (or a node): `base` (default os.environ)
    with PATH (bin/docker first), DOCKER_HOST, DOCKER_CONFIG, BUILDX_BUILDER and FACTORY_REGISTRY set."""
    layout = layout or Layout.from_env(os.environ)
    env = dict(os.environ if base is None else base)
    env.pop("DOCKER_CONTEXT", None)  # it would override DOCKER_HOST
    env.update(configs.client_settings(layout, layout.dockerd(node)))
    env["PATH"] = f"{layout.prefix / 'bin'}:{env.get('PATH') or os.defpath}"
    return env
