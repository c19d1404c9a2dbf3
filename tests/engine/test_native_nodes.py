"""One engine per platform plus a manifest merge, for real, on one machine.

`factory engine up --node arm64` starts a second dockerd; factory.yaml maps
linux/arm64 to it. The build then runs linux/amd64 on the default engine and
linux/arm64 on the node (emulated here, exactly as a native node would be
driven), pushes per-platform tags and merges them with `imagetools create`.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from factory import record
from factory.cli import main
from factory.docker import Docker
from tests.conftest import REPO

pytestmark = pytest.mark.engine
NODE = "arm64"


@pytest.fixture(scope="module")
def node_socket() -> Iterator[str]:
    runner = CliRunner()
    up = runner.invoke(main, ["engine", "up", "--node", NODE])
    assert up.exit_code == 0, up.output
    yield f"unix:///run/factory-engine/node-{NODE}.sock"
    down = runner.invoke(main, ["engine", "down", "--node", NODE])
    assert down.exit_code == 0, down.output


def test_platforms_built_on_their_own_engines_and_merged(make_project: Callable[..., Path], node_socket: str) -> None:
    root = make_project(
        files={
            # the real OS definition: its cached rootfs is shared with the catalogue's builds
            "stacks/os.yaml": (REPO / "stacks" / "os.yaml").read_text(),
            "factory.yaml": (
                "registry: {namespace: factory-nodes, staging_namespace: factory-nodes-staging}\n"
                f"builders:\n  linux/arm64: {{endpoint: '{node_socket}', network: host}}\n"
            ),
        }
    )
    runner = CliRunner()
    assert runner.invoke(main, ["--root", str(root), "render"]).exit_code == 0
    result = runner.invoke(main, ["--root", str(root), "build"])
    assert result.exit_code == 0, result.output
    rec = record.read(root / ".factory" / "builds" / "latest.json")
    for target in rec.targets:
        assert target.status == "built", target
        assert target.builders == {"linux/amd64": "local", "linux/arm64": node_socket}
        assert set(target.images) == {"linux/amd64", "linux/arm64"}
    tool = rec.result("tool:1.0-runtime")
    log = Path(tool.log or "").read_text()
    assert "buildx imagetools create --tag" in log
    assert "docker --context factory-linux-arm64 buildx build" in log
    docker = Docker.discover()
    for platform, machine in (("linux/amd64", "x86_64"), ("linux/arm64", "aarch64")):
        out = subprocess.run(
            [docker.binary, "run", "--rm", "--platform", platform, tool.base_pin or "", "uname", "-m"],
            env=dict(docker.env),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert out.strip() == machine
