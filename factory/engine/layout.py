"""Where one engine instance lives: every path, socket and address, each one overridable.

The defaults are the machine-wide engine that CI and developers share (the same
layout the bash prototype used, so either adopts what the other started). A
fully separate instance, e.g. for tests, overrides every path, socket and port
through the constructor or FACTORY_* environment variables. A node
(`factory engine up --node NAME`) is one more dockerd of an instance.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from factory.errors import EnvironmentProblem


def _optional_path(value: str) -> Path | None:
    return Path(value) if value else None


def _optional_str(value: str) -> str | None:
    return value or None


# Environment variable -> (Layout field, conversion). The names are the prototype's.
ENVIRONMENT: Mapping[str, tuple[str, Callable[[str], Any]]] = {
    "FACTORY_PREFIX": ("prefix", Path),
    "FACTORY_CACHE": ("cache", Path),
    "FACTORY_RUN": ("run", Path),
    "FACTORY_LOG": ("log", Path),
    "FACTORY_DOCKER_SOCK": ("docker_sock", Path),
    "FACTORY_DOCKER_DATA_ROOT": ("docker_data_root", Path),
    "FACTORY_DOCKER_EXEC_ROOT": ("docker_exec_root", _optional_path),
    "FACTORY_DOCKER_BRIDGE": ("docker_bridge", _optional_str),
    "FACTORY_CONTAINERD_SOCK": ("containerd_sock", Path),
    "FACTORY_CONTAINERD_ROOT": ("containerd_root", Path),
    "FACTORY_REGISTRY_ADDR": ("registry_addr", str),
    "FACTORY_REGISTRY_ROOT": ("registry_root", Path),
    "FACTORY_NODE_ROOT": ("node_root", Path),
    "FACTORY_NODE_POOL": ("node_pool", str),
    "FACTORY_ENGINE_SUITE": ("engine_suite", str),
    "FACTORY_APT_MIRROR": ("apt_mirror", _optional_str),
    "FACTORY_APT_KEYRING": ("apt_keyring", _optional_path),
}

# A node name becomes part of a bridge name (15 characters at most), a containerd
# namespace and file names.
NODE_NAME = re.compile(r"[a-z][a-z0-9]{0,8}")
NODE_BRIDGE_PREFIX = "fnode-"


@dataclass(frozen=True)
class Dockerd:
    """One dockerd of an instance: the default one, or a named node beside it."""

    name: str  # stem of its pidfile, log and daemon.json: "dockerd" or "node-NAME"
    node: str | None
    socket: Path
    data_root: Path
    exec_root: Path | None  # None: dockerd's default (/var/run/docker)
    bridge: str | None  # None: dockerd's own docker0
    namespace: str | None  # containerd namespace; None: dockerd's default (moby)
    config: Path  # its daemon.json
    client_config: Path  # DOCKER_CONFIG for clients of this dockerd
    env_file: Path  # a shell file that points a shell at this dockerd
    pidfile: Path  # the PID the factory recorded when it started this dockerd
    self_pidfile: Path  # dockerd's own --pidfile (it refuses to start over a live one)
    log: Path

    @property
    def host(self) -> str:
        """The DOCKER_HOST value that reaches this dockerd."""
        return f"unix://{self.socket}"


@dataclass(frozen=True)
class Layout:
    """Paths, sockets and the registry address of one engine instance."""

    prefix: Path = Path("/opt/factory-engine")
    cache: Path = Path("/var/cache/factory")  # .debs and private apt lists; kept between runs
    run: Path = Path("/run/factory-engine")  # pidfiles, lock, node sockets
    log: Path = Path("/var/log/factory-engine")
    docker_sock: Path = Path("/var/run/docker.sock")
    docker_data_root: Path = Path("/var/lib/docker")
    docker_exec_root: Path | None = None
    docker_bridge: str | None = None
    containerd_sock: Path = Path("/run/containerd/containerd.sock")
    containerd_root: Path = Path("/var/lib/containerd")
    registry_addr: str = "127.0.0.1:5000"
    registry_root: Path = Path("/var/lib/factory-registry")
    node_root: Path = Path("/var/lib/factory-nodes")
    # Node bridges take a /24 from here that no address or route of the machine overlaps.
    node_pool: str = "10.213.0.0/16"
    # Suite the engine .debs come from on Debian 12 (its engine 26 frontend knows heredocs).
    engine_suite: str = "trixie"
    apt_mirror: str | None = None  # None: the machine's own apt sources
    apt_keyring: Path | None = None  # None: the machine's Debian archive keyring
    binfmt_dir: Path = Path("/proc/sys/fs/binfmt_misc")

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **settings: Any) -> Layout:
        """`settings` (e.g. the site's registry address) overridden by FACTORY_* variables."""
        values = dict(settings)
        for variable, (name, convert) in ENVIRONMENT.items():
            if variable in environ:
                values[name] = convert(environ[variable])
        return cls(**values)

    @property
    def etc(self) -> Path:
        """Configuration written by `factory engine up`."""
        return self.prefix / "etc" / "factory-engine"

    @property
    def debs(self) -> Path:
        return self.cache / "debs"

    @property
    def lock(self) -> Path:
        return self.run / "lock"

    def pidfile(self, name: str) -> Path:
        return self.run / f"{name}.pid"

    def logfile(self, name: str) -> Path:
        return self.log / f"{name}.log"

    @property
    def registry_host(self) -> str:
        return self.registry_addr.rpartition(":")[0].strip("[]")

    @property
    def registry_port(self) -> int:
        port = self.registry_addr.rpartition(":")[2]
        if not port.isdigit():
            raise EnvironmentProblem(f"registry address {self.registry_addr!r} has no port (host:port)")
        return int(port)

    def check_registry_loopback(self) -> tuple[str, int]:
        """The registry is plain HTTP without authentication: it may only listen on loopback; (host, port)."""
        port = self.registry_port  # validates the port
        host = self.registry_host
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise EnvironmentProblem(
                f"registry address {self.registry_addr}: `factory engine up` serves a plain-HTTP registry only on "
                "a loopback address (127.0.0.0/8); set registry.address in factory.yaml or FACTORY_REGISTRY_ADDR"
            )
        return host, port

    def dockerd(self, node: str | None = None) -> Dockerd:
        """The default dockerd (node None) or the named node's."""
        if node is None:
            return Dockerd(
                name="dockerd",
                node=None,
                socket=self.docker_sock,
                data_root=self.docker_data_root,
                exec_root=self.docker_exec_root,
                bridge=self.docker_bridge,
                namespace=None,
                config=self.etc / "daemon.json",
                client_config=self.etc / "docker-cli",
                env_file=self.prefix / "env.sh",
                pidfile=self.pidfile("dockerd"),
                self_pidfile=self.run / "dockerd.self.pid",
                log=self.logfile("dockerd"),
            )
        if not NODE_NAME.fullmatch(node):
            raise ValueError(f"invalid node name {node!r}: expected {NODE_NAME.pattern}")
        name = f"node-{node}"
        return Dockerd(
            name=name,
            node=node,
            socket=self.run / f"{name}.sock",
            data_root=self.node_root / node,
            exec_root=self.run / name,
            bridge=NODE_BRIDGE_PREFIX + node,
            namespace=f"factory-{name}",
            config=self.etc / f"{name}.json",
            client_config=self.etc / f"docker-cli-{name}",
            env_file=self.prefix / f"env-{name}.sh",
            pidfile=self.pidfile(name),
            self_pidfile=self.run / f"{name}.self.pid",
            log=self.logfile(name),
        )

    def nodes(self) -> list[str]:
        """Nodes that have a pidfile, i.e. were started and not stopped by `factory engine down`."""
        found = (p.name.removeprefix("node-").removesuffix(".pid") for p in self.run.glob("node-*.pid"))
        return sorted(n for n in found if NODE_NAME.fullmatch(n))
