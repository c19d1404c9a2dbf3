"""Verifies built images by running them, per platform, on the engine.

What a team expects of a base image, checked by running it: the architecture
it was built for; the numeric non-root account with its own group and a
writable HOME; tini as PID 1, reaping orphans and ending the container on
SIGTERM well within docker stop's timeout; a command given in place of CMD
runs and its exit code comes back; a read-only root with a tmpfs /tmp; no
apt lists, package caches, password hashes or setuid files beyond os.yaml's
allow-list; LANG and the timezone as declared; then the target's own verify
commands (the first one also as an arbitrary uid and under a read-only root).
The image-independent checks use a static busybox mounted read-only from a
volume (factory.image_checks), so they also work on images without a shell
(go:static) and never depend on what the image ships.

Why hand-written checks and not container-structure-test (weighed): its
command tests override the image's ENTRYPOINT by default, so tini would not
be PID 1 and neither reaping, SIGTERM nor a CMD override behind the
entrypoint could be seen; it has no read-only root, tmpfs or stop timing,
and its run options (--user, bind mounts) hold for a whole config, not one
check; its commands must be programs the image ships, so go:static (no
shell) would get only its file and metadata tests. Those (files present or
absent, USER, ENTRYPOINT, ENV in the config) are judged here from inside the
running container (the uid, PID 1, LANG the process sees), which is
stronger, in the same runs. For that subset alone it would add a second
engine client, a second result format and a config per image for no check
we lack.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from factory import image_checks, model
from factory import record as records
from factory.docker import ContainerSpec, Docker, RunOutcome
from factory.errors import VerifyFailed
from factory.image_checks import BB, TOOLBOX_MOUNT, Check
from factory.progress import Board, Phase

COMMAND_TIMEOUT = 900  # an emulated JVM start can take a while; a hang must still end


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

    def verdict(self, at: str, report: str) -> records.Verdict:
        """The record's verdict: a one-line summary and every check by name (a repeated name passes only if all do)."""
        failed = [c.name for c in self.checks if not c.passed]
        summary = f"{len(self.checks)} checks passed" if not failed else "failed: " + ", ".join(failed)
        checks: dict[str, bool] = {}
        for check in self.checks:
            checks[check.name] = checks.get(check.name, True) and check.passed
        return records.Verdict(self.passed, summary, at, report, checks=checks)


class Verifier:
    """Runs the checks for every built target of a record, through the engine's docker API."""

    def __init__(self, docker: Docker, catalogue: model.Catalogue, board: Board, *, concurrency: int = 1) -> None:
        self.docker = docker
        self.catalogue = catalogue
        self.board = board
        self.concurrency = max(1, concurrency)
        self._toolboxes: dict[str, str] = {}

    def verify(self, record: records.BuildRecord, selection: set[str] | None = None) -> list[ImageVerification]:
        """Every image of the record on each platform, `concurrency` at a time; results in record order."""
        os_pin = next((t.base_pin for t in record.targets if t.id == self.catalogue.os.id and t.base_pin), None)
        jobs = [
            (target, platform)
            for target in record.targets
            if target.status == records.Status.BUILT and (selection is None or target.id in selection)
            for platform in target.platforms
        ]
        if os_pin is not None:  # one toolbox per platform, made before the images run side by side
            for platform in dict.fromkeys(platform for _, platform in jobs):
                self._toolbox(platform, os_pin)
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            results = list(pool.map(lambda job: self._one(job[0], job[1], os_pin), jobs))
        self._artifacts(record, results)
        return results

    def _artifacts(self, record: records.BuildRecord, results: list[ImageVerification]) -> None:
        """Programs made in one image and run in others (a jar the JDK builds runs on the JRE)."""
        by_key = {(r.target, r.platform): r for r in results}
        for maker in [t for t in record.targets if (t.id, t.platforms[0] if t.platforms else "") in by_key]:
            artifact = self.catalogue.target(maker.id).artifact
            if artifact is None:
                continue
            for platform in maker.platforms:
                made_in = by_key.get((maker.id, platform))
                if made_in is None:
                    continue
                volume = self.docker.volume(f"factory-artifact-{record.run_id}-{_slug(maker.id)}-{_slug(platform)}")
                try:
                    self._artifact(artifact, made_in, [by_key[(t, platform)] for t in artifact.run_in
                                                       if (t, platform) in by_key], volume)  # fmt: skip
                finally:
                    self.docker.remove_volume(volume)

    def _artifact(
        self, artifact: model.Artifact, made_in: ImageVerification, runs: list[ImageVerification], volume: str
    ) -> None:
        user = self.catalogue.os.user
        toolbox = {self._toolboxes[made_in.platform]: f"{TOOLBOX_MOUNT}:ro"}
        self._run(
            ContainerSpec(
                made_in.reference, [BB, "chown", user.spec, "/artifact"], made_in.platform, user="0:0",
                volumes={**toolbox, volume: "/artifact:rw"},
            )
        )  # fmt: skip
        made = self._run(
            ContainerSpec(
                made_in.reference, ["sh", "-c", f"set -eu\n{artifact.script}"], made_in.platform,
                volumes={volume: "/artifact:rw"},
            )
        )  # fmt: skip
        made_in.checks.append(Check("artifact: made", made.exit_code == 0, _failure(made) if made.exit_code else ""))
        if made.exit_code != 0:
            self.board.update(made_in.target, made_in.platform, Phase.FAILED, "artifact: made")
            return
        for image in runs:
            outcome = self._run(
                ContainerSpec(image.reference, list(artifact.run), image.platform, volumes={volume: "/artifact:ro"})
            )
            name = f"artifact of {made_in.target}: {image_checks.shown(artifact.run)}"
            passed = outcome.exit_code == 0
            image.checks.append(Check(name, passed, outcome.output.strip()[:200] if passed else _failure(outcome)))
            if not passed:
                self.board.update(image.target, image.platform, Phase.FAILED, name)

    def _one(self, target: records.TargetResult, platform: str, os_pin: str | None) -> ImageVerification:
        assert target.base_pin is not None
        reference = target.base_pin
        result = ImageVerification(target.id, platform, reference)
        start = time.monotonic()
        self.board.update(target.id, platform, Phase.VERIFYING)
        if os_pin is None:
            raise VerifyFailed("the record has no OS base image: verify needs it for the busybox toolbox")
        volume = self._toolbox(platform, os_pin)
        self.docker.pull(reference, platform)
        definition = self.catalogue.target(target.id)
        result.checks = self._checks(definition, reference, platform, volume)
        result.duration_s = round(time.monotonic() - start, 2)
        failed = [c.name for c in result.checks if not c.passed]
        if failed:
            self.board.update(target.id, platform, Phase.FAILED, ", ".join(failed))
        else:
            self.board.update(target.id, platform, Phase.VERIFIED, f"{len(result.checks)} checks")
        return result

    def _checks(self, target: model.Target, reference: str, platform: str, volume: str) -> list[Check]:
        """Identity, PID 1, CMD override, restricted runs, hygiene, then the target's own verify commands."""
        os_base = self.catalogue.os
        toolbox = {volume: f"{TOOLBOX_MOUNT}:ro"}
        on_os = target.base.kind is not model.BaseKind.SCRATCH  # a scratch image has no OS files to judge

        def busybox(script: str, **settings: Any) -> RunOutcome:
            return self._run(ContainerSpec(reference, [BB, "sh", "-c", script], platform, volumes=toolbox, **settings))

        checks: list[Check] = []
        identity = busybox(image_checks.identity_script())
        if identity.exit_code != 0:
            checks.append(Check("identity", False, _failure(identity)))
        else:
            checks += image_checks.judge_identity(identity.output, platform.split("/")[1], os_base.user)
            if on_os:
                checks += image_checks.judge_environment(identity.output, os_base.env)
        checks.append(image_checks.judge_reaping(busybox(image_checks.reaping_script()).output))
        override = busybox(image_checks.cmd_override_script())
        checks.append(image_checks.judge_cmd_override(override.output, override.exit_code))
        stopped = self.docker.stop_time(
            ContainerSpec(reference, [BB, "sleep", "600"], platform, volumes=toolbox), grace=image_checks.STOP_GRACE
        )
        checks.append(image_checks.judge_stop(stopped.seconds, stopped.exit_code))
        read_only = busybox(image_checks.read_only_script(), read_only=True, tmpfs={"/tmp": "rw,size=64m"})
        checks.append(image_checks.judge_read_only(read_only.output))
        hygiene = busybox(image_checks.hygiene_script(), user="0:0")
        checks += image_checks.judge_hygiene(
            hygiene.output, os_base.setuid_allowed, os_base.timezone if on_os else None
        )
        checks += self._commands(target, reference, platform)
        return checks

    def _commands(self, target: model.Target, reference: str, platform: str) -> list[Check]:
        """The target's verify commands; the first also as an arbitrary uid and under a read-only root."""
        checks = []
        for index, command in enumerate(target.verify):
            argv = ["sh", "-c", command] if isinstance(command, str) else list(command)
            variants: list[tuple[str, dict[str, Any]]] = [("", {})]
            if index == 0:
                variants += [
                    (f" (as {image_checks.ARBITRARY_USER})", {"user": image_checks.ARBITRARY_USER}),
                    (" (read-only root)", {"read_only": True, "tmpfs": {"/tmp": "rw,size=64m"}}),
                ]
            for suffix, settings in variants:
                outcome = self._run(ContainerSpec(reference, argv, platform, **settings))
                passed = outcome.exit_code == 0
                detail = outcome.output.strip()[:200] if passed else _failure(outcome)
                checks.append(Check(f"verify: {image_checks.shown(command)}{suffix}", passed, detail))
        return checks

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


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text)


def _failure(outcome: RunOutcome) -> str:
    """A failed check's detail: how it ended and the tail of its output."""
    how = f"timed out after {COMMAND_TIMEOUT} s" if outcome.timed_out else f"exit {outcome.exit_code}"
    return f"{how}: {outcome.output.strip()[-400:]}"


def write(results: list[ImageVerification], path: Path) -> None:
    """Write the results beside the build record, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = [{**asdict(r), "passed": r.passed} for r in results]
    records.atomic_write(path, json.dumps(data, indent=2) + "\n")
