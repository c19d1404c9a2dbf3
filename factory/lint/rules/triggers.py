"""ONBUILD triggers: a base image of the catalogue carries none.

A trigger runs inside the build of every image built FROM this one, before
the child's own first instruction and out of its author's sight (the child's
Dockerfile does not show it). The other rules check what a trigger carries as
they check a plain instruction; this rule reports that there is one at all.
"""

from __future__ import annotations

from collections.abc import Iterator

from factory.lint.model import Severity
from factory.lint.parse import Dockerfile
from factory.lint.policy import Policy
from factory.lint.rules.base import Hit, Rule


def _triggers(dockerfile: Dockerfile, policy: Policy) -> Iterator[Hit]:
    for instruction in dockerfile.instructions:
        if instruction.trigger is not None:
            yield Hit(
                instruction.start_line,
                f"ONBUILD {instruction.trigger.keyword} runs in the build of every image FROM this one,"
                " hidden from its author: a base image needs no triggers",
            )


ONBUILD = Rule("FB012", Severity.WARNING, "a base image carries no ONBUILD triggers", _triggers)
