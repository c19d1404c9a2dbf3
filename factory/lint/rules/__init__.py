"""The own rule catalogue, listed explicitly: importing a module registers nothing.

Codes are stable (documented in README.md); a retired code is never reused.
"""

from __future__ import annotations

from collections.abc import Iterator

from factory.lint.model import Finding, Severity
from factory.lint.parse import Dockerfile
from factory.lint.policy import Policy
from factory.lint.rules import (
    arg_scope,
    base_image,
    context,
    downloads,
    end_of_life,
    packages,
    runtime,
    scripts,
    secrets,
    toolchain,
    triggers,
)
from factory.lint.rules.base import Hit, Rule


def _parse_failure(dockerfile: Dockerfile, policy: Policy) -> Iterator[Hit]:
    if dockerfile.error is not None:
        yield Hit(dockerfile.error_line, dockerfile.error)


PARSE_FAILURE = Rule("FB000", Severity.ERROR, "the Dockerfile must parse", _parse_failure, needs_parse=False)

CATALOGUE: tuple[Rule, ...] = (
    PARSE_FAILURE,
    base_image.FLOATING,
    base_image.UNPINNED,
    base_image.NOT_ALLOWED,
    base_image.UNRESOLVED,
    base_image.FRONTEND_NOT_ALLOWED,
    runtime.NO_USER,
    runtime.NON_NUMERIC_USER,
    triggers.ONBUILD,
    end_of_life.END_OF_LIFE,
    runtime.NO_INIT,
    runtime.SUPERVISOR,
    secrets.PROXY_IN_ENV,
    secrets.CREDENTIAL_IN_ENV,
    secrets.SECRET_BUILD_ARG,
    downloads.SILENT_FAILURE,
    downloads.UNVERIFIED,
    downloads.REMOTE_ADD,
    downloads.ARCH_SPECIFIC,
    scripts.CHAINED,
    scripts.NO_ERREXIT,
    arg_scope.UNDECLARED_ARG,
    packages.RECOMMENDS,
    packages.LISTS_LEFT,
    packages.UPGRADE,
    context.CONTEXT_BEFORE_MANIFESTS,
    context.NO_DOCKERIGNORE,
    toolchain.COMPILERS_SHIPPED,
)


def check(dockerfile: Dockerfile, policy: Policy, rules: tuple[Rule, ...] = CATALOGUE) -> list[Finding]:
    """Every finding of `rules` on one parsed Dockerfile."""
    return [finding for rule in rules for finding in rule.run(dockerfile, policy)]
