"""`factory engine` on the real machine (FACTORY_TEST_ENGINE=1; root).

The shared default engine is only looked at. Everything started here is a
separate instance: its own prefix, run, log and data directories, docker and
containerd sockets, exec-root, bridge and registry port. The tests of this
module run in order against one instance: cold up, warm up, a node that
builds and runs a tiny image for amd64 and arm64, then down.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from factory.engine import Layout, client_env, procs
from factory.engine.debs import DebCache, PrivateApt
from factory.engine.host import detect
from factory.process import Runner

pytestmark = pytest.mark.engine

FACTORY = Path(sys.executable).parent / "factory"
CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith("FACTORY_")}


def factory(*args: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(FACTORY), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


def test_the_default_engine_is_ready() -> None:
    result = factory("engine", "status", "--output", "json", env=CLEAN_ENV)
    status = json.loads(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert status["ready"] and status["problems"] == []
    assert status["engine"]["image_store"] == "io.containerd.snapshotter.v1"
    assert "linux/arm64" in status["engine"]["platforms"]
    assert status["binfmt"]["state"] == "ok" and "F" in status["binfmt"]["flags"]
    assert status["registry"] == {"address": "127.0.0.1:5000", "reachable": True}
    assert status["env"]["DOCKER_HOST"] == "unix:///var/run/docker.sock"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Instance:
    """A separate engine instance under one short temporary directory (unix socket paths are limited)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="fe-", dir="/tmp"))
        tag = secrets.token_hex(2)
        self.node = f"t{tag}"
        r = self.root
        self.env_vars = {
            "FACTORY_PREFIX": str(r / "prefix"),
            "FACTORY_RUN": str(r / "run"),
            "FACTORY_LOG": str(r / "log"),
            "FACTORY_DOCKER_SOCK": str(r / "run" / "docker.sock"),
            "FACTORY_DOCKER_DATA_ROOT": str(r / "docker"),
            "FACTORY_DOCKER_EXEC_ROOT": str(r / "run" / "docker"),
            "FACTORY_DOCKER_BRIDGE": f"fetest{tag}",
            "FACTORY_CONTAINERD_SOCK": str(r / "run" / "containerd" / "containerd.sock"),
            "FACTORY_CONTAINERD_ROOT": str(r / "containerd"),
            "FACTORY_REGISTRY_ADDR": f"127.0.0.1:{free_port()}",
            "FACTORY_REGISTRY_ROOT": str(r / "registry"),
            "FACTORY_NODE_ROOT": str(r / "nodes"),
        }
        self.env = {**CLEAN_ENV, **self.env_vars}
        self.layout = Layout.from_env(self.env)  # the cache stays the machine's: nothing is downloaded again

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return factory("engine", *args, env=self.env)

    def status(self, *args: str) -> dict[str, object]:
        result = self.run("status", "--output", "json", *args)
        return dict(json.loads(result.stdout))


@pytest.fixture(scope="module")
def instance() -> Iterator[Instance]:
    inst = Instance()
    try:
        yield inst
    finally:
        inst.run("down")  # whatever a failed test left running
        shutil.rmtree(inst.root, ignore_errors=True)


def test_cold_up_of_a_separate_instance(instance: Instance) -> None:
    started = time.monotonic()
    result = instance.run("up", "--output", "json")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    steps = result.stderr
    for step in (
        "unpacked into",
        "started containerd pid",
        "created bridge fetest",
        "started dockerd pid",
        "started registry pid",
        "(nothing downloaded)",
    ):
        assert step in steps
    status = json.loads(result.stdout)
    assert status["ready"], status["problems"]
    components = status["components"]
    assert all(c["state"] == "running" for c in components.values())
    default_pids = {procs.read_pid(Path("/run/factory-engine") / f"{n}.pid") for n in ("containerd", "dockerd")}
    assert not default_pids & {components["containerd"]["pid"], components["dockerd"]["pid"]}
    assert components["dockerd"]["endpoint"] == f"unix://{instance.layout.docker_sock}"
    assert status["registry"]["reachable"] and status["registry"]["address"] == instance.layout.registry_addr
    print(f"cold up (cached .debs, fresh prefix): {elapsed:.1f}s")


def test_warm_up_only_checks(instance: Instance) -> None:
    started = time.monotonic()
    result = instance.run("up")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    for name in ("containerd", "dockerd", "registry"):
        assert f"{name} already running (pid" in result.stdout
    for step in ("nothing downloaded", "packages already unpacked", "configuration unchanged", "already registered"):
        assert step in result.stdout
    assert "started" not in result.stdout and "wrote" not in result.stdout
    assert elapsed < 10
    print(f"warm up: {elapsed:.2f}s")


def busybox_rootfs(deb: Path, tar_path: Path, work: Path) -> None:
    """A merged-/usr rootfs with busybox-static and the few applets the test image uses."""
    Runner().run(["dpkg", "-x", str(deb), str(work)])
    binary = next(p for p in (work / "bin/busybox", work / "usr/bin/busybox") if p.is_file())
    with tarfile.open(tar_path, "w") as tar:
        for name, kind in (("usr", tarfile.DIRTYPE), ("usr/bin", tarfile.DIRTYPE), ("tmp", tarfile.DIRTYPE)):
            info = tarfile.TarInfo(name)
            info.type, info.mode = kind, 0o1777 if name == "tmp" else 0o755
            tar.addfile(info)
        tar.add(binary, "usr/bin/busybox")
        links = {"bin": "usr/bin", **{f"usr/bin/{a}": "busybox" for a in ("sh", "cat", "uname", "echo")}}
        for name, target in links.items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)


def busybox_debs(layout: Layout) -> dict[str, Path]:
    """busybox-static for amd64 and arm64 from the machine's own suite (cached outside the repo)."""
    host = detect(Runner())
    cache = DebCache(layout.cache / "debs-test", host.arch)
    cache.directory.mkdir(parents=True, exist_ok=True)
    archs = ("amd64", "arm64")
    missing = [a for a in archs if cache.cached("busybox-static", a) is None]
    if missing:
        apt = PrivateApt(
            layout.cache / f"apt-{host.codename}-multiarch",
            host.codename,
            Runner(),
            host_codename=host.codename,
            archs=archs,
        )
        apt.download([f"busybox-static:{a}" for a in missing], cache)
    return {a: deb for a in archs if (deb := cache.cached("busybox-static", a)) is not None}


def test_a_node_builds_and_runs_for_both_platforms(instance: Instance, tmp_path: Path) -> None:
    started = time.monotonic()
    result = instance.run("up", "--node", instance.node)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        f"started node-{instance.node} pid" in result.stdout
        and f"created bridge fnode-{instance.node}" in result.stdout
    )
    status = instance.status("--node", instance.node)
    assert status["ready"], status
    print(f"node up: {elapsed:.2f}s")

    context = tmp_path / "context"
    context.mkdir()
    for arch, deb in busybox_debs(instance.layout).items():
        busybox_rootfs(deb, context / f"rootfs-{arch}.tar", tmp_path / arch)
    (context / "Dockerfile").write_text(
        "FROM scratch\nARG TARGETARCH\nADD rootfs-${TARGETARCH}.tar /\n"
        'RUN uname -m > /built-on\nCMD ["cat", "/built-on"]\n'
    )
    env = client_env(instance.layout, instance.node, base=CLEAN_ENV)
    image = "factory-test/busybox:node"

    def docker(*args: str) -> str:
        done = subprocess.run(["docker", *args], env=env, capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout.strip()

    started = time.monotonic()
    docker(
        "buildx",
        "build",
        "--platform",
        "linux/amd64,linux/arm64",
        "--network",
        "host",
        "--provenance=false",
        "--load",
        "-t",
        image,
        str(context),
    )
    print(f"node build (amd64 + arm64 under qemu): {time.monotonic() - started:.1f}s")
    # arm64 under qemu; amd64 on the node's own bridge (its default network).
    assert docker("run", "--rm", "--network", "none", "--platform", "linux/arm64", image) == "aarch64"
    assert docker("run", "--rm", "--platform", "linux/amd64", image, "uname", "-m") == "x86_64"
    # The image lives in the node's containerd namespace, not in the instance's default dockerd.
    default_env = client_env(instance.layout, base=CLEAN_ENV)
    other = subprocess.run(["docker", "image", "inspect", image], env=default_env, capture_output=True, check=False)
    assert other.returncode != 0

    result = instance.run("down", "--node", instance.node)
    assert result.returncode == 0, result.stderr
    assert (
        f"stopped node-{instance.node} (pid" in result.stdout
        and f"deleted bridge fnode-{instance.node}" in result.stdout
    )
    assert instance.status()["ready"]  # the instance's own dockerd is untouched


def test_down_stops_what_up_started(instance: Instance) -> None:
    before = instance.status()
    pids = [c["pid"] for c in before["components"].values()]
    result = instance.run("down")
    assert result.returncode == 0, result.stderr
    for name in ("registry", "dockerd", "containerd"):
        assert f"stopped {name} (pid" in result.stdout
    assert f"deleted bridge {instance.env_vars['FACTORY_DOCKER_BRIDGE']}" in result.stdout
    assert not any(procs.alive(pid) for pid in pids)
    after = instance.run("status", "--output", "json")
    assert after.returncode == 5
    assert {c["state"] for c in json.loads(after.stdout)["components"].values()} == {"stopped"}
    again = instance.run("down")
    assert "dockerd: not running (nothing of ours)" in again.stdout
    # The shared default engine never noticed.
    assert factory("engine", "status", env=CLEAN_ENV).returncode == 0
