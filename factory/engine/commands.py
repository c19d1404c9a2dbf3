"""Short-lived external commands (apt-get, dpkg, mount, ip, docker): one runner to fake in tests."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from factory.errors import CommandFailed, EnvironmentProblem


@dataclass(frozen=True)
class Result:
    """What a finished command returned; stdout and stderr are decoded text."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class Commands:
    """Runs commands to completion and captures their output; never through a shell."""

    def run(
        self,
        argv: Sequence[str],
        *,
        check: bool = True,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = 600,
        hint: str = "",
    ) -> Result:
        """Run `argv`; with `check`, a non-zero exit raises CommandFailed carrying `hint`."""
        try:
            done = subprocess.run(
                list(argv),
                cwd=cwd,
                env=None if env is None else dict(env),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout,
                check=False,
            )
        except FileNotFoundError as exc:
            raise EnvironmentProblem(f"{argv[0]} is not installed ({exc.strerror})") from exc
        except subprocess.TimeoutExpired as exc:
            raise EnvironmentProblem(f"`{' '.join(argv)}` did not finish within {timeout:.0f}s") from exc
        result = Result(tuple(argv), done.returncode, done.stdout, done.stderr)
        if check and not result.ok:
            raise CommandFailed(result.argv, result.returncode, result.output, hint=hint)
        return result
