"""The shape of an own rule: code, severity, message and a check function."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from factory.lint.model import OWN, Finding, Severity
from factory.lint.parse import Dockerfile
from factory.lint.policy import Policy


@dataclass(frozen=True)
class Hit:
    """Where a check found its problem, and the specific text for it."""

    line: int
    message: str


Check = Callable[[Dockerfile, Policy], Iterable[Hit]]


@dataclass(frozen=True)
class Rule:
    """One practice: a stable code, a severity, a one-line message and the check that finds violations."""

    code: str
    severity: Severity
    message: str  # what the rule asks for, in one line (SARIF shortDescription, docs)
    check: Check
    needs_parse: bool = True  # False only for the rule that reports the parse failure itself

    def run(self, dockerfile: Dockerfile, policy: Policy) -> list[Finding]:
        """Findings of this rule on one parsed Dockerfile (a file that did not parse has none)."""
        if self.needs_parse and dockerfile.error is not None:
            return []
        return [
            Finding(dockerfile.name, hit.line, self.code, self.severity, hit.message or self.message, OWN)
            for hit in self.check(dockerfile, policy)
        ]
