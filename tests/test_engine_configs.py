from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from factory.engine import configs
from factory.engine.host import Binaries, Host
from factory.engine.layout import Layout
from tests.conftest import FIXTURES

ENGINE = FIXTURES / "engine"
BOOKWORM = Binaries.of(Host(12, "bookworm", "amd64"), Layout().prefix)


def test_default_daemon_json_is_the_prototypes() -> None:
    layout = Layout()
    text = configs.daemon_json(layout, layout.dockerd(), BOOKWORM)
    assert json.loads(text) == json.loads((ENGINE / "prototype-daemon.json").read_text())
    assert json.loads(text) == {
        "hosts": ["unix:///var/run/docker.sock"],
        "containerd": "/run/containerd/containerd.sock",
        "data-root": "/var/lib/docker",
        "pidfile": "/run/factory-engine/dockerd.self.pid",
        "init-path": "/usr/bin/tini-static",
        "features": {"containerd-snapshotter": True},
    }


def test_node_daemon_json_has_its_own_everything_but_containerd() -> None:
    layout = Layout()
    config = json.loads(configs.daemon_json(layout, layout.dockerd("arm64"), BOOKWORM))
    assert config == {
        "hosts": ["unix:///run/factory-engine/node-arm64.sock"],
        "containerd": "/run/containerd/containerd.sock",
        "data-root": "/var/lib/factory-nodes/arm64",
        "pidfile": "/run/factory-engine/node-arm64.self.pid",
        "init-path": "/usr/bin/tini-static",
        "features": {"containerd-snapshotter": True},
        "exec-root": "/run/factory-engine/node-arm64",
        "containerd-namespace": "factory-node-arm64",
        "containerd-plugins-namespace": "factory-node-arm64-plugins",
        # never "none": that deletes the first engine's docker0
        "bridge": "fnode-arm64",
        "iptables": False,
        "ip-masq": False,
    }


def test_a_separate_instance_gets_its_own_bridge_and_exec_root() -> None:
    layout = Layout(docker_exec_root=Path("/tmp/t/exec"), docker_bridge="ftest0")
    config = json.loads(configs.daemon_json(layout, layout.dockerd(), BOOKWORM))
    assert config["exec-root"] == "/tmp/t/exec" and config["bridge"] == "ftest0" and config["iptables"] is False
    assert "containerd-namespace" not in config


@pytest.mark.parametrize(
    ("name", "render"),
    [
        ("containerd.toml", lambda lay: configs.containerd_toml(lay)),
        ("registry.yml", lambda lay: configs.registry_yml(lay)),
        ("env.sh", lambda lay: configs.env_sh(lay, lay.dockerd())),
        ("docker", lambda lay: configs.docker_wrapper(lay, BOOKWORM)),
    ],
)
def test_the_prototypes_files_mean_the_same(name: str, render: Callable[[Layout], str]) -> None:
    # A warm `up` on an engine the bash prototype started must not rewrite (or warn about) anything.
    new = render(Layout())
    old = (ENGINE / f"prototype-{name}").read_text()
    assert configs.same_meaning(Path(name), old, new)
    assert not configs.same_meaning(Path(name), old, new.replace("/var/", "/srv/"))


def test_write_if_changed(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "daemon.json"
    assert configs.write_if_changed(path, '{"a": 1}\n')
    assert not configs.write_if_changed(path, '{\n  "a": 1\n}\n')  # same meaning, other layout
    assert path.read_text() == '{"a": 1}\n'
    assert configs.write_if_changed(path, '{"a": 2}\n')
    path.write_text("not json")
    assert configs.write_if_changed(path, '{"a": 2}\n')
    script = tmp_path / "docker"
    assert configs.write_if_changed(script, "#!/bin/sh\nexec x\n", 0o755)
    assert script.stat().st_mode & 0o777 == 0o755
    assert not configs.write_if_changed(script, "#!/bin/sh\n# a new comment\nexec x\n", 0o755)


def test_env_file_of_a_node() -> None:
    layout = Layout(registry_addr="127.0.0.1:5055")
    assert configs.env_sh(layout, layout.dockerd("arm64")).splitlines()[1:] == [
        'export PATH="/opt/factory-engine/bin:$PATH"',
        "export DOCKER_HOST=unix:///run/factory-engine/node-arm64.sock",
        "export DOCKER_CONFIG=/opt/factory-engine/etc/factory-engine/docker-cli-node-arm64",
        "export BUILDX_BUILDER=default",
        "export FACTORY_REGISTRY=127.0.0.1:5055",
    ]
