"""The classic ARG scoping bug: a variable used in a stage that never declared it.

An ARG before the first FROM (and every predefined platform ARG such as
TARGETARCH) is visible to FROM lines only; inside a stage it is empty until
the stage says `ARG NAME` again. A name declared later in the stage is empty
before that line, too. Names the stage cannot know about (for example ENV of
the base image) are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from factory.lint.model import Severity
from factory.lint.parse import PLATFORM_ARGS, PROXY_ARGS, Dockerfile, Instruction, Script, Stage, env_items, variables
from factory.lint.policy import Policy
from factory.lint.rules.base import Hit, Rule
from factory.lint.shell import variable_references

# Instructions whose arguments BuildKit expands with the stage's ARG and ENV values.
EXPANDED = frozenset({"ADD", "ARG", "COPY", "ENV", "EXPOSE", "LABEL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"})
_ASSIGNED = re.compile(
    r"(?:^|[\s;&|(])(?:(?:export|local|readonly|declare|typeset)\s+(?:-\w+\s+)*)?([A-Za-z_]\w*)\+?="
    r"|\bfor\s+([A-Za-z_]\w*)\s+in\b"
    r"|\bread\s+(?:-\w+\s+)*([A-Za-z_]\w*)"
)


def _declared_names(instruction: Instruction) -> set[str]:
    if instruction.keyword == "ARG":
        return {w.split("=", 1)[0] for w in instruction.args}
    if instruction.keyword == "ENV":
        return {key for key, _ in env_items(instruction)}
    return set()


def _inherited(dockerfile: Dockerfile, stage: Stage) -> set[str]:
    names: set[str] = set()
    for ancestor in dockerfile.chain(stage)[1:]:
        names.update(ancestor.args, ancestor.env)
    return names


def _expanded_words(instruction: Instruction) -> list[str]:
    words = list(instruction.flags)
    if instruction.keyword in EXPANDED:
        words.extend(instruction.args)
    return words


def _message(name: str, dockerfile: Dockerfile, later: dict[str, int]) -> str | None:
    if name in later:
        return f"{name} is used before line {later[name]} declares it in this stage: it is empty here"
    if name in PLATFORM_ARGS:
        return f"{name} is used but this stage does not declare it: add `ARG {name}` to the stage"
    if name in dockerfile.global_args:
        return (
            f"{name} is a global ARG, visible only to FROM: add `ARG {name}` to this stage"
            f" (line {dockerfile.global_arg_lines[name]} declares it before the first FROM)"
        )
    return None


def _stage_hits(dockerfile: Dockerfile, stage: Stage) -> Iterator[Hit]:
    declared = _inherited(dockerfile, stage) | PROXY_ARGS
    later: dict[str, int] = {}
    for instruction in stage.instructions:
        for name in _declared_names(instruction):
            later.setdefault(name, instruction.start_line)
    scripts: dict[int, list[Script]] = {}
    for script in stage.scripts:
        scripts.setdefault(id(script.instruction), []).append(script)
    for instruction in stage.instructions:
        for name in dict.fromkeys(n for w in _expanded_words(instruction) for n in variables(w)):
            # `ENV PATH=/x:$PATH` extends the value the stage inherited from its base image;
            # a global or platform ARG is never inherited that way, so it stays a finding.
            extends_itself = (
                instruction.keyword == "ENV"
                and later.get(name) == instruction.start_line
                and name not in dockerfile.global_args
                and name not in PLATFORM_ARGS
            )
            message = _message(name, dockerfile, later) if name not in declared and not extends_itself else None
            if message:
                yield Hit(instruction.start_line, message)
        for script in scripts.get(id(instruction), []):
            assigned = {n for m in _ASSIGNED.finditer(script.text) for n in m.groups() if n}
            seen: set[str] = set()
            for name, line in variable_references(script.text):
                if name in declared or name in assigned or name in seen:
                    continue
                seen.add(name)
                message = _message(name, dockerfile, later)
                if message:
                    yield Hit(script.line_of(line), message)
        for name in _declared_names(instruction):
            declared.add(name)
            later.pop(name, None)


def _undeclared(dockerfile: Dockerfile, policy: Policy) -> Iterator[Hit]:
    for stage in dockerfile.stages:
        from_words = [
            stage.base,
            *(f for i in dockerfile.instructions if i.start_line == stage.from_line for f in i.flags),
        ]
        for name in dict.fromkeys(n for w in from_words for n in variables(w)):
            if name not in dockerfile.global_args and name not in PLATFORM_ARGS:
                yield Hit(stage.from_line, f"FROM uses {name}, which is not an ARG declared before the first FROM")
        yield from _stage_hits(dockerfile, stage)


UNDECLARED_ARG = Rule("FB060", Severity.ERROR, "a variable must be declared in the stage that uses it", _undeclared)
