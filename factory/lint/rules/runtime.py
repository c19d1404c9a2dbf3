"""The runtime contract of the final image: numeric non-root USER, an init as PID 1, one concern.

Only the final stage ships, so only its instructions count, together with the
earlier stages it is built FROM (and their ONBUILD triggers, which run at the
start of a stage built FROM them). A base image the policy allows is a
catalogue image, which already runs as the numeric non-root user under tini.

The final stage's own ONBUILD triggers run in every image built FROM it:
`ONBUILD USER 0` makes each of them run as root unless its author notices, so
the contract is checked for such a child that adds nothing, too.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Sequence

from factory.lint.model import Severity
from factory.lint.parse import Dockerfile, Instruction, Scope, Stage, expand
from factory.lint.policy import Policy
from factory.lint.rules.base import Hit, Rule
from factory.references import parse as parse_reference

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


Found = tuple[Instruction, str | None]  # an instruction and its first word as the build expands it


def _in_effect(dockerfile: Dockerfile, keyword: str) -> tuple[Found | None, Found | None]:
    """The last `keyword` in force in the final image, and the one its ONBUILD triggers set in an image FROM it.

    A child build keeps the image's ENV but none of its ARGs; triggers run first in it.
    """
    final = dockerfile.final
    if final is None:
        return None, None
    scope = Scope(dockerfile.global_args)
    own = _last_of(dockerfile.sequence(final), keyword, scope)
    return own, _last_of(final.triggers, keyword, Scope({}, scope.env))


def _last_of(instructions: Sequence[Instruction], keyword: str, scope: Scope) -> Found | None:
    """The last `keyword` among `instructions` run in order from `scope` (which is left as they leave it)."""
    found: Found | None = None
    for instruction in instructions:
        if instruction.keyword == keyword and instruction.args:
            value = scope.expand(instruction.args[0])
            found = instruction, None if value is None else _shell_word(value)
        scope.apply(instruction)
    return found


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


def _no_user(dockerfile: Dockerfile, policy: Policy) -> Iterator[Hit]:
    final = dockerfile.final
    if final is None:
        return
    own, child = _in_effect(dockerfile, "USER")
    if own is None and not _inherits_contract(dockerfile, policy):
        yield Hit(final.from_line, "the final stage sets no USER: the container runs as root")
    for instruction, value in filter(None, (own, child)):
        if value is not None and is_root(value):
            written = instruction.args[0]
            shown = written if value == written else f"{written} ({value or 'empty'})"
            if instruction.onbuild:
                yield Hit(
                    instruction.start_line, f"ONBUILD USER {shown} makes every image built FROM this one run as root"
                )
            else:
                yield Hit(instruction.start_line, f"the final USER is {shown}: the container runs as root")


def _non_numeric_user(dockerfile: Dockerfile, policy: Policy) -> Iterator[Hit]:
    for instruction, value in filter(None, _in_effect(dockerfile, "USER")):
        if value is not None and is_root(value):
            continue  # FB010's: root, however it is spelled
        written = instruction.args[0]
        if not _NUMERIC_USER.match(value if value is not None else written):
            yield Hit(
                instruction.start_line,
                f"{instruction.label} {written} is not numeric:"
                " Kubernetes runAsNonRoot can only verify a numeric uid (use uid:gid)",
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
    own, child = _in_effect(dockerfile, "ENTRYPOINT")
    if own is None and not _inherits_contract(dockerfile, policy):
        yield Hit(final.from_line, "no ENTRYPOINT runs an init (tini or dumb-init) as PID 1")
    for instruction, _ in filter(None, (own, child)):
        argv, exec_form = _argv(instruction)
        program = argv[0].rsplit("/", 1)[-1] if argv and argv[0] else ""
        if not exec_form:
            yield Hit(
                instruction.start_line,
                f"{instruction.label} in shell form makes /bin/sh PID 1: use the exec form with tini",
            )
        elif program not in INITS:
            shown = program or "nothing"
            yield Hit(
                instruction.start_line, f"{instruction.label} runs {shown} as PID 1, not an init (tini or dumb-init)"
            )


def _supervisor(dockerfile: Dockerfile, policy: Policy) -> Iterator[Hit]:
    for keyword in ("ENTRYPOINT", "CMD"):
        for instruction, _ in filter(None, _in_effect(dockerfile, keyword)):
            argv, _ = _argv(instruction)
            started = sorted({w.rsplit("/", 1)[-1] for w in argv} & SUPERVISORS)
            if started:
                yield Hit(
                    instruction.start_line,
                    f"{instruction.label} starts the process supervisor {started[0]}: run one concern per container",
                )


NO_USER = Rule("FB010", Severity.ERROR, "the final image must not run as root", _no_user)
NON_NUMERIC_USER = Rule("FB011", Severity.WARNING, "the final USER must be numeric (uid:gid)", _non_numeric_user)
NO_INIT = Rule("FB020", Severity.WARNING, "an init (tini or dumb-init) must be PID 1", _no_init)
SUPERVISOR = Rule("FB021", Severity.WARNING, "no process supervisor: one concern per container", _supervisor)
