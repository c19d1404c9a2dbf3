"""The errors' own promises: CommandFailed never shows a secret, whoever raises it."""

from __future__ import annotations

import pytest

from factory import publish
from factory.errors import CommandFailed, ExitCode
from factory.sensitive import MASK
from tests.fakes import FakeRunner, ok

SECRET = "hunter2-s3cret"


def test_command_failed_masks_the_secrets_of_the_argv_it_is_given() -> None:
    raw = [
        "oras",
        "login",
        "--password",
        SECRET,
        f"--registry-password={SECRET}",
        f"NPM_TOKEN={SECRET}",
        f"https://user:{SECRET}@registry.example/v2/",
        "-p",
        SECRET,
    ]
    error = CommandFailed(raw, 1, "denied\n", hint="log in again")
    assert SECRET not in error.show() and SECRET not in " ".join(error.argv)
    assert error.argv[:4] == ("oras", "login", "--password", MASK)
    assert f"NPM_TOKEN={MASK}" in error.argv and f"https://user:{MASK}@registry.example/v2/" in error.argv
    assert error.show().splitlines() == [
        f"`oras login --password '{MASK}' '--registry-password={MASK}' 'NPM_TOKEN={MASK}'"
        f" 'https://user:{MASK}@registry.example/v2/' -p '{MASK}'` failed with exit code 1: log in again",
        "denied",
    ]
    assert error.exit_code is ExitCode.ENVIRONMENT


def test_command_failed_takes_argv_of_any_words() -> None:
    assert CommandFailed(("tool", 3), 2, "").argv == ("tool", "3")  # type: ignore[arg-type]


def test_a_caller_passing_raw_argv_cannot_leak_a_secret() -> None:
    """publish raises CommandFailed with the argv it ran: the signing key's path stays, a password would not."""
    runner = FakeRunner([(("resolve",), ok(stderr="unauthorized", returncode=1))])
    oras = publish.Oras(runner, binary="oras")
    with pytest.raises(CommandFailed) as caught:
        oras.resolve(f"https://ci:{SECRET}@registry.example/base/python:3.13")
    assert SECRET in " ".join(runner.calls[0])  # the command itself got the real value
    assert SECRET not in caught.value.show() and SECRET not in " ".join(caught.value.argv)
