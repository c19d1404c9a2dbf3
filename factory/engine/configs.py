"""The files `factory engine up` writes: daemon configs, the CLI's config, a docker wrapper, env files.

A file is rewritten only when its meaning changes (parsed JSON, TOML or YAML
compared; comment lines ignored in shell files), so a warm run writes nothing
and an engine started by the bash prototype is adopted as it is.
"""

from __future__ import annotations

import json
import shlex
import tomllib
from pathlib import Path
from typing import Any

import yaml

from factory.engine.host import Binaries
from factory.engine.layout import Dockerd, Layout

HEADER = "Written by `factory engine up`; rewritten when its settings change."


def containerd_toml(layout: Layout) -> str:
    """containerd for the factory's dockerd(s); CRI is not needed."""
    q = json.dumps  # a JSON string is a valid TOML basic string
    return (
        f"# {HEADER}\n"
        "version = 2\n"
        f"root = {q(str(layout.containerd_root))}\n"
        f"state = {q(str(layout.containerd_sock.parent))}\n"
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
        "\n"
        "[grpc]\n"
        f"  address = {q(str(layout.containerd_sock))}\n"
    )


def daemon_json(layout: Layout, dockerd: Dockerd, binaries: Binaries) -> str:
    """dockerd's configuration: the containerd image store (multi-platform images with buildx's docker driver)."""
    config: dict[str, Any] = {
        "hosts": [dockerd.host],
        "containerd": str(layout.containerd_sock),
        "data-root": str(dockerd.data_root),
        "pidfile": str(dockerd.self_pidfile),
        "init-path": str(binaries.init),
        "features": {"containerd-snapshotter": True},
    }
    if dockerd.exec_root is not None:
        config["exec-root"] = str(dockerd.exec_root)
    if dockerd.namespace is not None:  # a node shares containerd under namespaces of its own
        config["containerd-namespace"] = dockerd.namespace
        config["containerd-plugins-namespace"] = f"{dockerd.namespace}-plugins"
    if dockerd.bridge is not None:
        # Its own bridge, never "none" (that deletes the first engine's docker0); no
        # iptables rules, which belong to the first engine: builds need --network host.
        config.update({"bridge": dockerd.bridge, "iptables": False, "ip-masq": False})
    return json.dumps(config, indent=2) + "\n"


def registry_yml(layout: Layout) -> str:
    """Debian's docker-registry (distribution 2.8): plain HTTP, loopback only."""
    config = {
        "version": 0.1,
        "log": {"level": "info", "formatter": "text"},
        "storage": {"filesystem": {"rootdirectory": str(layout.registry_root)}, "delete": {"enabled": True}},
        "http": {"addr": layout.registry_addr, "headers": {"X-Content-Type-Options": ["nosniff"]}},
    }
    return f"# {HEADER}\n" + yaml.safe_dump(config, sort_keys=False)


def cli_config(binaries: Binaries) -> str:
    """The CLI finds buildx through its own config dir: nothing goes to ~/.docker, other CLIs are unaffected."""
    return json.dumps({"cliPluginsExtraDirs": [str(binaries.buildx_dir)]}, indent=2) + "\n"


def docker_wrapper(layout: Layout, binaries: Binaries) -> str:
    """bin/docker: the engine's own CLI release, defaulting to the default dockerd."""
    default = layout.dockerd()
    return (
        "#!/bin/sh\n"
        f"# {HEADER}\n"
        "# The docker CLI of the engine's release (with the buildx plugin), talking to the factory engine.\n"
        f': "${{DOCKER_HOST:={default.host}}}"\n'
        f': "${{DOCKER_CONFIG:={default.client_config}}}"\n'
        "export DOCKER_HOST DOCKER_CONFIG\n"
        f'exec {shlex.quote(str(binaries.docker))} "$@"\n'
    )


def env_sh(layout: Layout, dockerd: Dockerd) -> str:
    """A file to source: puts bin/docker first on PATH and points it at `dockerd`."""
    values = client_settings(layout, dockerd)
    lines = [f"# {HEADER} Use it with:  . {dockerd.env_file}"]
    lines.append(f'export PATH="{layout.prefix}/bin:$PATH"')
    lines += [f"export {key}={shlex.quote(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def client_settings(layout: Layout, dockerd: Dockerd) -> dict[str, str]:
    """What a docker/buildx client needs to use `dockerd`, PATH aside."""
    return {
        "DOCKER_HOST": dockerd.host,
        "DOCKER_CONFIG": str(dockerd.client_config),
        "BUILDX_BUILDER": "default",
        "FACTORY_REGISTRY": layout.registry_addr,
    }


def write_if_changed(path: Path, text: str, mode: int = 0o644) -> bool:
    """Write `text` atomically unless `path` already says the same; True if written."""
    try:
        if same_meaning(path, path.read_text(), text):
            return False
    except (OSError, ValueError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.chmod(mode)
    tmp.replace(path)
    return True


def same_meaning(path: Path, old: str, new: str) -> bool:
    """Compare what the daemon or shell will read, not comments or formatting."""
    if path.suffix == ".json":
        return bool(json.loads(old) == json.loads(new))
    if path.suffix == ".toml":
        return tomllib.loads(old) == tomllib.loads(new)
    if path.suffix in (".yml", ".yaml"):
        return bool(yaml.safe_load(old) == yaml.safe_load(new))
    return _code_lines(old) == _code_lines(new)


def _code_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
