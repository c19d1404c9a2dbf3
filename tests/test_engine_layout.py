from __future__ import annotations

from pathlib import Path

import pytest

from factory.engine import host as hostmod
from factory.engine.host import Binaries, Host
from factory.engine.layout import Layout
from factory.errors import EnvironmentProblem
from tests.fakes import FakeRunner, ok


def test_environment_overrides_take_precedence_over_settings() -> None:
    layout = Layout.from_env(
        {
            "FACTORY_PREFIX": "/tmp/p",
            "FACTORY_REGISTRY_ADDR": "127.0.0.1:5055",
            "FACTORY_DOCKER_BRIDGE": "ftest0",
            "FACTORY_APT_MIRROR": "",
            "UNRELATED": "x",
        },
        registry_addr="127.0.0.1:5000",
        docker_sock=Path("/tmp/d.sock"),
    )
    assert layout.prefix == Path("/tmp/p") and layout.etc == Path("/tmp/p/etc/factory-engine")
    assert layout.registry_addr == "127.0.0.1:5055" and layout.registry_port == 5055
    assert layout.docker_sock == Path("/tmp/d.sock") and layout.docker_bridge == "ftest0"
    assert layout.apt_mirror is None
    assert Layout.from_env({}) == Layout()


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1:5000", ("127.0.0.1", 5000)),
        ("127.0.0.2:5055", ("127.0.0.2", 5055)),
        ("localhost:5000", ("localhost", 5000)),
        ("[::1]:5000", ("::1", 5000)),
    ],
)
def test_loopback_registry_addresses(address: str, expected: tuple[str, int]) -> None:
    assert Layout(registry_addr=address).check_registry_loopback() == expected


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("0.0.0.0:5000", "only on a loopback address"),
        ("192.0.2.2:5000", "only on a loopback address"),
        ("registry.example.com:443", "only on a loopback address"),
        ("127.0.0.1", "has no port"),
    ],
)
def test_registry_must_be_loopback(address: str, message: str) -> None:
    with pytest.raises(EnvironmentProblem, match=message) as info:
        Layout(registry_addr=address).check_registry_loopback()
    assert info.value.exit_code == 5


def test_node_paths_and_names(tmp_path: Path) -> None:
    layout = Layout(run=tmp_path)
    node = layout.dockerd("arm64")
    assert (node.socket, node.pidfile, node.bridge) == (
        tmp_path / "node-arm64.sock",
        tmp_path / "node-arm64.pid",
        "fnode-arm64",
    )
    assert len(layout.dockerd("abcdefghi").bridge or "") <= 15  # Linux interface names
    with pytest.raises(ValueError, match="invalid node name"):
        layout.dockerd("Arm64")
    for name in ("node-arm64.pid", "node-arm64.self.pid", "node-amd64.pid", "dockerd.pid", "node-X.pid"):
        (tmp_path / name).write_text("1")
    assert layout.nodes() == ["amd64", "arm64"]


def etc(tmp_path: Path, os_release: str, debian_version: str = "12.11\n") -> Path:
    (tmp_path / "os-release").write_text(os_release)
    (tmp_path / "debian_version").write_text(debian_version)
    return tmp_path


ARCH = FakeRunner([(["dpkg", "--print-architecture"], ok("amd64\n"))])


def test_debian12_runs_the_engine_from_the_prefix(tmp_path: Path) -> None:
    host = hostmod.detect(ARCH, etc(tmp_path, 'VERSION_ID="12"\nVERSION_CODENAME=bookworm\n'))
    assert host == Host(12, "bookworm", "amd64") and host.engine_in_prefix
    base = ("runc", "tini", "iptables", "iproute2", "qemu-user-static", "mmdebstrap", "arch-test", "skopeo")
    assert host.apt_packages == base
    assert host.prefix_packages == ("docker.io", "docker-cli", "docker-buildx", "containerd")
    assert host.tool_packages == ("cosign", "oras")  # trixie's, into prefix/tools
    bins = Binaries.of(host, Path("/opt/fe"))
    assert bins.dockerd == Path("/opt/fe/usr/sbin/dockerd") and bins.init == Path("/usr/bin/tini-static")
    assert bins.path.startswith("/opt/fe/usr/sbin:/opt/fe/usr/bin:")


def test_debian13_uses_its_own_engine_packages(tmp_path: Path) -> None:
    host = hostmod.detect(ARCH, etc(tmp_path, "VERSION_ID=13\nVERSION_CODENAME=trixie\n", "13.1\n"))
    assert not host.engine_in_prefix and host.prefix_packages == () and host.tool_packages == ()
    assert host.apt_packages[:3] == ("docker.io", "docker-cli", "docker-buildx") and "qemu-user" in host.apt_packages
    assert {"skopeo", "cosign", "oras"} <= set(host.apt_packages)
    bins = Binaries.of(host, Path("/opt/fe"))
    assert bins.dockerd == Path("/usr/sbin/dockerd") and bins.registry == Path("/opt/fe/usr/bin/docker-registry")


def test_testing_and_unsupported_releases(tmp_path: Path) -> None:
    sid = hostmod.detect(ARCH, etc(tmp_path, "VERSION_CODENAME=forky\n", "forky/sid\n"))
    assert sid.major == 99 and not sid.engine_in_prefix
    with pytest.raises(EnvironmentProblem, match=r"Debian 11 .* not supported"):
        hostmod.detect(ARCH, etc(tmp_path, "VERSION_ID=11\nVERSION_CODENAME=bullseye\n"))
    with pytest.raises(EnvironmentProblem, match="not a Debian system"):
        hostmod.detect(ARCH, tmp_path / "absent")
