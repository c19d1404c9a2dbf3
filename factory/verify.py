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
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from factory import model
from factory import record as records
from factory.build import DockerCLI
from factory.errors import VerifyFailed

Progress = Callable[[str], None]
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
    """Runs the checks for every built target of a record."""

    def __init__(self, docker: DockerCLI, catalogue: model.Catalogue, progress: Progress = lambda _: None) -> None:
        self.docker = docker
        self.catalogue = catalogue
        self.progress = progress
        self._toolboxes: dict[str, str] = {}

    def verify(self, record: records.BuildRecord, selection: set[str] | None = None) -> list[ImageVerification]:
        results: list[ImageVerification] = []
        os_pin = next((t.base_pin for t in record.targets if t.id == self.catalogue.os.id and t.base_pin), None)
        for target in record.targets:
            if target.status != "built" or (selection is not None and target.id not in selection):
                continue
            for platform in target.platforms:
                results.append(self._one(target, platform, os_pin))
        return results

    def _one(self, target: records.TargetResult, platform: str, os_pin: str | None) -> ImageVerification:
        assert target.base_pin is not None
        reference = target.base_pin
        result = ImageVerification(target.id, platform, reference)
        start = time.monotonic()
        arch = platform.split("/")[1]
        if os_pin is None:
            raise VerifyFailed("the record has no OS base image: verify needs it for the busybox toolbox")
        volume = self._toolbox(platform, os_pin)
        code, out = self._run(
            [
                "run",
                "--rm",
                "--platform",
                platform,
                "--volume",
                f"{volume}:{TOOLBOX_MOUNT}:ro",
                reference,
                f"{TOOLBOX_MOUNT}/busybox",
                "sh",
                "-c",
                identity_script(),
            ]
        )
        if code != 0:
            result.checks.append(Check("identity", False, f"exit {code}: {out.strip()[-400:]}"))
        else:
            result.checks.extend(judge_identity(out, arch, self.catalogue.os.user))
        for command in self._verify_commands(target.id):
            argv = ["sh", "-c", command] if isinstance(command, str) else list(command)
            code, out = self._run(["run", "--rm", "--platform", platform, reference, *argv])
            shown = command if isinstance(command, str) else shlex.join(command)
            result.checks.append(
                Check(f"verify: {shown}", code == 0, out.strip()[-400:] if code else out.strip()[:200])
            )
        result.duration_s = round(time.monotonic() - start, 2)
        failed = [c.name for c in result.checks if not c.passed]
        state = "ok" if not failed else "FAILED: " + ", ".join(failed)
        self.progress(f"{target.id} {platform}: {len(result.checks)} checks {state} ({result.duration_s:.1f}s)")
        return result

    def _verify_commands(self, target_id: str) -> tuple[str | tuple[str, ...], ...]:
        if target_id == self.catalogue.os.id:
            return ("tini --version", 'test -w "$HOME"')
        return self.catalogue.target(target_id).verify

    def _toolbox(self, platform: str, os_pin: str) -> str:
        """A volume holding a static busybox for `platform`, made once from the OS base image."""
        if platform in self._toolboxes:
            return self._toolboxes[platform]
        volume = f"factory-verify-{self.catalogue.os.release}-{platform.split('/')[1]}"
        code, _ = self._run(
            [
                "run",
                "--rm",
                "--platform",
                platform,
                "--volume",
                f"{volume}:/out",
                "--entrypoint",
                "/bin/test",
                os_pin,
                "-x",
                "/out/busybox",
            ]
        )
        if code != 0:
            self.progress(f"toolbox {platform}: fetching busybox-static into volume {volume}")
            script = (
                "set -eu; cd /tmp; apt-get update -qq; apt-get download busybox-static >/dev/null; "
                "dpkg -x busybox-static_*.deb x; for p in x/usr/bin/busybox x/bin/busybox; do "
                "if [ -f $p ]; then cp $p /out/busybox; fi; done; chmod 0755 /out/busybox; /out/busybox true"
            )
            code, out = self._run(
                [
                    "run",
                    "--rm",
                    "--platform",
                    platform,
                    "--user",
                    "0:0",
                    "--volume",
                    f"{volume}:/out",
                    "--entrypoint",
                    "/bin/sh",
                    os_pin,
                    "-c",
                    script,
                ]
            )
            if code != 0:
                raise VerifyFailed(f"cannot prepare the verify toolbox for {platform}: {out.strip()[-400:]}")
        self._toolboxes[platform] = volume
        return volume

    def _run(self, args: list[str]) -> tuple[int, str]:
        return self.docker.capture([self.docker.binary, *args], timeout=COMMAND_TIMEOUT)


def write(results: list[ImageVerification], path: Path) -> None:
    """Write the results beside the build record, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = [{**asdict(r), "passed": r.passed} for r in results]
    records.atomic_write(path, json.dumps(data, indent=2) + "\n")
