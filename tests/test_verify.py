from __future__ import annotations

from factory import model, verify

USER = model.User("app", 10001, "app", 10001, "/home/app")


def test_identity_all_good() -> None:
    out = "arch=aarch64\nuid=10001\ngid=10001\npid1=tini\npid1exe=/usr/bin/tini\n"
    checks = verify.judge_identity(out, "arm64", USER)
    assert [(c.name, c.passed) for c in checks] == [
        ("architecture", True),
        ("non-root user", True),
        ("tini is PID 1", True),
    ]


def test_identity_catches_each_problem() -> None:
    out = "arch=x86_64\nuid=0\ngid=0\npid1=python3\npid1exe=/usr/bin/python3.13\n"
    checks = {c.name: c for c in verify.judge_identity(out, "arm64", USER)}
    assert not checks["architecture"].passed
    assert checks["architecture"].detail == "uname -m: 'x86_64', expected 'aarch64'"
    assert not checks["non-root user"].passed
    assert not checks["tini is PID 1"].passed


def test_identity_missing_output_fails() -> None:
    assert not any(c.passed for c in verify.judge_identity("", "amd64", USER))


def test_identity_script_uses_only_the_mounted_busybox() -> None:
    script = verify.identity_script()
    for word in ("uname", "id", "cat", "readlink"):
        assert f"/.factory-verify/busybox {word}" in script
