"""Compilers belong in a build stage, not in the image that ships.

A runtime image with gcc or a JDK is larger and gives an attacker a toolchain.
Build in an earlier stage and copy the result; an image that is a toolchain on
purpose (the factory's `build` variants) says so with a label the policy names.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from factory.lint.model import Severity
from factory.lint.parse import Dockerfile, Stage, env_items
from factory.lint.policy import Policy
from factory.lint.rules.base import Hit, Rule
from factory.lint.rules.packages import subcommand

INSTALLERS = {
    "apt-get": "install",
    "apt": "install",
    "apk": "add",
    "yum": "install",
    "dnf": "install",
    "microdnf": "install",
    "zypper": "install",
}
COMPILERS = re.compile(
    r"^(build-essential|build-base|gcc|g\+\+|gcc-c\+\+|cpp|clang|gfortran|gcc-gfortran|rustc|cargo|golang|golang-go"
    r"|default-jdk(-headless)?|openjdk-[0-9]+-jdk(-headless)?|java-[0-9.]+-openjdk-devel|openjdk[0-9]+(-jdk)?"
    r"|(gcc|g\+\+|clang|cpp|gfortran)-[0-9.]+|golang-[0-9.]+(-go)?)$"
)


def _package_name(word: str) -> str:
    return re.split(r"[=:<>~]", word, maxsplit=1)[0]


def _declared_toolchain(dockerfile: Dockerfile, policy: Policy) -> bool:
    final = dockerfile.final
    assert final is not None
    for stage in dockerfile.chain(final):
        for instruction in stage.instructions:
            if instruction.keyword == "LABEL":
                for key, value in env_items(instruction):
                    if value in policy.build_labels.get(key, ()):
                        return True
    return False


def _installing_stages(dockerfile: Dockerfile, final: Stage) -> Iterator[tuple[Stage, bool]]:
    """The stages whose package installs reach the shipped image: its chain, and (True) the stages
    whose downloaded packages a RUN of the chain binds and installs, as the factory's `packages` stage."""
    chain = dockerfile.chain(final)
    for stage in chain:
        yield stage, False
    for stage in chain:
        for bound in dockerfile.bound_stages(stage):
            yield bound, True


def _compilers(dockerfile: Dockerfile, policy: Policy) -> Iterator[Hit]:
    final = dockerfile.final
    if final is None:
        return
    hits: list[Hit] = []
    for stage, bound in _installing_stages(dockerfile, final):
        for script in stage.scripts:
            for command in script.commands:
                if INSTALLERS.get(command.program) != subcommand(command):
                    continue
                if bound and "--download-only" not in command.args:
                    continue  # installed in that stage only; what the shipped image gets is its downloads
                found = [_package_name(w) for w in command.args if COMPILERS.match(_package_name(w))]
                if found:
                    fetched = f", fetched in stage {stage.name or stage.index}" if bound else ""
                    hits.append(
                        Hit(
                            script.line_of(command.line),
                            f"the shipped image installs compilers ({', '.join(found)}{fetched}): build in an"
                            " earlier stage and COPY --from it only the result",
                        )
                    )
    if hits and not _declared_toolchain(dockerfile, policy):
        labels = " or ".join(f"{k}={v}" for k, values in policy.build_labels.items() for v in sorted(values))
        for hit in hits:
            yield Hit(hit.line, f"{hit.message} (a toolchain image on purpose says so: LABEL {labels})")


COMPILERS_SHIPPED = Rule("FB090", Severity.WARNING, "the shipped image must not contain compilers", _compilers)
