"""Verifies built images by running them, per platform, on the engine.

Each image must report the architecture it was built for, run as the numeric
non-root account of the OS definition, have tini as PID 1, and pass its
stack's verify commands. The identity checks use a static busybox mounted
read-only from a volume, so they also work on images without a shell
(go:static) and never depend on what the image ships.
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from factory import model
from factory import record as records
from factory.docker import ContainerSpec, Docker, RunOutcome
from factory.errors import VerifyFailed
from factory.progress import Board, Phase

UNAME = {
    "amd64": "x86_64",
    "arm64": "aarch64",
    "arm": "armv7l",
    "386": "i686",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}
TOOLBOX_MOUNT = "/.factory-verify"
COMMAND_TIMEOUT = 900  # an emulated JVM start can take a while; a hang must still end


@dataclass
class Check:
    """One check of one image on one platform."""

    name: str
    passed: bool
    detail: str = ""


@dataclass
class ImageVerification:
    target: str
    platform: str
    reference: str
    checks: list[Check] = field(default_factory=list)
    duration_s: float = 0.0

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)


def identity_script() -> str:
    """Shell (run by the mounted busybox) printing what the identity checks compare."""
    bb = f"{TOOLBOX_MOUNT}/busybox"
    return (
        f'echo "arch=$({bb} uname -m)"; echo "uid=$({bb} id -u)"; echo "gid=$({bb} id -g)"; '
        f'echo "pid1=$({bb} cat /proc/1/comm)"; echo "pid1exe=$({bb} readlink /proc/1/exe)"'
    )


def judge_identity(output: str, arch: str, user: model.User) -> list[Check]:
    """Turn the identity script's output into checks (pure, unit-tested)."""
    facts = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
    expected_arch = UNAME.get(arch, arch)
    pid1 = facts.get("pid1", "")
    return [
        Check(
            "architecture",
            facts.get("arch") == expected_arch,
            f"uname -m: {facts.get('arch')!r}, expected {expected_arch!r}",
        ),
        Check(
            "non-root user",
            facts.get("uid") == str(user.uid) and facts.get("gid") == str(user.gid),
            f"uid={facts.get('uid')} gid={facts.get('gid')}, expected {user.uid}:{user.gid}",
        ),
        Check("tini is PID 1", pid1 == "tini" or facts.get("pid1exe", "").endswith("/tini"), f"/proc/1/comm: {pid1!r}"),
    ]


class Verifier:
    """Runs the checks for every built target of a record, through the engine's docker API."""

    def __init__(self, docker: Docker, catalogue: model.Catalogue, board: Board) -> None:
        self.docker = docker
        self.catalogue = catalogue
        self.board = board
        self._toolboxes: dict[str, str] = {}

    def verify(self, record: records.BuildRecord, selection: set[str] | None = None) -> list[ImageVerification]:
        results: list[ImageVerification] = []
        os_pin = next((t.base_pin for t in record.targets if t.id == self.catalogue.os.id and t.base_pin), None)
        for target in record.targets:
            if target.status != records.Status.BUILT or (selection is not None and target.id not in selection):
                continue
            for platform in target.platforms:
                results.append(self._one(target, platform, os_pin))
        return results

    def _one(self, target: records.TargetResult, platform: str, os_pin: str | None) -> ImageVerification:
        assert target.base_pin is not None
        reference = target.base_pin
        result = ImageVerification(target.id, platform, reference)
        start = time.monotonic()
        self.board.update(target.id, platform, Phase.VERIFYING)
        arch = platform.split("/")[1]
        if os_pin is None:
            raise VerifyFailed("the record has no OS base image: verify needs it for the busybox toolbox")
        volume = self._toolbox(platform, os_pin)
        self.docker.pull(reference, platform)
        identity = self._run(
            ContainerSpec(
                reference,
                [f"{TOOLBOX_MOUNT}/busybox", "sh", "-c", identity_script()],
                platform,
                volumes={volume: f"{TOOLBOX_MOUNT}:ro"},
            )
        )
        if identity.exit_code != 0:
            result.checks.append(Check("identity", False, _failure(identity)))
        else:
            result.checks.extend(judge_identity(identity.output, arch, self.catalogue.os.user))
        for command in self.catalogue.target(target.id).verify:
            argv = ["sh", "-c", command] if isinstance(command, str) else list(command)
            outcome = self._run(ContainerSpec(reference, argv, platform))
            shown = command if isinstance(command, str) else shlex.join(command)
            passed = outcome.exit_code == 0
            detail = outcome.output.strip()[:200] if passed else _failure(outcome)
            result.checks.append(Check(f"verify: {shown}", passed, detail))
        result.duration_s = round(time.monotonic() - start, 2)
        failed = [c.name for c in result.checks if not c.passed]
        if failed:
            self.board.update(target.id, platform, Phase.FAILED, ", ".join(failed))
        else:
            self.board.update(target.id, platform, Phase.VERIFIED, f"{len(result.checks)} checks")
        return result

    def _toolbox(self, platform: str, os_pin: str) -> str:
        """A volume holding a static busybox for `platform`, made once from the OS base image."""
        if platform in self._toolboxes:
            return self._toolboxes[platform]
        volume = f"factory-verify-{self.catalogue.os.release}-{platform.split('/')[1]}"
        self.docker.pull(os_pin, platform)
        probe = self._run(
            ContainerSpec(
                os_pin, ["-x", "/out/busybox"], platform, entrypoint=["/bin/test"], volumes={volume: "/out:rw"}
            )
        )
        if probe.exit_code != 0:
            self.board.note(f"toolbox {platform}: fetching busybox-static into volume {volume}")
            script = (
                "set -eu; cd /tmp; apt-get update -qq; apt-get download busybox-static >/dev/null; "
                "dpkg -x busybox-static_*.deb x; for p in x/usr/bin/busybox x/bin/busybox; do "
                "if [ -f $p ]; then cp $p /out/busybox; fi; done; chmod 0755 /out/busybox; /out/busybox true"
            )
            made = self._run(
                ContainerSpec(
                    os_pin,
                    ["-c", script],
                    platform,
                    entrypoint=["/bin/sh"],
                    user="0:0",
                    volumes={volume: "/out:rw"},
                    network="bridge",
                )
            )
            if made.exit_code != 0:
                raise VerifyFailed(f"cannot prepare the verify toolbox for {platform}: {_failure(made)}")
        self._toolboxes[platform] = volume
        return volume

    def _run(self, spec: ContainerSpec) -> RunOutcome:
        return self.docker.run(spec, timeout=COMMAND_TIMEOUT)


def _failure(outcome: RunOutcome) -> str:
    """A failed check's detail: how it ended and the tail of its output."""
    how = f"timed out after {COMMAND_TIMEOUT} s" if outcome.timed_out else f"exit {outcome.exit_code}"
    return f"{how}: {outcome.output.strip()[-400:]}"


def write(results: list[ImageVerification], path: Path) -> None:
    """Write the results beside the build record, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = [{**asdict(r), "passed": r.passed} for r in results]
    records.atomic_write(path, json.dumps(data, indent=2) + "\n")
