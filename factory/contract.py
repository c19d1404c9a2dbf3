"""The image contract, checked on every rendered Dockerfile before anything is written.

Values are validated and quoted, so a definition cannot inject an instruction;
this is the second line: BuildKit's own parser reads what the template made,
and the final stage must start from what the target's base says, carry exactly
the ENV and LABEL keys the definition gave, run nothing after its last USER,
which is the numeric non-root account, and end with tini as the ENTRYPOINT and
the definition's CMD. A template bug or a value that slipped through fails the
render with the reason instead of reaching rendered/.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from factory import model
from factory.errors import EnvironmentProblem

TINI = ("/usr/bin/tini", "--")
ALLOWED = frozenset({"ARG", "FROM", "USER", "RUN", "COPY", "ENV", "LABEL", "WORKDIR", "ENTRYPOINT", "CMD"})
AFTER_USER = frozenset({"ENTRYPOINT", "CMD"})


def check(text: str, target: model.Target, os_base: model.OSBase, labels: Iterable[str]) -> list[str]:
    """What in `text` breaks the contract of `target` (empty when it holds)."""
    parser = buildkit_parser()
    try:
        commands = parser.parse_string(text)
    except parser.GoParseError as exc:
        return [f"BuildKit's parser rejects it: {exc}"]
    problems: list[str] = []
    allowed = ALLOWED | ({"ADD"} if target.is_os else set())
    for command in commands:
        if command.cmd.upper() not in allowed:
            problems.append(f"line {command.start_line}: {command.cmd.upper()} is not an instruction templates emit")
    froms = [i for i, c in enumerate(commands) if c.cmd.upper() == "FROM"]
    if not froms:
        return [*problems, "no FROM"]
    final = commands[froms[-1] :]
    problems += _final_from(final[0], target)
    problems += _runtime(final, target, os_base)
    problems += _keys(final, "ENV", target.env)
    problems += _keys(final, "LABEL", dict.fromkeys(labels, ""))
    return problems


def buildkit_parser() -> Any:
    """The `dockerfile` package (BuildKit's parser); missing, it is exit 5 saying what to install."""
    try:
        import dockerfile
    except ImportError as exc:
        raise EnvironmentProblem(
            "BuildKit's Dockerfile parser (the Python package `dockerfile`) is not installed:"
            " `pip install .` in the factory's checkout installs every tool it runs"
        ) from exc
    return dockerfile


def _final_from(command: Any, target: model.Target) -> list[str]:
    scratch = target.base.kind in (model.BaseKind.ROOTFS, model.BaseKind.SCRATCH)
    expected = "scratch" if scratch else "${BASE_IMAGE}"
    written = command.value[0] if command.value else ""
    if written != expected or len(command.value) != 1:
        return [f"line {command.start_line}: the final stage starts FROM {' '.join(command.value)}, not {expected}"]
    return []


def _runtime(final: list[Any], target: model.Target, os_base: model.OSBase) -> list[str]:
    users = [i for i, c in enumerate(final) if c.cmd.upper() == "USER"]
    if not users:
        return ["the final stage sets no USER"]
    last = final[users[-1]]
    problems = []
    if last.value != (os_base.user.spec,):
        problems.append(f"line {last.start_line}: the last USER is {' '.join(last.value)}, not {os_base.user.spec}")
    after = [c for c in final[users[-1] + 1 :] if c.cmd.upper() not in AFTER_USER]
    problems += [f"line {c.start_line}: {c.cmd.upper()} after the last USER" for c in after]
    entrypoints = [c for c in final if c.cmd.upper() == "ENTRYPOINT"]
    if len(entrypoints) != 1 or not entrypoints[0].json or tuple(entrypoints[0].value) != TINI:
        problems.append(f"the final stage must have exactly one ENTRYPOINT {json.dumps(list(TINI))}")
    cmds = [c for c in final if c.cmd.upper() == "CMD"]
    wanted = (tuple(target.cmd),) if target.cmd else ()
    if tuple(tuple(c.value) for c in cmds) != wanted or not all(c.json for c in cmds):
        problems.append(f"the final stage must have CMD {json.dumps(list(target.cmd))}" if target.cmd else "no CMD")
    return problems


def _keys(final: list[Any], keyword: str, expected: Mapping[str, str]) -> list[str]:
    """ENV or LABEL: exactly the keys the definition gives (BuildKit lists them as key, value pairs)."""
    found: list[str] = []
    for command in final:
        if command.cmd.upper() == keyword:
            found += list(command.value[0::2])
    if sorted(found) != sorted(expected):
        extra = sorted(set(found) - set(expected)) or sorted(k for k in set(found) if found.count(k) > 1)
        missing = sorted(set(expected) - set(found))
        return [f"{keyword} keys differ from the definition (unexpected: {extra or '-'}; missing: {missing or '-'})"]
    return []
