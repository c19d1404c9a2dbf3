"""The factory engine's docker: its CLI for builds, its API for containers.

Builds stay on the buildx CLI (argv from factory.buildx, run through the one
process layer with the engine's environment). Containers (verify: run, wait,
logs, stop, exit code, timing) go through the docker SDK against the same
DOCKER_HOST, so a check sees the real exit code and output of the process and
a hung container is stopped and removed, never left behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker as docker_sdk
import docker.errors as docker_errors
import requests.exceptions

from factory.errors import EnvironmentProblem
from factory.process import Result, Runner


@dataclass(frozen=True)
class RunOutcome:
    """How one container ended: its exit code, its output (stdout and stderr) and how long it took."""

    exit_code: int
    output: str
    duration_s: float
    timed_out: bool = False


@dataclass(frozen=True)
class ContainerSpec:
    """What to run: image, command and the isolation settings verify uses."""

    image: str
    command: Sequence[str]
    platform: str
    entrypoint: Sequence[str] | None = None
    user: str | None = None
    read_only: bool = False
    tmpfs: Mapping[str, str] = field(default_factory=dict)
    volumes: Mapping[str, str] = field(default_factory=dict)  # volume name -> "mount point:mode"
    environment: Mapping[str, str] = field(default_factory=dict)
    network: str = "none"  # checks run offline; "bridge" where a step must fetch something


class Docker:
    """The engine's docker CLI (through the process layer) and its API (through the SDK)."""

    def __init__(self, binary: str, env: Mapping[str, str], runner: Runner | None = None) -> None:
        self.binary = binary
        self.env = dict(env)
        self.runner = runner or Runner(self.env)
        self._client: Any = None

    @classmethod
    def discover(cls, node: str | None = None) -> Docker:
        """The engine `factory engine up` set up ($FACTORY_DOCKER overrides the CLI binary)."""
        from factory.engine.layout import Layout
        from factory.engine.state import client_env

        layout = Layout.from_env(os.environ)
        env = client_env(layout, node)
        wrapper = layout.prefix / "bin" / "docker"
        binary = os.environ.get("FACTORY_DOCKER") or (str(wrapper) if wrapper.exists() else shutil.which("docker"))
        if not binary:
            raise EnvironmentProblem("no docker CLI: run `factory engine up` first")
        return cls(binary, env)

    # -- the CLI ---------------------------------------------------------------------

    def argv(self, *args: str) -> list[str]:
        """`docker ARGS...` with the engine's binary."""
        return [self.binary, *args]

    def logged(self, argv: Sequence[str], *, log: Path, unset: Sequence[str] = ()) -> int:
        """Run a docker command with its output appended to `log`; the exit code (builds have no timeout)."""
        return self.runner.run(argv, check=False, log=log, unset=unset, timeout=None).returncode

    def output(self, *args: str, timeout: float = 120) -> str:
        """Output of `docker ARGS...`; a failure raises CommandFailed naming the command."""
        result: Result = self.runner.run(self.argv(*args), timeout=timeout)
        return result.stdout

    # -- containers, through the SDK -------------------------------------------------------

    @property
    def client(self) -> Any:
        """A docker SDK client for the engine (DOCKER_HOST of the engine's environment)."""
        if self._client is None:
            self._client = docker_sdk.DockerClient(base_url=self.env.get("DOCKER_HOST"), timeout=600)
        return self._client

    def pull(self, reference: str, platform: str) -> None:
        """Make `reference` (repo@digest) present for `platform`."""
        try:
            self.client.images.pull(reference, platform=platform)
        except (docker_errors.APIError, requests.exceptions.RequestException) as exc:
            raise EnvironmentProblem(f"cannot pull {reference} for {platform}: {_short(exc)}") from exc

    def run(self, spec: ContainerSpec, *, timeout: float) -> RunOutcome:
        """Run a container to its end (stopped after `timeout` seconds), return its exit code and output."""
        start = time.monotonic()
        try:
            container = self.client.containers.create(
                spec.image,
                command=list(spec.command),
                entrypoint=list(spec.entrypoint) if spec.entrypoint is not None else None,
                platform=spec.platform,
                user=spec.user,
                read_only=spec.read_only,
                tmpfs=dict(spec.tmpfs) or None,
                volumes=_volumes(spec.volumes),
                environment=dict(spec.environment) or None,
                network_mode=spec.network,
            )
        except (docker_errors.APIError, requests.exceptions.RequestException) as exc:
            raise EnvironmentProblem(f"cannot create a container of {spec.image}: {_short(exc)}") from exc
        timed_out = False
        try:
            container.start()
            try:
                code = int(container.wait(timeout=timeout).get("StatusCode", -1))
            except (requests.exceptions.ConnectionError, requests.exceptions.ReadTimeout):
                # The wait timed out: the container hangs. Over a unix socket the SDK reports it as a
                # ConnectionError, over TCP as the ReadTimeout its documentation names.
                timed_out = True
                container.stop(timeout=5)
                code = -1
            output = container.logs(stdout=True, stderr=True).decode(errors="replace")
        except (docker_errors.APIError, requests.exceptions.RequestException) as exc:
            raise EnvironmentProblem(f"running {spec.image} failed: {_short(exc)}") from exc
        finally:
            with contextlib.suppress(docker_errors.APIError):
                container.remove(force=True)
        return RunOutcome(code, output, round(time.monotonic() - start, 2), timed_out)

    def volume(self, name: str) -> str:
        """Create (or reuse) a named volume; its name."""
        try:
            self.client.volumes.create(name=name)
        except (docker_errors.APIError, requests.exceptions.RequestException) as exc:
            raise EnvironmentProblem(f"cannot create the volume {name}: {_short(exc)}") from exc
        return name

    def remove_volume(self, name: str) -> None:
        """Remove a named volume (gone already is fine)."""
        try:
            self.client.volumes.get(name).remove(force=True)
        except docker_errors.NotFound:
            return
        except (docker_errors.APIError, requests.exceptions.RequestException) as exc:
            raise EnvironmentProblem(f"cannot remove the volume {name}: {_short(exc)}") from exc

    def stop_time(self, spec: ContainerSpec, *, grace: int, settle: float = 1.0, timeout: float = 300) -> StopOutcome:
        """Start a long-running container, wait until it runs (plus `settle` s), time `docker stop -t grace`."""
        try:
            container = self.client.containers.create(
                spec.image,
                command=list(spec.command),
                entrypoint=list(spec.entrypoint) if spec.entrypoint is not None else None,
                platform=spec.platform,
                user=spec.user,
                volumes=_volumes(spec.volumes),
                network_mode=spec.network,
            )
        except (docker_errors.APIError, requests.exceptions.RequestException) as exc:
            raise EnvironmentProblem(f"cannot create a container of {spec.image}: {_short(exc)}") from exc
        try:
            container.start()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                container.reload()
                if container.status != "created":
                    break
                time.sleep(0.2)
            time.sleep(settle)  # under emulation the process needs a moment to install its handlers
            start = time.monotonic()
            container.stop(timeout=grace)
            seconds = time.monotonic() - start
            code = int(container.wait(timeout=60).get("StatusCode", -1))
        except (docker_errors.APIError, requests.exceptions.RequestException) as exc:
            raise EnvironmentProblem(f"stopping {spec.image} failed: {_short(exc)}") from exc
        finally:
            with contextlib.suppress(docker_errors.APIError):
                container.remove(force=True)
        return StopOutcome(round(seconds, 2), code)


@dataclass(frozen=True)
class StopOutcome:
    """How long `docker stop` took to end a running container, and its exit code."""

    seconds: float
    exit_code: int


def _volumes(volumes: Mapping[str, str]) -> dict[str, dict[str, str]] | None:
    """{"name": "/mount:ro"} in the SDK's shape."""
    out = {}
    for name, mount in volumes.items():
        point, _, mode = mount.partition(":")
        out[name] = {"bind": point, "mode": mode or "rw"}
    return out or None


def _short(exc: BaseException) -> str:
    text = getattr(exc, "explanation", None) or str(exc)
    return str(text).strip().splitlines()[0][:300] if str(text).strip() else type(exc).__name__
