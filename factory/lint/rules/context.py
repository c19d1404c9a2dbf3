"""The build context: a .dockerignore beside the Dockerfile, manifests copied before sources.

Without a .dockerignore, `COPY .` sends and bakes in whatever lies around
(.git, .env, build output). Copying the whole context before installing
dependencies re-runs the install on every source change; copying the
dependency manifests first keeps that layer cached.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from factory.lint.model import Severity
from factory.lint.parse import Dockerfile, Instruction, Script
from factory.lint.policy import Policy
from factory.lint.rules.base import Hit, Rule
from factory.lint.rules.downloads import remote_sources
from factory.lint.rules.packages import subcommand

WHOLE_CONTEXT = frozenset({".", "./", "*", "./*", "./."})
MANIFESTS = re.compile(
    r"(^|/)(requirements[^/]*\.txt|pyproject\.toml|poetry\.lock|uv\.lock|Pipfile(\.lock)?|setup\.(py|cfg)"
    r"|package(-lock)?\.json|npm-shrinkwrap\.json|yarn\.lock|pnpm-lock\.yaml|go\.(mod|sum)|pom\.xml"
    r"|build\.gradle(\.kts)?|settings\.gradle(\.kts)?|gradle\.lockfile|Gemfile(\.lock)?|composer\.(json|lock)"
    r"|Cargo\.(toml|lock)|[^/]*\.csproj|packages\.lock\.json)$"
)
# program -> subcommands that resolve dependencies (None: any invocation does).
INSTALLERS: dict[str, frozenset[str] | None] = {
    "pip": frozenset({"install", "download", "wheel"}),
    "pip3": frozenset({"install", "download", "wheel"}),
    "uv": frozenset({"sync", "pip"}),
    "poetry": frozenset({"install"}),
    "pipenv": frozenset({"install", "sync"}),
    "npm": frozenset({"ci", "install", "i"}),
    "yarn": frozenset({"", "install"}),
    "pnpm": frozenset({"install", "i"}),
    "go": frozenset({"mod", "build", "install"}),
    "mvn": None,
    "gradle": None,
    "bundle": frozenset({"install"}),
    "composer": frozenset({"install"}),
    "cargo": frozenset({"fetch", "build", "install"}),
    "dotnet": frozenset({"restore", "build", "publish"}),
}


def _reads_context(instruction: Instruction) -> bool:
    if instruction.keyword in ("COPY", "ADD"):
        if instruction.flag("from") is not None or any(a.startswith("<<") for a in instruction.args):
            return False
        return len(remote_sources(instruction)) < len(instruction.args) - 1
    if instruction.keyword == "RUN":
        return any("type=bind" in m and "from=" not in m for m in instruction.flag_values("mount"))
    return False


def _first_context_use(dockerfile: Dockerfile) -> Instruction | None:
    return next((i for i in dockerfile.instructions if _reads_context(i)), None)


def _no_dockerignore(dockerfile: Dockerfile, policy: Policy) -> Iterator[Hit]:
    if dockerfile.path is None:
        return
    directory = dockerfile.path.parent
    if (directory / ".dockerignore").is_file() or (directory / f"{dockerfile.path.name}.dockerignore").is_file():
        return
    first = _first_context_use(dockerfile)
    if first is not None:
        yield Hit(
            first.start_line,
            f"no .dockerignore beside {dockerfile.path.name}:"
            " the whole context (.git, .env...) can end up in the image",
        )


def _installs_dependencies(script: Script) -> bool:
    for command in script.commands:
        program = command.program
        if program in ("python", "python3") and command.args[:2] == ("-m", "pip"):
            return True
        if program in INSTALLERS:
            wanted = INSTALLERS[program]
            if wanted is None or subcommand(command) in wanted:
                return True
    return False


def _copies_whole_context(instruction: Instruction) -> bool:
    return (
        instruction.keyword in ("COPY", "ADD")
        and instruction.flag("from") is None
        and any(a in WHOLE_CONTEXT for a in instruction.args[:-1])
    )


def _copies_manifest(instruction: Instruction) -> bool:
    return instruction.keyword in ("COPY", "ADD") and any(MANIFESTS.search(a) for a in instruction.args[:-1])


def _context_before_manifests(dockerfile: Dockerfile, policy: Policy) -> Iterator[Hit]:
    for stage in dockerfile.stages:
        installs = {id(s.instruction) for s in stage.scripts if _installs_dependencies(s)}
        copy: Instruction | None = None
        for instruction in stage.instructions:
            if _copies_manifest(instruction) and copy is None:
                break  # manifests first: the layer order is right
            if _copies_whole_context(instruction) and copy is None:
                copy = instruction
            elif copy is not None and id(instruction) in installs:
                yield Hit(
                    copy.start_line,
                    f"COPY of the whole context before installing dependencies (line {instruction.start_line}):"
                    " copy the dependency manifests first, install, then copy the rest",
                )
                break


CONTEXT_BEFORE_MANIFESTS = Rule(
    "FB080", Severity.INFO, "copy dependency manifests before the whole context", _context_before_manifests
)
NO_DOCKERIGNORE = Rule("FB081", Severity.WARNING, "a .dockerignore must sit beside the Dockerfile", _no_dockerignore)
