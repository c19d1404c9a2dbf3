"""The machine the engine runs on: Debian release, architecture, and where the engine's binaries are.

Debian 13 ships an engine new enough for the factory (26.x: heredocs in the
built-in Dockerfile frontend, the containerd image store). Debian 12's own
engine (20.10) is not, so there the engine runs from trixie's .debs unpacked
into a private prefix, next to Debian 12's runc (trixie's needs a newer glibc).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from factory import osrelease
from factory.errors import EnvironmentProblem
from factory.process import Runner

# Unpacked, never apt-installed, on every release: its package would start a
# registry service on :5000 on a machine with a working init.
REGISTRY_PACKAGE = "docker-registry"
ENGINE_PACKAGES = ("docker.io", "docker-cli", "docker-buildx", "containerd")
# `factory os bootstrap` makes the OS root filesystems with these (arch-test: can this
# machine run a foreign architecture's binaries, through qemu).
BOOTSTRAP_PACKAGES = ("mmdebstrap", "arch-test")
# `factory publish` copies with skopeo (Debian 12 and 13), signs with cosign and
# attaches with oras (Debian 13 only: on 12 their trixie .debs, static Go binaries,
# are unpacked into the prefix's tools/ directory, beside a running engine).
COPY_PACKAGES = ("skopeo",)
TOOL_PACKAGES = ("cosign", "oras")
TOOLS_DIR = "tools"


@dataclass(frozen=True)
class Host:
    """Debian major release, codename and dpkg architecture of this machine."""

    major: int
    codename: str
    arch: str

    @property
    def engine_in_prefix(self) -> bool:
        """True where the engine runs from .debs unpacked into the prefix (Debian 12)."""
        return self.major == 12

    @property
    def apt_packages(self) -> tuple[str, ...]:
        """Installed with apt-get (without recommends: binfmt-support would register qemu without F)."""
        if self.engine_in_prefix:
            # runc and tini from Debian 12 itself: trixie's need GLIBC 2.38.
            base = ("runc", "tini", "iptables", "iproute2", "qemu-user-static")
            return (*base, *BOOTSTRAP_PACKAGES, *COPY_PACKAGES)
        # qemu-user carries the static emulators; qemu-user-static is transitional on 13.
        engine = (*ENGINE_PACKAGES, "runc", "tini", "iptables", "iproute2", "qemu-user")
        return (*engine, *BOOTSTRAP_PACKAGES, *COPY_PACKAGES, *TOOL_PACKAGES)

    @property
    def prefix_packages(self) -> tuple[str, ...]:
        """Downloaded from the engine suite into the .deb cache and unpacked into the prefix."""
        return ENGINE_PACKAGES if self.engine_in_prefix else ()

    @property
    def tool_packages(self) -> tuple[str, ...]:
        """Downloaded from the engine suite and unpacked into prefix/tools (no daemon runs from them)."""
        return TOOL_PACKAGES if self.engine_in_prefix else ()

    def describe(self) -> str:
        return f"Debian {self.major} ({self.codename}), {self.arch}"


def detect(commands: Runner, etc: Path = Path("/etc")) -> Host:
    """Read the release from os-release (debian_version for testing/sid) and the dpkg architecture."""
    if not (etc / "debian_version").is_file():
        raise EnvironmentProblem(f"not a Debian system ({etc / 'debian_version'} is missing); need Debian 12 or 13")
    release = osrelease.read(etc / "os-release")
    codename = release.get("VERSION_CODENAME", "")
    version = release.get("VERSION_ID", "")
    if version:
        major = int(version.split(".")[0])
    else:
        # testing/sid have no VERSION_ID; debian_version then reads e.g. "trixie/sid".
        text = (etc / "debian_version").read_text().strip()
        major = int(text.split(".")[0]) if text[:1].isdigit() else 99
    if not codename:
        raise EnvironmentProblem(f"cannot read VERSION_CODENAME from {etc / 'os-release'}")
    if major < 12:
        raise EnvironmentProblem(f"Debian {major} ({codename}) is not supported: need Debian 12 or 13")
    arch = commands.run(["dpkg", "--print-architecture"]).stdout.strip()
    return Host(major, codename, arch)


@dataclass(frozen=True)
class Binaries:
    """Absolute paths of the engine's programs on this host."""

    containerd: Path
    ctr: Path
    dockerd: Path
    docker: Path
    buildx_dir: Path  # the CLI plugin directory holding docker-buildx
    registry: Path
    init: Path  # dockerd's --init binary
    path: str  # PATH the daemons run with (shims, runc, docker-proxy)

    @classmethod
    def of(cls, host: Host, prefix: Path) -> Binaries:
        root = prefix if host.engine_in_prefix else Path("/")
        system_path = "/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"
        return cls(
            containerd=root / "usr/bin/containerd",
            ctr=root / "usr/bin/ctr",
            dockerd=root / "usr/sbin/dockerd",
            docker=root / "usr/bin/docker",
            buildx_dir=root / "usr/libexec/docker/cli-plugins",
            registry=prefix / "usr/bin/docker-registry",
            # The .deb's docker-init is a relative link to tini-static: use Debian 12's.
            init=Path("/usr/bin/tini-static") if host.engine_in_prefix else Path("/usr/bin/docker-init"),
            path=(f"{prefix}/usr/sbin:{prefix}/usr/bin:" if host.engine_in_prefix else "") + system_path,
        )


def require_root() -> None:
    if os.geteuid() != 0:
        raise EnvironmentProblem(
            "`factory engine` must run as root: it installs packages, mounts binfmt_misc, starts daemons "
            "and checks that their PIDs are its own (try: sudo factory engine ...)"
        )
