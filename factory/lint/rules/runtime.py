"""The runtime contract of the final image: numeric non-root USER, an init as PID 1, one concern.

Only the final stage ships, so only its instructions count, together with the
earlier stages it is built FROM. A base image the policy allows is a catalogue
image, which already runs as the numeric non-root user under tini.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator

from factory.lint.model import Severity
from factory.lint.parse import Dockerfile, Instruction, Scope, Stage, expand
from factory.lint.policy import Policy, parse_reference
from factory.lint.rules.base import Hit, Rule

INITS = frozenset({"tini", "tini-static", "dumb-init"})
SUPERVISORS = frozenset(
    {
        "supervisord",
        "s6-svscan",
        "s6-supervise",
        "runsvdir",
        "runit",
        "systemd",
        "init",
        "monit",
        "circusd",
        "pm2",
        "pm2-runtime",
        "honcho",
        "foreman",
        "forego",
    }
)
_NUMERIC_USER = re.compile(r"^[0-9]+(:[0-9]+)?$")
_ATOI = re.compile(r"[+-]?[0-9]+")  # what Go's strconv.Atoi reads, as runc and BuildKit read a uid


def _last(dockerfile: Dockerfile, keyword: str) -> tuple[Stage, Instruction] | None:
    """The last `keyword` instruction in effect for the final image, searching up the stage chain."""
    if dockerfile.final is None:
        return None
    for stage in dockerfile.chain(dockerfile.final):
        for instruction in reversed(stage.instructions):
            if instruction.keyword == keyword:
                return stage, instruction
    return None


def _root_stage(dockerfile: Dockerfile) -> Stage | None:
    """The stage at the top of the final stage's chain: the one whose FROM names an image."""
    return dockerfile.chain(dockerfile.final)[-1] if dockerfile.final else None


def _inherits_contract(dockerfile: Dockerfile, policy: Policy) -> bool:
    """True when the final image starts from an allowed (catalogue) image, which brings USER and tini."""
    root = _root_stage(dockerfile)
    if root is None or root.is_scratch:
        return False
    reference = expand(root.base, dockerfile.global_args)
    return reference is not None and policy.brings_contract(parse_reference(reference))


def is_root(user: str) -> bool:
    """True for a USER value that runs as uid 0: `root`, or 0 written any way Go reads a number (`00`, `+0`), or empty.

    (An empty user is the image default, root.) The group does not matter: `10001:0` is not root.
    """
    name = user.split(":", 1)[0].strip()
    return name in ("", "root") or (_ATOI.fullmatch(name) is not None and int(name) == 0)


def _shell_word(value: str) -> str:
    """A USER word as BuildKit's lexer leaves it: quotes and backslashes removed (`"0"` is 0)."""
    try:
        words = shlex.split(value)
    except ValueError:
        return value
    return words[0] if len(words) == 1 else value


def _final_user(dockerfile: Dockerfile) -> tuple[Instruction, str | None] | None:
    """The USER in force in the final image, with its value as the build expands it (None: cannot be known)."""
    if dockerfile.final is None:
        return None
    scope = Scope(dockerfile.global_args)
    found: tuple[Instruction, str | None] | None = None
    for instruction in dockerfile.sequence(dockerfile.final):
        if instruction.keyword == "USER" and instruction.args:
            value = scope.expand(instruction.args[0])
            found = instruction, None if value is None else _shell_word(value)
        scope.apply(instruction)
    return found


def _no_user(dockerfile: Dockerfile, policy: Policy) -> Iterator[Hit]:
    final = dockerfile.final
    if final is None:
        return
    found = _final_user(dockerfile)
    if found is None:
        if not _inherits_contract(dockerfile, policy):
            yield Hit(final.from_line, "the final stage sets no USER: the container runs as root")
        return
    instruction, value = found
    if value is not None and is_root(value):
        written = instruction.args[0]
        shown = written if value == written else f"{written} ({value or 'empty'})"
        yield Hit(instruction.start_line, f"the final USER is {shown}: the container runs as root")


def _non_numeric_user(dockerfile: Dockerfile, policy: Policy) -> Iterator[Hit]:
    found = _final_user(dockerfile)
    if found is None:
        return
    instruction, value = found
    if value is not None and is_root(value):
        return  # FB010's: root, however it is spelled
    written = instruction.args[0]
    if not _NUMERIC_USER.match(value if value is not None else written):
        yield Hit(
            instruction.start_line,
            f"USER {written} is not numeric: Kubernetes runAsNonRoot can only verify a numeric uid (use uid:gid)",
        )


def _argv(instruction: Instruction) -> tuple[list[str], bool]:
    """The command words of CMD/ENTRYPOINT and whether it is the exec form."""
    if instruction.json:
        return list(instruction.args), True
    text = " ".join(instruction.args)
    try:
        return shlex.split(text), False
    except ValueError:
        return text.split(), False


def _no_init(dockerfile: Dockerfile, policy: Policy) -> Iterator[Hit]:
    final = dockerfile.final
    if final is None:
        return
    found = _last(dockerfile, "ENTRYPOINT")
    if found is None:
        if not _inherits_contract(dockerfile, policy):
            yield Hit(final.from_line, "no ENTRYPOINT runs an init (tini or dumb-init) as PID 1")
        return
    _, instruction = found
    argv, exec_form = _argv(instruction)
    program = argv[0].rsplit("/", 1)[-1] if argv and argv[0] else ""
    if not exec_form:
        yield Hit(instruction.start_line, "ENTRYPOINT in shell form makes /bin/sh PID 1: use the exec form with tini")
    elif program not in INITS:
        shown = program or "nothing"
        yield Hit(instruction.start_line, f"ENTRYPOINT runs {shown} as PID 1, not an init (tini or dumb-init)")


def _supervisor(dockerfile: Dockerfile, policy: Policy) -> Iterator[Hit]:
    if dockerfile.final is None:
        return
    for keyword in ("ENTRYPOINT", "CMD"):
        found = _last(dockerfile, keyword)
        if found is None:
            continue
        _, instruction = found
        argv, _ = _argv(instruction)
        started = sorted({w.rsplit("/", 1)[-1] for w in argv} & SUPERVISORS)
        if started:
            yield Hit(
                instruction.start_line,
                f"{keyword} starts the process supervisor {started[0]}: run one concern per container",
            )


NO_USER = Rule("FB010", Severity.ERROR, "the final image must not run as root", _no_user)
NON_NUMERIC_USER = Rule("FB011", Severity.WARNING, "the final USER must be numeric (uid:gid)", _non_numeric_user)
NO_INIT = Rule("FB020", Severity.WARNING, "an init (tini or dumb-init) must be PID 1", _no_init)
SUPERVISOR = Rule("FB021", Severity.WARNING, "no process supervisor: one concern per container", _supervisor)
