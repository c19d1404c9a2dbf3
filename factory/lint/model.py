"""What every lint source produces: a located, graded finding.

Own rules, hadolint, shellcheck and trivy all report in this one shape, so
ignores, thresholds and the text/JSON/SARIF reports treat them alike.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Severity(enum.IntEnum):
    """How bad a finding is; ordered so that `error > warning > info > style`."""

    STYLE = 1
    INFO = 2
    WARNING = 3
    ERROR = 4

    @property
    def label(self) -> str:
        """The lower-case name used in output and on the command line."""
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        """`error`, `warning`, `info` or `style` (any case) to a Severity."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {text!r} (expected one of: {', '.join(LEVELS)})") from None


LEVELS = tuple(s.label for s in sorted(Severity, reverse=True))

# The sources a finding can come from; `factory` is the own rule catalogue.
OWN = "factory"
HADOLINT = "hadolint"
SHELLCHECK = "shellcheck"
TRIVY = "trivy"
TOOLS = (HADOLINT, SHELLCHECK, TRIVY)


@dataclass(frozen=True, order=True)
class Finding:
    """One problem at one line of one file, from one source (rule set or tool)."""

    file: str
    line: int
    code: str
    severity: Severity
    message: str
    source: str = OWN

    def __str__(self) -> str:
        return f"{self.file}:{self.line} {self.code} {self.severity.label}: {self.message}"


@dataclass(frozen=True)
class Suppressed:
    """A finding that an ignore matched, with where that ignore lives and why it exists."""

    finding: Finding
    reason: str
    where: str  # `file:line` of the inline comment or of the ignore-file entry
    inline: bool
