"""One parsed view of a Dockerfile, built once and shared by every rule and tool.

BuildKit's own parser (the `dockerfile` package) reads instructions, heredocs,
line continuations and the escape directive exactly as a build would; this
module adds what rules need on top: stages with their declared ARG/ENV names,
global ARGs and their defaults, the shell scripts RUN executes with the
Dockerfile line of each script line, and the comments (for inline ignores).

An ONBUILD trigger is parsed again, on its own, as the instruction it is
(BuildKit does the same in every child build): `ONBUILD USER 0` carries the
instruction `USER 0`, at the ONBUILD's lines, marked `onbuild`. A stage keeps
its triggers apart from its own instructions (they run in the builds FROM
it), and its scripts include those of its RUN triggers.

Files come from untrusted pull requests too, so reading is bounded: only
regular files, at most MAX_BYTES and MAX_LINES (the `dockerfile` package's
BuildKit parser copies a heredoc's body once per line, which is quadratic in
its length); a file over a limit is reported, not parsed, not given to the
tools. Lines are numbered as BuildKit numbers them (split at `\n` only).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import json
import re
from collections import ChainMap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from factory import proxies
from factory.contract import buildkit_parser
from factory.lint import files, shell

MAX_BYTES = 1 << 20  # a Dockerfile over 1 MiB is not read
# Nor one of more lines: this bounds every heredoc, whose parse time grows with lines x bytes
# (about 1.5 s at 10,000 lines of 1 MiB in all; 2 minutes for 1 MiB of one-character lines).
MAX_LINES = 10_000

KNOWN_INSTRUCTIONS = frozenset(
    {
        "ADD",
        "ARG",
        "CMD",
        "COPY",
        "ENTRYPOINT",
        "ENV",
        "EXPOSE",
        "FROM",
        "HEALTHCHECK",
        "LABEL",
        "MAINTAINER",
        "ONBUILD",
        "RUN",
        "SHELL",
        "STOPSIGNAL",
        "USER",
        "VOLUME",
        "WORKDIR",
    }
)
# ARGs BuildKit defines itself: visible to FROM, and in a stage only once declared there.
PLATFORM_ARGS = frozenset(
    {
        "TARGETPLATFORM",
        "TARGETOS",
        "TARGETARCH",
        "TARGETVARIANT",
        "BUILDPLATFORM",
        "BUILDOS",
        "BUILDARCH",
        "BUILDVARIANT",
    }
)
# Proxy build args are predefined and usable in RUN without any ARG line.
PROXY_ARGS = frozenset(proxies.BUILD_ARGS)
SHELLS = {
    "sh": "sh",
    "bash": "bash",
    "dash": "dash",
    "ksh": "ksh",
    "mksh": "ksh",
    "ash": "busybox",
    "busybox": "busybox",
}
DEFAULT_SHELL = ("/bin/sh", "-c")
REJECTED = "BuildKit's parser rejects this file: "  # how a parse error that a build would hit too begins
_DIRECTIVE = re.compile(r"#\s*([a-zA-Z]+)\s*=\s*(\S+)\s*$")
_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")
_MARKER = r"<<-?\s*['\"]?\w+['\"]?"
_HEREDOC_ONLY = re.compile(rf"^\s*({_MARKER}\s*)+$")
# `bash <<EOT` / `<<EOT sh -e`: the heredoc is the standard input of a shell, so a script too.
_SHELL = r"(?P<{}>(?:\S*/)?(?:ba|da|k|a)?sh)(?:\s+-[a-zA-Z]+)*"
_KEYWORD = re.compile(r"\s*\w+")
_GAP = re.compile(r"(?:[ \t]|\\\n)*")
_WORD = re.compile(r"\S*")
_SHELL_STDIN = re.compile(rf"^\s*(?:{_SHELL.format('before')}\s+{_MARKER}|{_MARKER}\s+{_SHELL.format('after')})\s*$")


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction as BuildKit parsed it, with its line range."""

    keyword: str  # upper case: RUN, COPY...
    flags: tuple[str, ...]
    args: tuple[str, ...]
    json: bool  # exec (JSON array) form
    start_line: int
    end_line: int
    heredocs: tuple[tuple[str, str], ...] = ()  # (delimiter, content)
    trigger: Instruction | None = None  # of an ONBUILD: the instruction it carries
    onbuild: bool = False  # True for that carried instruction: it runs in the builds FROM this image

    @property
    def label(self) -> str:
        """How messages name it: `USER`, or `ONBUILD USER` for a trigger."""
        return f"ONBUILD {self.keyword}" if self.onbuild else self.keyword

    def flag(self, name: str) -> str | None:
        """The value of `--name=value` (or '' for a bare `--name`), None when absent."""
        for item in self.flags:
            key, eq, value = item.partition("=")
            if key == f"--{name}":
                return value if eq else ""
        return None

    def flag_values(self, name: str) -> list[str]:
        """Every value of a repeatable flag such as `--mount`."""
        prefix = f"--{name}="
        return [item[len(prefix) :] for item in self.flags if item.startswith(prefix)]


@dataclass(frozen=True)
class Script:
    """A shell script that a RUN executes, and where each of its lines is in the Dockerfile."""

    text: str
    first_line: int  # Dockerfile line of script line 1
    dialect: str  # sh, bash, dash, ksh, busybox
    form: str  # "heredoc", "shell" (shell form) or "exec" (["sh", "-c", "..."])
    instruction: Instruction
    shell_argv: tuple[str, ...]  # the SHELL in force (heredocs without a shebang run through it)
    commands: tuple[shell.Command, ...]

    def line_of(self, script_line: int) -> int:
        """Dockerfile line of a script line (exec form: always the instruction's line)."""
        if self.form == "exec":
            return self.instruction.start_line
        return min(max(self.first_line + script_line - 1, self.instruction.start_line), self.instruction.end_line)

    @property
    def has_shebang(self) -> bool:
        return self.form == "heredoc" and self.text.startswith("#!")

    @property
    def steps(self) -> int:
        """Commands run one after another (a pipeline counts once)."""
        count, piped = 0, False
        for command in self.commands:
            if not piped:
                count += 1
            piped = command.piped
        return count


@dataclass(frozen=True)
class Stage:
    """A build stage: its FROM, its instructions and the names it declares."""

    index: int
    name: str | None
    base: str  # the image as written in FROM (variables not expanded)
    from_line: int
    instructions: tuple[Instruction, ...]  # the FROM itself excluded
    parent: int | None  # index of an earlier stage this one is built FROM
    args: Mapping[str, str | None]  # ARG name -> default, in this stage
    env: frozenset[str]  # ENV names set in this stage
    scripts: tuple[Script, ...]  # those of its RUNs, then those of its RUN triggers
    triggers: tuple[Instruction, ...] = ()  # what its ONBUILDs carry, in order

    @property
    def is_scratch(self) -> bool:
        return self.base.lower() == "scratch"

    @property
    def instructions_and_triggers(self) -> tuple[Instruction, ...]:
        """Everything the stage makes run: in its own build, then in the builds FROM it."""
        return (*self.instructions, *self.triggers)


@dataclass(frozen=True)
class Dockerfile:
    """A whole Dockerfile: instructions, stages, global ARGs, scripts and comments; or why it did not parse."""

    name: str  # how findings name the file
    path: Path | None
    text: str
    instructions: tuple[Instruction, ...] = ()
    stages: tuple[Stage, ...] = ()
    global_args: Mapping[str, str | None] = field(default_factory=lambda: MappingProxyType({}))
    global_arg_lines: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    comments: Mapping[int, str] = field(default_factory=lambda: MappingProxyType({}))
    escape: str = "\\"
    error: str | None = None  # why the rules cannot check the file (a build would fail, or the lint cannot read it)
    error_line: int = 1
    refused: bool = False  # over a size limit: not parsed, and not given to the tools either
    frontends: tuple[tuple[int, str], ...] = ()  # (line, image) of each `# syntax=` directive, parsed or not

    @functools.cached_property
    def lines(self) -> list[str]:
        return source_lines(self.text)

    @property
    def final(self) -> Stage | None:
        return self.stages[-1] if self.stages else None

    @property
    def first_line(self) -> int:
        """Line of the first instruction: where file-wide findings are reported."""
        return self.instructions[0].start_line if self.instructions else 1

    @property
    def scripts(self) -> tuple[Script, ...]:
        return tuple(script for stage in self.stages for script in stage.scripts)

    def chain(self, stage: Stage) -> list[Stage]:
        """The stage and the earlier stages it is built FROM, nearest first."""
        found = [stage]
        while found[-1].parent is not None:
            found.append(self.stages[found[-1].parent])
        return found

    def bound_stages(self, stage: Stage) -> list[Stage]:
        """Earlier stages whose files a RUN of `stage` binds (`--mount=type=bind,from=<stage>`)."""
        by_name = {s.name.lower(): s for s in self.stages if s.name}
        found: list[Stage] = []
        for instruction in stage.instructions:
            if instruction.keyword != "RUN":
                continue
            for mount in instruction.flag_values("mount"):
                options = dict(part.partition("=")[::2] for part in mount.split(","))
                if options.get("type", "bind") != "bind" or "from" not in options:
                    continue
                name = options["from"].lower()
                source = by_name.get(name) or (
                    self.stages[int(name)] if name.isdigit() and int(name) < stage.index else None
                )
                if source is not None and source.index < stage.index and source not in found:
                    found.append(source)
        return found

    def sequence(self, stage: Stage) -> list[Instruction]:
        """The instructions that make `stage`'s image, in the order they run (from the top of its chain).

        A stage built FROM another runs that one's ONBUILD triggers first, as BuildKit does.
        """
        chain = list(reversed(self.chain(stage)))
        found = list(chain[0].instructions)
        for parent, child in itertools.pairwise(chain):
            found.extend(parent.triggers)
            found.extend(child.instructions)
        return found

    @property
    def instructions_and_triggers(self) -> tuple[Instruction, ...]:
        """Every instruction in file order, each ONBUILD followed by the instruction it carries."""
        return tuple(i for top in self.instructions for i in ((top, top.trigger) if top.trigger else (top,)))

    def instruction_at(self, line: int) -> Instruction | None:
        for instruction in self.instructions:
            if instruction.start_line <= line <= instruction.end_line:
                return instruction
        return None


def source_lines(text: str) -> list[str]:
    """The lines of a Dockerfile as BuildKit's scanner sees them: split at `\\n` only, one `\\r` dropped from each.

    (`str.splitlines` also splits at form feeds, `\\x1c`, `\\u2028`..., which would shift every line after them.)
    """
    lines = text.split("\n")
    if lines and not lines[-1]:
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def parse_file(path: Path, name: str | None = None) -> Dockerfile:
    """Parse the Dockerfile at `path`; `name` is how findings show it (default: the path).

    Raises UsageProblem when `path` is not (a link to) a regular file; a file over
    MAX_BYTES is not read, and comes back refused.
    """
    shown = name or str(path)
    data = files.read_regular(path, MAX_BYTES)
    if isinstance(data, int):
        return _refused(shown, path, f"the file has {data:,} bytes", f"{MAX_BYTES:,} bytes (1 MiB)")
    # Decoded without newline translation: a lone \r is no line break for BuildKit either.
    return parse_text(data.decode("utf-8", errors="replace"), shown, path)


def _refused(name: str, path: Path | None, found: str, limit: str) -> Dockerfile:
    message = f"{found}, over the lint's limit of {limit}: it is not parsed and not given to the tools"
    return Dockerfile(name, path, "", error=message, refused=True)


def parse_text(text: str, name: str = "Dockerfile", path: Path | None = None) -> Dockerfile:
    """Parse Dockerfile source; a parse error (or a size over the limits) is recorded on the result, never raised."""
    size = len(text.encode("utf-8", errors="replace"))
    if size > MAX_BYTES:
        return _refused(name, path, f"the file has {size:,} bytes", f"{MAX_BYTES:,} bytes (1 MiB)")
    count = len(source_lines(text))
    if count > MAX_LINES:
        why = "BuildKit's parser takes time quadratic in a heredoc's length"
        return _refused(name, path, f"the file has {count:,} lines", f"{MAX_LINES:,} lines ({why})")
    frontends = syntax_directives(text)  # BuildKit runs the frontend before any parse: found either way
    dockerfile = buildkit_parser()
    try:
        raw = dockerfile.parse_string(text)
    except dockerfile.GoParseError as exc:
        error_line = _error_line(text, str(exc))
        escape = _escape_directive(text)
        error = f"{REJECTED}{exc}"
        return Dockerfile(name, path, text, escape=escape, error=error, error_line=error_line, frontends=frontends)
    return dataclasses.replace(from_commands(text, raw, name, path), frontends=frontends)


_COMMENT = re.compile(r"\s*(?:#|//)")
_SYNTAX = re.compile(r"\s*(?:#|//)\s*syntax\s*=\s*(\S+)", re.IGNORECASE)


def syntax_directives(text: str) -> tuple[tuple[int, str], ...]:
    """The frontend image each `syntax` directive names, with its line.

    BuildKit hands the file to that image (arbitrary code) before parsing it. Its own
    detection (`parser.DetectSyntax`) skips a BOM and a `#!` line, then reads `#` (or
    `//`) directives up to the first other line, or takes `{"syntax": ...}` from a JSON
    file; this reads the whole leading comment block and allows leading blanks, so it
    finds what any BuildKit version may find, and possibly a little more.
    """
    lines = source_lines(text.removeprefix("\ufeff"))
    found = []
    for number, line in enumerate(lines, 1):
        if number == 1 and line.startswith("#!"):
            continue
        if not _COMMENT.match(line):
            break
        match = _SYNTAX.match(line)
        if match:
            found.append((number, match.group(1)))
    if not found and text.lstrip().startswith("{"):
        with contextlib.suppress(ValueError):
            document = json.loads(text)
            if isinstance(document, dict) and isinstance(document.get("syntax"), str) and document["syntax"].split():
                found.append((1, document["syntax"].split()[0]))
    return tuple(found)


def from_commands(text: str, raw: Sequence[Any], name: str = "Dockerfile", path: Path | None = None) -> Dockerfile:
    """The view of `text` from the commands BuildKit's parser gave for it (parse_text without the parse)."""
    escape = _escape_directive(text)
    instructions = tuple(_instruction(c) for c in raw)
    unknown = next((i for i in instructions if i.keyword not in KNOWN_INSTRUCTIONS), None)
    if unknown is not None:
        return Dockerfile(
            name,
            path,
            text,
            instructions,
            escape=escape,
            error=f"{REJECTED}unknown instruction: {unknown.keyword}",
            error_line=unknown.start_line,
        )
    try:
        lines = source_lines(text)
        instructions = tuple(
            dataclasses.replace(i, trigger=_trigger(i, lines, escape)) if i.keyword == "ONBUILD" else i
            for i in instructions
        )
        return _build(name, path, text, instructions, escape)
    except _Unreadable as exc:
        return Dockerfile(name, path, text, instructions, escape=escape, error=str(exc), error_line=exc.line)


def _instruction(command: Any, first_line: int = 1, *, onbuild: bool = False) -> Instruction:
    """An Instruction from one command of the `dockerfile` package; its lines count from `first_line`."""
    shift = first_line - 1
    return Instruction(
        keyword=command.cmd.upper(),
        flags=tuple(command.flags),
        args=tuple(command.value),
        json=bool(command.json),
        start_line=command.start_line + shift,
        end_line=command.end_line + shift,
        heredocs=tuple((h.name, h.content) for h in command.heredocs),
        onbuild=onbuild,
    )


_ONBUILD = re.compile(r"^(\s*)onbuild", re.IGNORECASE)
NOT_TRIGGERS = frozenset({"ONBUILD", "FROM", "MAINTAINER"})  # BuildKit refuses these after ONBUILD


def _trigger_source(onbuild: Instruction, lines: list[str]) -> list[str]:
    """The ONBUILD's lines with the keyword blanked: the trigger alone, at the same lines and columns."""
    source = lines[onbuild.start_line - 1 : onbuild.end_line]
    blanked = _ONBUILD.sub(lambda m: m.group(1) + " " * len("onbuild"), source[0], count=1) if source else ""
    if blanked == (source[0] if source else ""):
        raise _Unreadable(onbuild.start_line, f"the lint cannot find the ONBUILD of line {onbuild.start_line}")
    return [blanked, *source[1:]]


def _trigger(onbuild: Instruction, lines: list[str], escape: str) -> Instruction:
    """The instruction an ONBUILD carries, parsed by BuildKit's parser on its own, as a child build parses it."""
    if not onbuild.args:
        raise _Unreadable(onbuild.start_line, f"{REJECTED}ONBUILD requires at least one argument")
    directive = [] if escape == "\\" else [f"# escape={escape}"]  # the parent's continuations, as it read them
    dockerfile = buildkit_parser()
    try:
        raw = dockerfile.parse_string("\n".join([*directive, *_trigger_source(onbuild, lines)]) + "\n")
    except dockerfile.GoParseError as exc:
        raise _Unreadable(onbuild.start_line, f"{REJECTED}ONBUILD trigger: {exc}") from None
    if len(raw) != 1:
        raise _Unreadable(onbuild.start_line, f"{REJECTED}onbuild trigger should be a single expression")
    trigger = _instruction(raw[0], onbuild.start_line - len(directive), onbuild=True)
    if trigger.keyword == "ONBUILD":
        problem = "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"
    elif trigger.keyword in NOT_TRIGGERS:
        problem = f"{trigger.keyword} isn't allowed as an ONBUILD trigger"
    elif trigger.keyword not in KNOWN_INSTRUCTIONS:
        problem = f"unknown instruction: {trigger.keyword}"
    else:
        return trigger
    raise _Unreadable(onbuild.start_line, f"{REJECTED}{problem}")


class _Unreadable(ValueError):
    """Something BuildKit accepts that the lint cannot read safely; the file is reported, not checked."""

    def __init__(self, line: int, message: str) -> None:
        self.line = line
        super().__init__(message)


def _escape_directive(text: str) -> str:
    for line in source_lines(text):
        match = _DIRECTIVE.match(line.strip())
        if not match:
            break
        if match.group(1).lower() == "escape":
            return match.group(2)
    return "\\"


def _error_line(text: str, message: str) -> int:
    if "heredoc" in message:
        for number, line in enumerate(source_lines(text), 1):
            if "<<" in line and not line.lstrip().startswith("#"):
                return number
    return 1


def _build(name: str, path: Path | None, text: str, instructions: tuple[Instruction, ...], escape: str) -> Dockerfile:
    lines = source_lines(text)
    global_args: dict[str, str | None] = {}
    global_arg_lines: dict[str, int] = {}
    groups: list[list[Instruction]] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            groups.append([instruction])
        elif groups:
            groups[-1].append(instruction)
        elif instruction.keyword == "ARG":
            for name_, default in _arg_items(instruction):
                global_args[name_] = default
                global_arg_lines[name_] = instruction.start_line
        else:
            error = f"{REJECTED}{instruction.keyword} before the first FROM (only ARG may come first)"
            return Dockerfile(
                name, path, text, instructions, escape=escape, error=error, error_line=instruction.start_line
            )
    stages: list[Stage] = []
    shells: list[tuple[str, ...]] = []
    for index, group in enumerate(groups):
        stage, stage_shell = _stage(index, group, stages, shells, lines, escape)
        stages.append(stage)
        shells.append(stage_shell)
    covered = {n for i in instructions for n in range(i.start_line, i.end_line + 1)}
    comments = {
        number: line.strip()
        for number, line in enumerate(lines, 1)
        if number not in covered and line.lstrip().startswith("#")
    }
    return Dockerfile(
        name,
        path,
        text,
        instructions,
        tuple(stages),
        MappingProxyType(global_args),
        MappingProxyType(global_arg_lines),
        MappingProxyType(comments),
        escape,
    )


def _arg_items(instruction: Instruction) -> list[tuple[str, str | None]]:
    items = []
    for word in instruction.args:
        key, eq, value = word.partition("=")
        items.append((key, _unquote(value) if eq else None))
    return items


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def env_items(instruction: Instruction) -> list[tuple[str, str]]:
    """ENV or LABEL key/value pairs (BuildKit gives them as a flat key, value, key, value list)."""
    values = instruction.args
    return [(values[i], _unquote(values[i + 1]) if i + 1 < len(values) else "") for i in range(0, len(values), 2)]


def _stage(
    index: int,
    group: list[Instruction],
    earlier: list[Stage],
    shells: list[tuple[str, ...]],
    lines: list[str],
    escape: str,
) -> tuple[Stage, tuple[str, ...]]:
    from_, body = group[0], group[1:]
    words = [w for w in from_.args]
    base = words[0] if words else ""
    name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
    parent = next((s.index for s in reversed(earlier) if s.name and s.name.lower() == base.lower()), None)
    current_shell = shells[parent] if parent is not None else DEFAULT_SHELL
    args: dict[str, str | None] = {}
    env: set[str] = set()
    scripts: list[Script] = []
    for instruction in body:
        if instruction.keyword == "ARG":
            args.update(_arg_items(instruction))
        elif instruction.keyword == "ENV":
            env.update(key for key, _ in env_items(instruction))
        elif instruction.keyword == "SHELL" and instruction.json and instruction.args:
            current_shell = instruction.args
        elif instruction.keyword == "RUN":
            scripts.extend(_scripts(instruction, current_shell, _source(instruction, lines), escape))
    onbuilds = [i for i in body if i.trigger is not None]
    trigger_shell = current_shell  # a build FROM this stage starts with its SHELL
    for onbuild in onbuilds:
        trigger = onbuild.trigger
        assert trigger is not None
        if trigger.keyword == "SHELL" and trigger.json and trigger.args:
            trigger_shell = trigger.args
        elif trigger.keyword == "RUN":
            scripts.extend(_scripts(trigger, trigger_shell, _trigger_source(onbuild, lines), escape))
    stage = Stage(
        index=index,
        name=name,
        base=base,
        from_line=from_.start_line,
        instructions=tuple(body),
        parent=parent,
        args=MappingProxyType(args),
        env=frozenset(env),
        scripts=tuple(scripts),
        triggers=tuple(i.trigger for i in onbuilds if i.trigger is not None),
    )
    return stage, current_shell


def dialect_of(argv0: str) -> str | None:
    """shellcheck's dialect for a shell program path, None for a non-shell program."""
    return SHELLS.get(argv0.rsplit("/", 1)[-1])


def _source(instruction: Instruction, lines: list[str]) -> list[str]:
    """The Dockerfile lines of an instruction (element 0 is its start line)."""
    return lines[instruction.start_line - 1 : instruction.end_line]


def _scripts(instruction: Instruction, shell_argv: tuple[str, ...], source: list[str], escape: str) -> list[Script]:
    """The scripts a RUN executes; `source` is its own lines (for a trigger: without the ONBUILD)."""

    def make(text: str, first_line: int, dialect: str, form: str, argv: tuple[str, ...] = shell_argv) -> Script:
        try:
            commands = shell.commands(text)
        except shell.NestingTooDeep as exc:
            message = f"{instruction.keyword} has {exc}: the lint cannot read its commands"
            raise _Unreadable(instruction.start_line, message) from None
        return Script(text, first_line, dialect, form, instruction, argv, commands)

    default = dialect_of(shell_argv[0]) if shell_argv else None
    if instruction.json:
        argv = instruction.args
        if len(argv) >= 3 and dialect_of(argv[0]) and argv[1].startswith("-") and "c" in argv[1]:
            return [make(argv[2], instruction.start_line, dialect_of(argv[0]) or "sh", "exec", argv[:2])]
        return []
    command = instruction.args[0] if instruction.args else ""
    stdin_shell = _SHELL_STDIN.match(command)
    if instruction.heredocs and (_HEREDOC_ONLY.match(command) or stdin_shell):
        found = []
        for (_, content), first_line in zip(
            instruction.heredocs, _heredoc_first_lines(instruction, source), strict=True
        ):
            dialect = default
            if content.startswith("#!"):
                interpreter = content.splitlines()[0][2:].split()
                if interpreter and interpreter[0].endswith("/env") and len(interpreter) > 1:
                    interpreter = [w for w in interpreter[1:] if not w.startswith("-")]
                dialect = dialect_of(interpreter[0]) if interpreter else None
            elif stdin_shell:
                dialect = dialect_of(stdin_shell.group("before") or stdin_shell.group("after")) or "sh"
            if dialect:
                found.append(make(content, first_line, dialect, "heredoc"))
            if _HEREDOC_ONLY.match(command):
                break  # further heredocs of a heredoc-only RUN are files, not the script
        return found
    if default is None:
        return []
    return [make(_shell_form_text(source, escape), instruction.start_line, default, "shell")]


def _heredoc_first_lines(instruction: Instruction, source: list[str]) -> list[int]:
    """The Dockerfile line where each heredoc body starts (the line after its marker line)."""
    marker = next((n for n, line in enumerate(source) if "<<" in line), len(source))
    cursor = instruction.start_line + marker + 1
    starts = []
    for _, content in instruction.heredocs:
        starts.append(cursor)
        cursor += content.count("\n") + 1  # the body, then its terminator line
    return starts


def _shell_form_text(source: list[str], escape: str) -> str:
    """The shell-form command with the Dockerfile's own line breaks, so line N of it is line start+N-1.

    The keyword and flags are blanked; comment and empty lines inside the
    continuation (which Docker drops) become a lone `\\`, which keeps both the
    continuation and the line count for the shell.
    """
    out = []
    for index, line in enumerate(source):
        stripped = line.strip()
        if index and (not stripped or stripped.startswith("#")):
            out.append("\\")
            continue
        if escape != "\\" and line.rstrip().endswith(escape):
            line = line.rstrip()[:-1] + "\\"
        out.append(line)
    text = "\n".join(out)
    end = _match_end(_KEYWORD, text, 0)
    while True:
        after = _match_end(_GAP, text, end)
        if not text.startswith("--", after):
            break
        end = _match_end(_WORD, text, after)
    return re.sub(r"[^\n]", " ", text[:end]) + text[end:]


def _match_end(pattern: re.Pattern[str], text: str, pos: int) -> int:
    """Where `pattern` matched at `pos` ends (`pos` if it does not): matching in place keeps many flags linear."""
    match = pattern.match(text, pos)
    return match.end() if match else pos


class Scope:
    """The ARG and ENV values in force at one point of a build, which BuildKit expands words with.

    A value is None when the lint cannot know it (an ARG without a default is set at build
    time; an ENV may come from the base image). ENV wins over an ARG of the same name.
    """

    def __init__(self, global_args: Mapping[str, str | None], env: Mapping[str, str | None] | None = None) -> None:
        self.global_args = global_args
        self.args: dict[str, str | None] = {}
        self.env: dict[str, str | None] = dict(env or {})
        self.known: Mapping[str, str | None] = ChainMap(self.env, self.args)

    def apply(self, instruction: Instruction) -> None:
        """Take in the ARG or ENV values `instruction` sets (other instructions set none)."""
        if instruction.keyword == "ARG":
            for name, default in _arg_items(instruction):
                # `ARG NAME` without a default keeps a value set earlier, else takes the global ARG's
                inherited = self.args[name] if name in self.args else self.global_args.get(name)
                self.args[name] = inherited if default is None else expand(default, self.known)
        elif instruction.keyword == "ENV":
            for key, value in env_items(instruction):
                self.env[key] = expand(value, self.known)

    def expand(self, value: str) -> str | None:
        return expand(value, self.known)


def expand(value: str, known: Mapping[str, str | None]) -> str | None:
    """Expand `$X`, `${X}`, `${X:-default}` and `${X:+alt}` with `known`; None if a needed value is unknown."""
    unknown = False

    def replace(match: re.Match[str]) -> str:
        nonlocal unknown
        var = match.group(1) or match.group(4)
        op, word = match.group(2), match.group(3) or ""
        current = known.get(var)
        if op and op.endswith("-"):
            return current if current or (current == "" and op == "-") else word
        if op and op.endswith("+"):
            return word if current else ""
        if current is None:
            unknown = True
            return match.group(0)
        return current

    result = _VAR.sub(replace, value)
    return None if unknown else result


def variables(value: str) -> list[str]:
    """Names referenced as `$X` or `${X...}` in a Dockerfile word."""
    return [m.group(1) or m.group(4) for m in _VAR.finditer(value)]
