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
from factory.lint.shell import Command

SHELLS = frozenset({"sh", "bash", "dash", "ash", "ksh", "zsh", "python", "python3", "perl", "ruby", "node"})
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


def _downloads(stage: Stage) -> Iterator[tuple[int, Script, Command]]:
    for index, script in enumerate(stage.scripts):
        for command in script.commands:
            if command.program in ("curl", "wget"):
                yield index, script, command


def _silent_failure(dockerfile: Dockerfile, policy: Policy) -> Iterator[Hit]:
    for stage in dockerfile.stages:
        for _, script, command in _downloads(stage):
            line = script.line_of(command.line)
            if command.program == "curl" and not _curl_fails(command):
                yield Hit(line, "curl without --fail exits 0 on an HTTP error: use curl --fail (-f)")
            elif command.piped and not _pipefail(script):
                yield Hit(
                    line,
                    f"{command.program} is piped without pipefail: a failed download goes unnoticed;"
                    " download to a file (or set -o pipefail)",
                )


def _unverified(dockerfile: Dockerfile, policy: Policy) -> Iterator[Hit]:
    for stage in dockerfile.stages:
        for index, script, command in _downloads(stage):
            if not _is_download(command):
                continue
            line = script.line_of(command.line)
            position = script.commands.index(command)
            following = script.commands[position + 1 :] if position + 1 < len(script.commands) else ()
            if command.piped:
                consumer = following[0].program if following else "another command"
                where = "a shell" if consumer in SHELLS else consumer
                yield Hit(line, f"{command.program} output is piped into {where}: nothing verifies the download")
                continue
            later = [*following, *(c for s in stage.scripts[index + 1 :] for c in s.commands)]
            if not any(_verifies(c) for c in later):
                yield Hit(
                    line,
                    f"download with {command.program} is not verified: check it with sha256sum -c (or a signature)",
                )


def remote_sources(instruction: Instruction) -> list[str]:
    return [s for s in instruction.args[:-1] if _REMOTE.search(s)]


def _remote_add(dockerfile: Dockerfile, policy: Policy) -> Iterator[Hit]:
    for instruction in dockerfile.instructions:
        if instruction.keyword == "ADD" and instruction.flag("checksum") is None:
            for source in remote_sources(instruction):
                yield Hit(
                    instruction.start_line,
                    f"ADD {source} is not verified: add --checksum=sha256:... (or download and check in a RUN)",
                )


def _arch_specific(dockerfile: Dockerfile, policy: Policy) -> Iterator[Hit]:
    for stage in dockerfile.stages:
        for script in stage.scripts:
            if not any(c.program in ("curl", "wget") for c in script.commands) or _ARCH_AWARE.search(script.text):
                continue
            for url in _URL.finditer(script.text):
                arch = _ARCH.search(url.group(0))
                if arch:
                    line = script.line_of(script.text.count("\n", 0, url.start()) + 1)
                    yield Hit(line, _arch_message(url.group(0), arch.group(0)))
        for instruction in stage.instructions:
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
