"""Lint and policy: the factory's own rule catalogue plus hadolint, shellcheck and trivy.

Works on any Dockerfile, not only rendered ones: `lint_paths` parses each file
once, runs the rules and the tools, and applies inline and project ignores.
"""

from __future__ import annotations

from factory.lint.model import Finding, Severity
from factory.lint.runner import Report, lint_dockerfiles, lint_paths

__all__ = ["Finding", "Report", "Severity", "lint_dockerfiles", "lint_paths"]
