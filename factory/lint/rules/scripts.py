"""RUN scripts: readable heredocs instead of `&&` chains, and errexit in every heredoc.

A shell-form RUN chaining many commands is hard to read and diff; a heredoc
holds the same script one command per line. Without `set -e` a heredoc script
carries on after a failed command and the build only sees the last exit code.
"""

from __future__ import annotations

from collections.abc import Iterator

from factory.lint.model import Severity
from factory.lint.parse import Dockerfile, Script
from factory.lint.policy import Policy
from factory.lint.rules.base import Hit, Rule

CHAIN_LIMIT = 3  # this many commands in one RUN string call for a heredoc


def _chained(dockerfile: Dockerfile, policy: Policy) -> Iterator[Hit]:
    for script in dockerfile.scripts:
        if script.form != "heredoc" and script.steps >= CHAIN_LIMIT:
            yield Hit(
                script.instruction.start_line,
                f"RUN chains {script.steps} commands in one string: write them as a heredoc"
                " (RUN <<EOT, one command per line, set -eux first)",
            )


def _option_sets_errexit(words: tuple[str, ...]) -> bool:
    """True for option words such as `-e`, `-eux`, `-o errexit` (as for set, sh and bash)."""
    for index, word in enumerate(words):
        if word.startswith("-") and not word.startswith("--") and "e" in word[1:]:
            return True
        if word == "-o" and index + 1 < len(words) and words[index + 1] == "errexit":
            return True
    return False


def errexit(script: Script) -> bool:
    """True when a failing command stops the script: shebang or SHELL flags, or `set -e` before any command."""
    if script.has_shebang:
        shebang = script.text.splitlines()[0][2:].split()
        if _option_sets_errexit(tuple(shebang[1:])):
            return True
    elif _option_sets_errexit(script.shell_argv[1:]):
        return True
    first = script.commands[0] if script.commands else None
    return first is not None and first.program == "set" and _option_sets_errexit(first.args)


def _no_errexit(dockerfile: Dockerfile, policy: Policy) -> Iterator[Hit]:
    for script in dockerfile.scripts:
        if script.form == "heredoc" and script.steps > 1 and not errexit(script):
            yield Hit(
                script.instruction.start_line,
                "heredoc RUN without set -e: a failing command does not stop the script (start it with set -eux)",
            )


CHAINED = Rule("FB050", Severity.INFO, "several commands belong in a heredoc, not one RUN string", _chained)
NO_ERREXIT = Rule("FB051", Severity.WARNING, "a heredoc RUN must start with set -e", _no_errexit)
