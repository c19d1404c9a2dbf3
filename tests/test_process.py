"""The one process runner, on real tiny commands: errors, timeouts, missing programs, logs, secrets."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from factory.errors import CommandFailed, EnvironmentProblem, ExitCode
from factory.process import TIMED_OUT, Runner, tail
from factory.sensitive import MASK

SECRET = "hunter2-s3cret"


def test_a_failing_command_is_command_failed_with_its_code_output_and_no_secret() -> None:
    with pytest.raises(CommandFailed) as caught:
        Runner().run(["sh", "-c", "echo out; echo err >&2; exit 3", "sh", "--password", SECRET], hint="why")
    error = caught.value
    assert error.returncode == 3 and error.exit_code is ExitCode.ENVIRONMENT
    assert error.argv[-2:] == ("--password", MASK)
    assert SECRET not in error.show()
    assert error.show().splitlines()[0].endswith("failed with exit code 3: why")
    assert error.output == "out\nerr\n"


def test_without_check_a_failure_is_a_result() -> None:
    result = Runner().run(["sh", "-c", "printf hi; exit 2"], check=False)
    assert (result.ok, result.returncode, result.stdout) == (False, 2, "hi")


def test_a_command_that_runs_over_its_timeout_is_killed_and_fails_with_code_124() -> None:
    start = time.monotonic()
    with pytest.raises(CommandFailed) as caught:
        Runner().run(["sleep", "30"], timeout=0.3)
    assert time.monotonic() - start < 10  # killed, not waited for
    assert caught.value.returncode == TIMED_OUT == 124
    assert "timed out" in caught.value.show()
    result = Runner().run(["sleep", "30"], timeout=0.3, check=False)
    assert result.returncode == TIMED_OUT and "timed out after" in result.output


def test_a_program_that_does_not_exist_is_an_environment_problem_exit_5() -> None:
    with pytest.raises(EnvironmentProblem) as caught:
        Runner().run(["factory-no-such-program-x"])
    assert not isinstance(caught.value, CommandFailed)
    assert caught.value.exit_code == ExitCode.ENVIRONMENT == 5
    assert "factory-no-such-program-x is not installed" in caught.value.show()


def test_a_logged_command_appends_a_masked_argv_line_and_its_output(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "x.log"
    Runner().run(["sh", "-c", "echo one", "sh", f"API_TOKEN={SECRET}"], log=log)
    with pytest.raises(CommandFailed) as caught:
        Runner().run(["sh", "-c", "echo two; exit 1"], log=log)
    text = log.read_text()
    assert SECRET not in text and f"API_TOKEN={MASK}" in text
    assert text.splitlines()[1] == "one" and text.splitlines()[-1] == "two"
    assert caught.value.output.endswith("two") and f"log: {log}" in caught.value.show()


def test_the_environment_is_the_runners_minus_what_is_unset() -> None:
    runner = Runner({"PATH": "/usr/bin:/bin", "KEEP": "1", "DROP": "2"})
    out = runner.run(["sh", "-c", 'echo "${KEEP:-}-${DROP:-}"'], unset=["DROP"]).stdout
    assert out == "1-\n"


def test_tail_is_the_last_lines_without_trailing_blank_ones_and_empty_for_no_file(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("".join(f"line {n}\n" for n in range(1, 31)) + "\n\n")
    assert tail(log, 3) == "line 28\nline 29\nline 30"
    assert tail(log).splitlines()[0] == "line 6"  # 25 by default
    assert tail(tmp_path / "missing.log") == ""
