"""Downloads fail loudly, are verified, and fetch the file for the platform being built.

curl exits 0 on an HTTP 404 unless told `--fail`; a pipe hides any exit status
but the last one unless `pipefail` is set; a file that no checksum or signature
verifies can be swapped on the server; a URL naming one architecture breaks
(or silently installs the wrong binary) in a multi-platform build.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from factory.lint.model import Severity
from factory.lint.parse import Dockerfile, Instruction, Script, Stage
from factory.lint.policy import Policy
from factory.lint.rules.base import Hit, Rule
from factory.lint.shell import Command, NestingTooDeep
from factory.lint.shell import commands as read_commands

SHELLS = frozenset({"sh", "bash", "dash", "ash", "ksh", "zsh", "python", "python3", "perl", "ruby", "node"})
EVALUATORS = frozenset({"eval", "source", "."})  # run their arguments as shell code
_SUBSTITUTIONS = ("$(", "`", "<(")
_URL = re.compile(r"(?:https?|ftp)://[^\s'\"`;|&<>()]+")
_REMOTE = re.compile(r"^(?:(?:https?|ftp|git)://|git@)|\.git(?:#.*)?$")
_ARCH = re.compile(
    r"(?<![a-z0-9])(amd64|x86[_-]64|x64|aarch64|arm64|armv[5-8]l?|armhf|armel|i[3-6]86|ppc64le|s390x|riscv64)(?![a-z0-9])",
    re.IGNORECASE,
)
_ARCH_AWARE = re.compile(
    r"\$\{?(TARGETARCH|TARGETPLATFORM|TARGETVARIANT)\b|uname\s+-[a-z]*m|dpkg\s+--print-architecture|apk\s+--print-arch"
)
_CURL_VALUE_OPTIONS = set("oHduXAwxKmCbcDETrYyzQeE")


def _short_options(word: str) -> str:
    """The letters of a short-option cluster (`-fsSL` -> `fsSL`), stopping at one that takes a value."""
    if not word.startswith("-") or word.startswith("--"):
        return ""
    letters = []
    for letter in word[1:]:
        letters.append(letter)
        if letter in _CURL_VALUE_OPTIONS:
            break
    return "".join(letters)


def _curl_fails(command: Command) -> bool:
    return any(w in ("--fail", "--fail-with-body") or "f" in _short_options(w) for w in command.args)


def _pipefail(script: Script) -> bool:
    if not script.has_shebang and "pipefail" in script.shell_argv:
        return True
    return any(c.program == "set" and "pipefail" in c.args for c in script.commands)


def _is_download(command: Command) -> bool:
    if command.program == "wget":
        return "--spider" not in command.args
    if command.program != "curl":
        return False
    writes = any(
        w in ("--output", "--remote-name", "--remote-name-all", ">", ">>")
        or w.startswith("--output=")
        or set(_short_options(w)) & {"o", "O"}
        for w in command.args
    )
    return writes or command.piped


def _verifies(command: Command) -> bool:
    program, args = command.program, command.args
    if re.fullmatch(r"(sha(1|224|256|384|512)|b2|md5)sum|shasum", program):
        return any(a in ("--check", "-c") or (a.startswith("-") and not a.startswith("--") and "c" in a) for a in args)
    if program in ("gpg", "gpg2"):
        return "--verify" in args
    return (
        program in ("gpgv", "gpgv2")
        or (program == "cosign" and "verify-blob" in args)
        or (program == "minisign" and "-V" in args)
    )


def _commands(stage: Stage) -> list[tuple[Script, Command]]:
    """Every command the stage's RUN scripts execute, in order."""
    return [(script, command) for script in stage.scripts for command in script.commands]


def _downloads(commands: list[tuple[Script, Command]]) -> Iterator[tuple[int, Script, Command]]:
    """The curl and wget commands among `commands`, with their positions."""
    for position, (script, command) in enumerate(commands):
        if command.program in ("curl", "wget"):
            yield position, script, command


def _silent_failure(dockerfile: Dockerfile, policy: Policy) -> Iterator[Hit]:
    for stage in dockerfile.stages:
        pipefail = {id(script): _pipefail(script) for script in stage.scripts}  # once: not once per download
        for _, script, command in _downloads(_commands(stage)):
            line = script.line_of(command.line)
            if command.program == "curl" and not _curl_fails(command):
                yield Hit(line, "curl without --fail exits 0 on an HTTP error: use curl --fail (-f)")
            elif command.piped and not pipefail[id(script)]:
                yield Hit(
                    line,
                    f"{command.program} is piped without pipefail: a failed download goes unnoticed;"
                    " download to a file (or set -o pipefail)",
                )


def _verified_after(commands: list[tuple[Script, Command]]) -> list[bool]:
    """For each position, whether a later command verifies a download (one pass from the end)."""
    found, later = [False] * len(commands), False
    for position in range(len(commands) - 1, -1, -1):
        found[position] = later
        later = later or _verifies(commands[position][1])
    return found


def _downloads_in(word: str) -> str | None:
    """curl or wget when a substitution in `word` runs one (`$(curl ...)`, `` `wget ...` ``, `<(curl ...)`)."""
    if not any(s in word for s in _SUBSTITUTIONS):
        return None
    try:
        return next((c.program for c in read_commands(word) if c.program in ("curl", "wget")), None)
    except NestingTooDeep:
        return None


def _run_as_code(command: Command) -> tuple[str, str] | None:
    """(download program, what runs it) when `command` runs a download's output as code without a file:
    `sh -c "$(curl ...)"`, `bash <(curl ...)`, `eval "$(wget -qO- ...)"`, `source <(curl ...)`, `$(curl ...)`."""
    argv = command.argv
    if not argv:
        return None
    if command.program in EVALUATORS:  # every argument is code
        words = argv[1:]
    elif command.program in SHELLS:  # an argument that is a substitution: the script, or `-c`'s code
        words = tuple(w for w in argv[1:] if w.startswith(_SUBSTITUTIONS))
    else:  # the command itself is what a download printed
        words = argv[:1] if argv[0].startswith(_SUBSTITUTIONS) else ()
    for word in words:
        program = _downloads_in(word)
        if program is not None:
            runner = command.program if command.program in SHELLS | EVALUATORS else "the shell"
            return program, runner
    return None


def _unverified(dockerfile: Dockerfile, policy: Policy) -> Iterator[Hit]:
    for stage in dockerfile.stages:
        commands = _commands(stage)
        verified = _verified_after(commands)
        run_as_code: set[int] = set()  # lines already told: their download is not told again
        for script, command in commands:
            executed = _run_as_code(command)
            if executed is not None:
                program, runner = executed
                run_as_code.add(script.line_of(command.line))
                yield Hit(
                    script.line_of(command.line),
                    f"{program} output is run as code by {runner} (a command or process substitution):"
                    " nothing verifies the download",
                )
        for position, script, command in _downloads(commands):
            line = script.line_of(command.line)
            if not _is_download(command) or line in run_as_code:
                continue
            if command.piped:
                following = commands[position + 1] if position + 1 < len(commands) else None
                consumer = following[1].program if following and following[0] is script else "another command"
                where = "a shell" if consumer in SHELLS else consumer
                yield Hit(line, f"{command.program} output is piped into {where}: nothing verifies the download")
            elif not verified[position]:
                yield Hit(
                    line,
                    f"download with {command.program} is not verified: check it with sha256sum -c (or a signature)",
                )


def remote_sources(instruction: Instruction) -> list[str]:
    return [s for s in instruction.args[:-1] if _REMOTE.search(s)]


def _remote_add(dockerfile: Dockerfile, policy: Policy) -> Iterator[Hit]:
    for instruction in dockerfile.instructions_and_triggers:
        if instruction.keyword == "ADD" and instruction.flag("checksum") is None:
            for source in remote_sources(instruction):
                yield Hit(
                    instruction.start_line,
                    f"{instruction.label} {source} is not verified:"
                    " add --checksum=sha256:... (or download and check in a RUN)",
                )


def _arch_specific(dockerfile: Dockerfile, policy: Policy) -> Iterator[Hit]:
    for stage in dockerfile.stages:
        for script in stage.scripts:
            if not any(c.program in ("curl", "wget") for c in script.commands) or _ARCH_AWARE.search(script.text):
                continue
            script_line, counted = 1, 0  # newlines are counted once, from URL to URL
            for url in _URL.finditer(script.text):
                script_line += script.text.count("\n", counted, url.start())
                counted = url.start()
                arch = _ARCH.search(url.group(0))
                if arch:
                    yield Hit(script.line_of(script_line), _arch_message(url.group(0), arch.group(0)))
        for instruction in stage.instructions_and_triggers:
            if instruction.keyword == "ADD":
                for source in remote_sources(instruction):
                    arch = _ARCH.search(source)
                    if arch and not _ARCH_AWARE.search(source):
                        yield Hit(instruction.start_line, _arch_message(source, arch.group(0)))


def _arch_message(url: str, arch: str) -> str:
    return f"{url} is for {arch} only: choose the file by TARGETARCH (ARG TARGETARCH) so every platform gets its own"


SILENT_FAILURE = Rule(
    "FB040", Severity.WARNING, "downloads must fail on error (curl --fail, pipefail)", _silent_failure
)
UNVERIFIED = Rule("FB041", Severity.WARNING, "downloads must be verified by a checksum or signature", _unverified)
REMOTE_ADD = Rule("FB042", Severity.WARNING, "ADD of a remote URL needs --checksum", _remote_add)
ARCH_SPECIFIC = Rule(
    "FB043", Severity.WARNING, "architecture-specific downloads must follow TARGETARCH", _arch_specific
)
