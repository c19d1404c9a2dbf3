"""Base images and syntax frontends: pinned, and from the unified OS or the allow-list.

FROM may name its image through a global ARG (`ARG BASE_IMAGE=ref@sha256:...`,
`FROM ${BASE_IMAGE}`): the ARG's default is what an unparameterised build uses,
so that is what is checked.

A `# syntax=` directive names a frontend image that BuildKit pulls and runs to
read the file, before any instruction: arbitrary code in the build. It must
be one the policy allows (Docker's own by default), and it is pinned like any
other image the build pulls (FB001, FB002).
"""

from __future__ import annotations

from collections.abc import Iterator

from factory.lint.model import Severity
from factory.lint.parse import Dockerfile, Stage, expand, variables
from factory.lint.policy import Policy
from factory.lint.rules.base import Hit, Rule
from factory.references import ImageRef
from factory.references import parse as parse_reference


def _external_bases(dockerfile: Dockerfile) -> Iterator[tuple[Stage, str | None]]:
    """Stages built FROM an image (not scratch, not an earlier stage), with the expanded reference."""
    for stage in dockerfile.stages:
        if stage.parent is None and not stage.is_scratch:
            yield stage, expand(stage.base, dockerfile.global_args)


def _refs(dockerfile: Dockerfile) -> Iterator[tuple[Stage, str, ImageRef]]:
    for stage, reference in _external_bases(dockerfile):
        if reference is not None and reference.lower() != "scratch":
            yield stage, reference, parse_reference(reference)


def _sources(dockerfile: Dockerfile) -> Iterator[tuple[int, str, ImageRef]]:
    """Every image the build pulls: syntax frontends, FROM bases, `COPY --from=<image>` (not a stage); triggers too."""
    for line, frontend in dockerfile.frontends:
        yield line, f"syntax frontend {frontend}", parse_reference(frontend)
    for stage, reference, ref in _refs(dockerfile):
        yield stage.from_line, _via(stage, reference), ref
    yield from _copied_from(dockerfile)


def _copied_from(dockerfile: Dockerfile) -> Iterator[tuple[int, str, ImageRef]]:
    """The images `COPY --from=<image>` (or ADD) pulls, not an earlier stage; triggers too."""
    stage_names = {s.name.lower() for s in dockerfile.stages if s.name}
    for instruction in dockerfile.instructions_and_triggers:  # `ONBUILD COPY --from=` pulls in every child
        source = instruction.flag("from") if instruction.keyword in ("COPY", "ADD") else None
        if source and source.lower() not in stage_names and not source.isdigit() and "$" not in source:
            yield instruction.start_line, f"{instruction.label} --from image {source}", parse_reference(source)


def _via(stage: Stage, reference: str) -> str:
    shown = reference if stage.base == reference else f"{reference} (from {stage.base})"
    return f"base image {shown}"


def _floating(dockerfile: Dockerfile, policy: Policy) -> Iterator[Hit]:
    for line, what, ref in _sources(dockerfile):
        if ref.digest is None and ref.tag is None:
            yield Hit(line, f"{what} has no tag: it floats to latest")
        elif ref.digest is None and ref.tag == "latest":
            yield Hit(line, f"{what} uses the floating tag latest")


def _unpinned(dockerfile: Dockerfile, policy: Policy) -> Iterator[Hit]:
    if not policy.require_digest:
        return
    for line, what, ref in _sources(dockerfile):
        if ref.tag not in (None, "latest") and not ref.pinned:
            yield Hit(line, f"{what} is not pinned by digest: use {ref.repository}:{ref.tag}@sha256:...")


def _not_allowed(dockerfile: Dockerfile, policy: Policy) -> Iterator[Hit]:
    pulled = [(stage.from_line, "base image", ref) for stage, _, ref in _refs(dockerfile)]
    pulled += [(line, what.rsplit(" ", 1)[0], ref) for line, what, ref in _copied_from(dockerfile)]
    for line, what, ref in pulled:
        if not policy.allows(ref):
            yield Hit(
                line, f"{what} {ref.repository} is not the unified OS or another image of {policy.allowed_source}"
            )


def _unresolved(dockerfile: Dockerfile, policy: Policy) -> Iterator[Hit]:
    for stage, reference in _external_bases(dockerfile):
        if reference is None:
            missing = [n for n in variables(stage.base) if dockerfile.global_args.get(n) is None]
            yield Hit(
                stage.from_line,
                f"base image {stage.base} cannot be checked: give ARG {', '.join(missing)} a default before FROM",
            )


def _frontend_not_allowed(dockerfile: Dockerfile, policy: Policy) -> Iterator[Hit]:
    allowed = ", ".join(policy.allowed_frontends) or "none"
    for line, frontend in dockerfile.frontends:
        if not policy.allows_frontend(parse_reference(frontend)):
            yield Hit(
                line,
                f"the syntax directive makes BuildKit run the frontend image {frontend} to read this file:"
                f" not an allowed frontend ({allowed})",
            )


FLOATING = Rule("FB001", Severity.ERROR, "images must not float (no tag, or latest)", _floating)
UNPINNED = Rule("FB002", Severity.WARNING, "images must be pinned by digest", _unpinned)
NOT_ALLOWED = Rule(
    "FB003", Severity.ERROR, "base and COPY --from images must be the unified OS or allowed images", _not_allowed
)
UNRESOLVED = Rule("FB004", Severity.INFO, "base image named by a build arg must have a default", _unresolved)
FRONTEND_NOT_ALLOWED = Rule(
    "FB005",
    Severity.ERROR,
    "a syntax directive must name an allowed frontend",
    _frontend_not_allowed,
    needs_parse=False,  # the frontend runs before any parse: a file BuildKit's parser rejects is no excuse
)
