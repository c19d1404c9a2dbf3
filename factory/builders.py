"""Native builder nodes: one engine per platform, reached as a docker context or a buildx builder.

factory.yaml `builders:` maps a platform to an endpoint (a dockerd over unix,
ssh or TLS, a bare buildkitd with the remote driver, or BuildKit pods with
the kubernetes driver). `builder_commands` gives the argv that creates the
builder (unit-tested); `Nodes.ensure` creates it once, and again when
factory.yaml moved the node.
"""

from __future__ import annotations

import threading
from pathlib import Path

from factory.docker import Docker
from factory.errors import EnvironmentProblem
from factory.site import Builder, Driver


def builder_name(platform: str) -> str:
    """The builder (or docker context) of the node that builds `platform`."""
    return f"factory-{platform.replace('/', '-')}"


class Nodes:
    """Creates the builders of native nodes, one at a time (buildx's config is not safe to write twice)."""

    def __init__(self, docker: Docker) -> None:
        self.docker = docker
        self._lock = threading.Lock()

    def ensure(self, node: Builder, log: Path) -> str:
        """A buildx builder for a native node, (re)created when factory.yaml changed its endpoint."""
        name = builder_name(node.platform)
        with self._lock:
            current = self._endpoint(node, name)
            if current == node.endpoint:
                return name
            if current is not None:  # the node moved: drop the stale builder first
                remove = ["context", "rm", "--force", name] if node.driver is Driver.DOCKER else ["buildx", "rm", name]
                self.docker.logged(self.docker.argv(*remove), log=log)
            for args in builder_commands(node, name, self.docker.binary):
                if self.docker.logged(args, log=log) != 0:
                    raise EnvironmentProblem(f"cannot set up builder {name} for {node.endpoint} (log: {log})")
            return name

    def _endpoint(self, node: Builder, name: str) -> str | None:
        """The endpoint an existing builder `name` points at, or None when there is none."""
        if node.driver is Driver.DOCKER:
            args = ["context", "inspect", name, "--format", "{{.Endpoints.docker.Host}}"]
        else:
            args = ["buildx", "inspect", name]
        try:
            out = self.docker.output(*args)
        except EnvironmentProblem:
            return None
        if node.driver is Driver.DOCKER:
            return out.strip()
        if node.driver is Driver.KUBERNETES:
            return node.endpoint if f"namespace={node.endpoint.removeprefix('kubernetes://')}" in out else ""
        endpoints = [line.split(":", 1)[1].strip() for line in out.splitlines() if line.strip().startswith("Endpoint:")]
        return endpoints[0] if endpoints else ""


def builder_commands(node: Builder, name: str, docker: str = "docker") -> list[list[str]]:
    """argv lists that create the builder `name` for a native node (unit-tested, no I/O)."""
    if node.driver is Driver.DOCKER:
        # The docker driver builds on the engine of a docker context: one context per node.
        tls = "".join(f",{key}={node.tls[key]}" for key in ("ca", "cert", "key") if key in node.tls)
        return [[docker, "context", "create", name, "--docker", f"host={node.endpoint}{tls}"]]
    args = [docker, "buildx", "create", "--name", name, "--driver", str(node.driver), "--platform", node.platform]
    if node.driver is Driver.KUBERNETES:
        namespace = node.endpoint.removeprefix("kubernetes://")
        arch = node.platform.split("/")[1]
        args += ["--driver-opt", f"namespace={namespace},nodeselector=kubernetes.io/arch={arch}"]
    else:  # remote: a bare buildkitd over TCP, TLS files as driver options
        names = {"ca": "cacert", "cert": "cert", "key": "key"}
        opts = ",".join(f"{names[k]}={v}" for k, v in sorted(node.tls.items()))
        if opts:
            args += ["--driver-opt", opts]
        args.append(node.endpoint)
    return [args]
