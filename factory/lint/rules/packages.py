"""OS packages: no recommends, no package lists left in the layer, no upgrades of a derived image.

Recommends pull in packages nobody asked for; lists left behind by
`apt-get update` add tens of megabytes to the layer that ran it; and an
upgrade inside a derived image means the base is stale: rebuild the base.
"""

from __future__ import annotations

from collections.abc import Iterator

from factory.lint.model import Severity
from factory.lint.parse import Dockerfile, Script
from factory.lint.policy import Policy
from factory.lint.rules.base import Hit, Rule
from factory.lint.shell import Command

APT = frozenset({"apt-get", "apt"})
UPGRADES = {
    "apt-get": {"upgrade", "dist-upgrade", "full-upgrade"},
    "apt": {"upgrade", "full-upgrade", "dist-upgrade"},
    "apk": {"upgrade"},
    "yum": {"upgrade", "update"},
    "dnf": {"upgrade", "update", "distro-sync"},
    "microdnf": {"upgrade", "update"},
    "zypper": {"update", "up", "dist-upgrade", "dup"},
}
LISTS = "/var/lib/apt/lists"


def subcommand(command: Command) -> str:
    """The first non-option argument (`install` in `apt-get -y install x`)."""
    args = command.args
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in ("-o", "-c", "-t", "--option", "--target-release"):
            skip = True
        elif not arg.startswith("-"):
            return arg
    return ""


def _no_recommends(command: Command) -> bool:
    return any(
        a == "--no-install-recommends"
        or a.replace(" ", "") in ("APT::Install-Recommends=false", "APT::Install-Recommends=0")
        for a in command.args
    )


def _recommends(dockerfile: Dockerfile, policy: Policy) -> Iterator[Hit]:
    for script in dockerfile.scripts:
        for command in script.commands:
            if command.program in APT and subcommand(command) == "install" and not _no_recommends(command):
                yield Hit(
                    script.line_of(command.line),
                    f"{command.program} install without --no-install-recommends installs packages nobody asked for",
                )


def _removes_lists(script: Script) -> bool:
    if any(f"target={LISTS}" in m or f"dst={LISTS}" in m for m in script.instruction.flag_values("mount")):
        return True
    return any(c.program == "rm" and any(a.startswith(LISTS) for a in c.args) for c in script.commands)


def _lists_left(dockerfile: Dockerfile, policy: Policy) -> Iterator[Hit]:
    for script in dockerfile.scripts:
        updates = [c for c in script.commands if c.program in APT and subcommand(c) == "update"]
        if updates and not _removes_lists(script):
            yield Hit(
                script.line_of(updates[0].line),
                f"{updates[0].program} update leaves {LISTS} in this layer: rm -rf {LISTS}/* in the same RUN",
            )


def _upgrade(dockerfile: Dockerfile, policy: Policy) -> Iterator[Hit]:
    for stage in dockerfile.stages:
        if dockerfile.chain(stage)[-1].is_scratch:
            continue
        for script in stage.scripts:
            for command in script.commands:
                action = subcommand(command)
                if action in UPGRADES.get(command.program, ()):
                    yield Hit(
                        script.line_of(command.line),
                        f"{command.program} {action} in a derived image: rebuild the base image instead",
                    )


RECOMMENDS = Rule("FB070", Severity.WARNING, "apt-get install needs --no-install-recommends", _recommends)
LISTS_LEFT = Rule("FB071", Severity.WARNING, "apt lists must be removed in the layer that fetched them", _lists_left)
UPGRADE = Rule("FB072", Severity.WARNING, "no package upgrades in a derived image", _upgrade)
