"""The judges of verify's checks, fed with what the busybox scripts print (no engine needed).

The scripts themselves run on the real engine in tests/engine/test_pipeline.py
(every image of the catalogue, both platforms); here each judge must pass a
good image and catch each problem, with the detail a person reads.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from factory import image_checks as checks
from factory import model

USER = model.User("app", 10001, "app", 10001, "/home/app")
GOOD = (
    "arch=aarch64\nuid=10001\ngid=10001\ngroup=app\npid1=tini\npid1exe=/usr/bin/tini\n"
    "home=/home/app\nhome_writable=yes\nlang=C.UTF-8\n"
)


def _by_name(found: list[checks.Check]) -> dict[str, checks.Check]:
    return {c.name: c for c in found}


def test_identity_all_good() -> None:
    found = checks.judge_identity(GOOD, "arm64", USER)
    assert [(c.name, c.passed) for c in found] == [
        ("architecture", True),
        ("non-root user", True),
        ("tini is PID 1", True),
        ("own group", True),
        ("HOME writable", True),
    ]


def test_identity_catches_each_problem() -> None:
    out = (
        "arch=x86_64\nuid=0\ngid=0\ngroup=root\npid1=python3\npid1exe=/usr/bin/python3.13\n"
        "home=/root\nhome_writable=no\n"
    )
    found = _by_name(checks.judge_identity(out, "arm64", USER))
    assert not any(c.passed for c in found.values())
    assert found["architecture"].detail == "uname -m: 'x86_64', expected 'aarch64'"
    assert found["own group"].detail == "gid 0 is group 'root', expected 'app'"
    assert found["HOME writable"].detail == "HOME='/root' (expected /home/app), writable: no"


def test_identity_missing_output_fails() -> None:
    assert not any(c.passed for c in checks.judge_identity("", "amd64", USER))


def test_lang_as_declared() -> None:
    assert checks.judge_environment(GOOD, {"LANG": "C.UTF-8"})[0].passed
    wrong = checks.judge_environment("lang=\n", {"LANG": "C.UTF-8"})[0]
    assert not wrong.passed and wrong.detail == "LANG='', expected 'C.UTF-8'"
    assert checks.judge_environment(GOOD, {}) == []


def test_reaping() -> None:
    assert checks.judge_reaping("zombies=0\n").passed
    left = checks.judge_reaping("zombies=1\n")
    assert not left.passed and left.detail.startswith("1 zombie")
    assert not checks.judge_reaping("").passed


def test_stop_through_sigterm_within_the_limit() -> None:
    assert checks.judge_stop(0.4, 143).passed
    killed = checks.judge_stop(10.2, 137)
    assert not killed.passed and "killed after the 10 s timeout" in killed.detail


def test_read_only_root() -> None:
    assert checks.judge_read_only("tmp=yes\nroot=no\n").passed
    assert not checks.judge_read_only("tmp=yes\nroot=yes\n").passed
    assert not checks.judge_read_only("tmp=no\nroot=no\n").passed


CLEAN = "lists=\ndebs=\nhashes=\nsetuid=/usr/bin/su \ntz=UTC\n"


def test_hygiene_clean() -> None:
    found = checks.judge_hygiene(CLEAN, ["/usr/bin/su"], "UTC")
    assert [(c.name, c.passed) for c in found] == [
        ("no apt lists", True),
        ("no package caches", True),
        ("no password hashes", True),
        ("setuid/setgid allow-list", True),
        ("timezone", True),
    ]


def test_hygiene_catches_each_left_over() -> None:
    out = (
        "lists=deb.debian.org_debian_dists_trixie_InRelease \ndebs=/var/cache/apt/archives/curl.deb \n"
        "hashes=app \nsetuid=/usr/bin/su /usr/bin/passwd \ntz=Europe/Berlin\n"
    )
    found = _by_name(checks.judge_hygiene(out, ["/usr/bin/su"], "UTC"))
    assert not any(c.passed for c in found.values())
    assert found["setuid/setgid allow-list"].detail == "beyond os.yaml setuid_allowed: /usr/bin/passwd"
    assert found["no password hashes"].detail == "accounts with a hash in /etc/shadow: app"
    assert "timezone" not in _by_name(checks.judge_hygiene(CLEAN, [], None))  # scratch images: no OS files


def test_scripts_use_only_the_mounted_busybox() -> None:
    for script in (checks.identity_script(), checks.reaping_script(), checks.hygiene_script()):
        for word in re.findall(r"\$\((\w+) ", script):
            pytest.fail(f"{word} runs without the toolbox busybox in: {script}")
        assert "/.factory-verify/busybox" in script


@pytest.mark.parametrize(
    "script", [checks.identity_script(), checks.reaping_script(), checks.read_only_script(), checks.hygiene_script()]
)
def test_scripts_are_valid_shell(script: str) -> None:
    assert subprocess.run(["sh", "-n", "-c", script], check=False).returncode == 0


def test_the_hygiene_script_reads_a_real_tree(tmp_path: object) -> None:
    """The shadow filter on a real file: only accounts with a hash are named."""
    shadow = "root:*:1:0:99999:7:::\napp:!:1:0:99999:7:::\nbob:$6$salt$hash:1:0:99999:7:::\nlocked:!*:1::::::\n"
    program = "$2 !~ /^(\\*|!|!\\*|!!|)$/ {print $1}"
    out = subprocess.run(["awk", "-F:", program], input=shadow, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["bob"]
    assert program in checks.hygiene_script()


def test_images_are_verified_side_by_side_and_reported_in_record_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """With concurrency 2, two images run at once (each waits for the other at a barrier, which a
    one-at-a-time verify would never reach); the results keep the record's order."""
    import threading

    from factory import record as records
    from factory import verify
    from factory.progress import Board

    barrier = threading.Barrier(2, timeout=30)

    def one(self: verify.Verifier, target: records.TargetResult, platform: str, os_pin: str | None) -> object:
        barrier.wait()
        return verify.ImageVerification(target.id, platform, f"{target.id}@{platform}")

    monkeypatch.setattr(verify.Verifier, "_one", one)
    monkeypatch.setattr(verify.Verifier, "_toolbox", lambda self, platform, os_pin: f"toolbox-{platform}")
    monkeypatch.setattr(verify.Verifier, "_artifacts", lambda self, record, results: None)
    record = records.BuildRecord("r", "now", "127.0.0.1:5000", "ref", 0, "0")
    for name in ("os:trixie", "a:1-runtime"):
        result = records.TargetResult(name, name.split(":")[0], None, "runtime", "Dockerfile", "0", [], [])
        result.platforms = ["linux/amd64", "linux/arm64"]
        result.status, result.base_pin = records.Status.BUILT, f"{name}@sha256:0"
        record.targets.append(result)
    catalogue = type("Catalogue", (), {"os": type("OS", (), {"id": "os:trixie"})()})()
    verifier = verify.Verifier(None, catalogue, Board([]), concurrency=2)  # type: ignore[arg-type]
    found = verifier.verify(record)
    assert [(r.target, r.platform) for r in found] == [
        ("os:trixie", "linux/amd64"), ("os:trixie", "linux/arm64"),
        ("a:1-runtime", "linux/amd64"), ("a:1-runtime", "linux/arm64"),
    ]  # fmt: skip


def test_the_verdict_names_every_check() -> None:
    from factory import verify

    result = verify.ImageVerification("go:static", "linux/arm64", "r@sha256:0")
    result.checks = [checks.Check("architecture", True), checks.Check("tini is PID 1", False, "/proc/1/comm: 'sh'")]
    verdict = result.verdict("2026-12-02T00:00:00Z", "verify.json")
    assert (verdict.passed, verdict.summary, verdict.report) == (False, "failed: tini is PID 1", "verify.json")
    assert verdict.checks == {"architecture": True, "tini is PID 1": False}


def test_cmd_can_be_overridden() -> None:
    assert checks.judge_cmd_override("factory-cmd-override\n", 7).passed
    swallowed = checks.judge_cmd_override("usage: app [--serve]\n", 0)  # an ENTRYPOINT that ignores the command
    assert (
        not swallowed.passed and swallowed.detail == "a command given to docker run: did not run, exit 0 (expected 7)"
    )
    lost = checks.judge_cmd_override("factory-cmd-override\n", 0)  # PID 1 that does not pass the exit code on
    assert not lost.passed and lost.detail == "a command given to docker run: ran, exit 0 (expected 7)"


def test_the_cmd_override_script_prints_the_marker_and_exits_with_the_code() -> None:
    ran = subprocess.run(["sh", "-c", checks.cmd_override_script()], capture_output=True, text=True, check=False)
    assert checks.judge_cmd_override(ran.stdout, ran.returncode).passed


class _Engine:
    """A docker stand-in for Verifier._checks: every run passes; the CMD override answers as `override` says."""

    def __init__(self, override: tuple[int, str]) -> None:
        self.override = override
        self.specs: list[object] = []

    def run(self, spec: object, *, timeout: float) -> object:
        from factory.docker import RunOutcome

        self.specs.append(spec)
        if checks.cmd_override_script() in spec.command:  # type: ignore[attr-defined]
            return RunOutcome(self.override[0], self.override[1], 0.1)
        return RunOutcome(0, "", 0.1)

    def stop_time(self, spec: object, *, grace: int) -> object:
        from factory.docker import StopOutcome

        return StopOutcome(0.2, 143)


@pytest.mark.parametrize(("override", "passed"), [((7, "factory-cmd-override\n"), True), ((0, "usage\n"), False)])
def test_every_image_is_checked_for_a_cmd_override_behind_its_entrypoint(
    override: tuple[int, str], passed: bool
) -> None:
    from factory import verify
    from factory.progress import Board
    from factory.project import Project
    from tests.conftest import REPO

    catalogue = Project(REPO).load()
    engine = _Engine(override)
    verifier = verify.Verifier(engine, catalogue, Board([]))  # type: ignore[arg-type]
    found = _by_name(verifier._checks(catalogue.target("go:static"), "r@sha256:0", "linux/amd64", "toolbox"))
    assert found["CMD can be overridden"].passed is passed
    [spec] = [s for s in engine.specs if checks.cmd_override_script() in s.command]  # type: ignore[attr-defined]
    assert spec.entrypoint is None  # type: ignore[attr-defined]  # the image's own ENTRYPOINT runs it


def test_verify_help_names_every_check() -> None:
    from click.testing import CliRunner

    from factory.cli import main

    names = [c.name for c in checks.judge_identity(GOOD, "arm64", USER)]
    names += [c.name for c in checks.judge_environment(GOOD, {"LANG": "C.UTF-8"})]
    names += [checks.judge_reaping("").name, checks.judge_stop(0.1, 0).name, checks.judge_read_only("").name]
    names += [checks.judge_cmd_override("", 0).name]
    names += [c.name for c in checks.judge_hygiene(CLEAN, [], "UTC")]
    shown = " ".join(CliRunner().invoke(main, ["verify", "--help"]).output.split())
    assert [name for name in names if name not in shown] == []
