"""Every error the factory raises on purpose, and the exit code each maps to.

The CLI is the single error boundary: it catches `FactoryError`, prints
`error.show()` and exits with `error.exit_code`. Anything else is a bug and
exits with `ExitCode.INTERNAL`.
"""

from __future__ import annotations

import enum
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from factory.sensitive import redact


class ExitCode(enum.IntEnum):
    """Documented process exit codes (README.md lists them)."""

    OK = 0
    CHECK_FAILED = 1  # a check ran and found a difference (e.g. rendered/ is stale)
    USAGE = 2  # bad command line (click's own code)
    INVALID_DEFINITION = 3  # stacks/*.yaml, pins or site configuration are invalid
    RENDER_FAILED = 4  # a template failed; rendered/ was left untouched
    ENVIRONMENT = 5  # a required tool or service is missing or unusable
    LINT_FAILED = 6  # lint findings at or above the failure threshold
    BUILD_FAILED = 7  # at least one target failed to build (the others finished)
    VERIFY_FAILED = 8  # a built image failed a check when run
    SCAN_FAILED = 9  # the security gate failed (a finding at the threshold, a secret)
    NOT_PUBLISHED = 10  # a selected target was not published (it did not pass every stage)
    INTERNAL = 70  # a bug in the factory itself


class FactoryError(Exception):
    """Base class of every error the factory raises deliberately; raise a subclass."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def show(self) -> str:
        """The text printed to the user: one line per problem, no traceback."""
        return str(self)


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong in one input file, located as precisely as known."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class DefinitionError(FactoryError):
    """One or more definitions are invalid; carries every problem found, sorted."""

    exit_code = ExitCode.INVALID_DEFINITION

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(sorted(set(problems), key=_problem_order))
        super().__init__("\n".join(str(p) for p in self.problems))


def _problem_order(problem: Problem) -> tuple[str, int, str, str]:
    return (problem.file, problem.line or 0, problem.field, problem.message)


class RenderError(FactoryError):
    """A template could not be rendered; names the target and the template line."""

    exit_code = ExitCode.RENDER_FAILED


class EnvironmentProblem(FactoryError):
    """A tool or service the command needs is missing or unusable."""

    exit_code = ExitCode.ENVIRONMENT


OUTPUT_TAIL_LINES = 15  # how much of a failed command's output an error shows


class CommandFailed(EnvironmentProblem):
    """An external command failed: carries its argv (secrets masked), exit code and the tail of its output."""

    def __init__(self, argv: Sequence[str], returncode: int, output: str, *, hint: str = "") -> None:
        # Masked here, not by each caller: an error is printed, logged and written into records.
        self.argv = redact([str(word) for word in argv])
        self.returncode = returncode
        self.output = output
        message = f"`{shlex.join(self.argv)}` failed with exit code {returncode}"
        if hint:
            message += f": {hint}"
        tail = output.strip().splitlines()[-OUTPUT_TAIL_LINES:]
        super().__init__("\n".join([message, *tail]))


class CheckFailed(FactoryError):
    """A check ran and found a difference (rendered/ is stale)."""

    exit_code = ExitCode.CHECK_FAILED


class LintFailed(FactoryError):
    """Lint findings reached the failure threshold."""

    exit_code = ExitCode.LINT_FAILED


class UsageProblem(FactoryError):
    """The command line names something that does not exist (a target, a platform)."""

    exit_code = ExitCode.USAGE


class BuildFailed(FactoryError):
    """Building an image (or bootstrapping its root filesystem) failed."""

    exit_code = ExitCode.BUILD_FAILED


class ScanFailed(FactoryError):
    """The security gate failed for at least one image."""

    exit_code = ExitCode.SCAN_FAILED


class NotPublished(FactoryError):
    """A selected target was not published (it did not pass build, verify and scan on every platform)."""

    exit_code = ExitCode.NOT_PUBLISHED


class VerifyFailed(FactoryError):
    """Verifying built images could not be carried out or failed."""

    exit_code = ExitCode.VERIFY_FAILED
