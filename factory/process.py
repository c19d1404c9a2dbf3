"""One runner for every external command the factory starts.

docker and buildx, mmdebstrap, apt and dpkg, hadolint, shellcheck and trivy
(later cosign, oras and skopeo) all go through `Runner.run`: never through a
shell, stdin closed unless given, a timeout always, output captured (or
appended to a log file for long builds), and one error, CommandFailed, that
masks the secrets of argv itself and carries the exit code and the output
tail. Tests fake a Runner to check argv; the behaviour is proven on the real tools.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from factory.errors import CommandFailed, EnvironmentProblem
from factory.sensitive import redact

DEFAULT_TIMEOUT = 600.0
TIMED_OUT = 124  # the exit code `timeout(1)` uses; a command that hung reports it


@dataclass(frozen=True)
class Result:
    """What a finished command returned; stdout and stderr are decoded text ('' when logged to a file)."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class Runner:
    """Runs commands to completion with a base environment (default: this process's)."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.env = dict(os.environ if env is None else env)

    def run(
        self,
        argv: Sequence[str],
        *,
        check: bool = True,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        unset: Sequence[str] = (),
        timeout: float | None = DEFAULT_TIMEOUT,
        stdin: str | None = None,
        log: Path | None = None,
        hint: str = "",
    ) -> Result:
        """Run `argv`; with `check`, a non-zero exit (or a timeout) raises CommandFailed carrying `hint`.

        `env` replaces the runner's environment for this call, `unset` drops
        names from it. With `log`, stdout and stderr are appended to that file
        (after a `$ argv` line, secrets redacted) instead of being captured.
        A program that does not exist is an EnvironmentProblem naming it.
        """
        argv = [str(a) for a in argv]
        environment = {k: v for k, v in (self.env if env is None else env).items() if k not in unset}
        start = time.monotonic()
        try:
            if log is not None:
                returncode = self._logged(argv, environment, cwd, timeout, stdin, log)
                stdout = stderr = ""
            else:
                done = subprocess.run(
                    argv,
                    cwd=cwd,
                    env=environment,
                    input=stdin,
                    stdin=None if stdin is not None else subprocess.DEVNULL,
                    capture_output=True,
                    text=True,
                    errors="replace",
                    timeout=timeout,
                    check=False,
                )
                returncode, stdout, stderr = done.returncode, done.stdout, done.stderr
        except FileNotFoundError as exc:
            raise EnvironmentProblem(f"{argv[0]} is not installed ({exc.strerror})") from exc
        except subprocess.TimeoutExpired as exc:
            partial = _text(exc.stdout) + _text(exc.stderr)
            result = Result(tuple(argv), TIMED_OUT, partial, f"\ntimed out after {timeout:.0f} s", _since(start))
            if check:
                raise CommandFailed(argv, TIMED_OUT, result.output, hint=hint or "timed out") from exc
            return result
        result = Result(tuple(argv), returncode, stdout, stderr, _since(start))
        if check and not result.ok:
            output = result.output if log is None else tail(log)
            raise CommandFailed(argv, returncode, output, hint=hint or (f"log: {log}" if log else ""))
        return result

    def _logged(
        self,
        argv: list[str],
        env: Mapping[str, str],
        cwd: Path | None,
        timeout: float | None,
        stdin: str | None,
        log: Path,
    ) -> int:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            out.write(("$ " + shlex.join(redact(argv)) + "\n").encode())
            out.flush()
            return subprocess.run(
                argv,
                cwd=cwd,
                env=dict(env),
                input=stdin.encode() if stdin is not None else None,
                stdin=None if stdin is not None else subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            ).returncode


def tail(path: Path, lines: int = 25) -> str:
    """The last lines of a log file, blank ones at its end left out ('' when it cannot be read)."""
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").rstrip().splitlines()[-lines:])
    except OSError:
        return ""


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode(errors="replace")


def _since(start: float) -> float:
    return round(time.monotonic() - start, 3)
