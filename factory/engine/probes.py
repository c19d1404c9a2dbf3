"""Is it answering? Readiness probes and facts read from a running engine (local sockets only)."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from factory.process import Runner

TIMEOUT = 3.0


class _UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a unix socket (the Docker API); no proxy can get in the way."""

    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self.path))
        except OSError:
            sock.close()
            raise
        self.sock = sock


def _get(connection: http.client.HTTPConnection, path: str) -> tuple[int, bytes]:
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def docker_api(socket_path: Path, path: str, timeout: float = TIMEOUT) -> Any:
    """GET `path` from the Docker API on `socket_path`, decoded JSON; None if it does not answer."""
    try:
        status, body = _get(_UnixHTTPConnection(socket_path, timeout), path)
        return json.loads(body) if status == 200 else None
    except (OSError, http.client.HTTPException, ValueError):
        return None


def docker_ping(socket_path: Path) -> bool:
    try:
        status, _ = _get(_UnixHTTPConnection(socket_path, TIMEOUT), "/_ping")
    except (OSError, http.client.HTTPException):
        return False
    return status == 200


def registry_ping(address: str) -> bool:
    """The registry answers its API root (plain HTTP, straight to the address: no proxy)."""
    host, _, port = address.rpartition(":")
    try:
        status, _ = _get(http.client.HTTPConnection(host.strip("[]"), int(port), timeout=TIMEOUT), "/v2/")
    except (OSError, http.client.HTTPException, ValueError):
        return False
    return status == 200


def containerd_ping(commands: Runner, ctr: Path, socket_path: Path) -> bool:
    if not socket_path.is_socket():
        return False
    return commands.run([str(ctr), "--address", str(socket_path), "version"], check=False, timeout=TIMEOUT + 2).ok


@dataclass(frozen=True)
class EngineInfo:
    """What the dockerd and its buildx builder report about themselves."""

    version: str
    api_version: str
    image_store: str  # "io.containerd.snapshotter.v1" with the containerd image store
    buildx_version: str | None  # None: the CLI does not find the buildx plugin
    platforms: tuple[str, ...]  # the `default` builder's platforms

    @property
    def containerd_store(self) -> bool:
        return self.image_store.startswith("io.containerd.snapshotter")


def inspect_engine(commands: Runner, socket_path: Path, docker: Path, env: Mapping[str, str]) -> EngineInfo | None:
    """Version and image store from the API, buildx facts from the CLI; None if dockerd does not answer."""
    version = docker_api(socket_path, "/version")
    info = docker_api(socket_path, "/info")
    if not isinstance(version, dict) or not isinstance(info, dict):
        return None
    buildx = commands.run([str(docker), "buildx", "version"], env=env, check=False, timeout=30)
    inspect = commands.run([str(docker), "buildx", "inspect", "default"], env=env, check=False, timeout=30)
    return EngineInfo(
        version=str(version.get("Version", "?")),
        api_version=str(version.get("ApiVersion", "?")),
        image_store=image_store(info),
        buildx_version=buildx.stdout.split()[1] if buildx.ok and len(buildx.stdout.split()) > 1 else None,
        platforms=platforms(inspect.stdout) if inspect.ok else (),
    )


def image_store(info: Mapping[str, Any]) -> str:
    """`driver-type` from /info's DriverStatus (the containerd store), else the graph driver's name."""
    for entry in info.get("DriverStatus") or []:
        if isinstance(entry, list) and len(entry) == 2 and entry[0] == "driver-type":
            return str(entry[1])
    return str(info.get("Driver", "?"))


def platforms(buildx_inspect: str) -> tuple[str, ...]:
    """The first node's `Platforms:` line of `docker buildx inspect`."""
    for line in buildx_inspect.splitlines():
        if line.startswith("Platforms:"):
            return tuple(p.strip() for p in line.partition(":")[2].split(",") if p.strip())
    return ()
