"""What the lint enforces beyond fixed practice: which base images and syntax frontends, pinned how.

Defaults come from the catalogue itself (the unified OS and every image the
factory publishes, under the placeholder registry and under their pins), so
`factory lint` on rendered/ needs no configuration; a project file or the
command line can widen or narrow them.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from factory import lifecycle, model
from factory.references import ImageRef
from factory.references import parse as parse_reference
from factory.render import FACTORY_LABELS

# The frontends a `# syntax=` directive may name by default: Docker's own Dockerfile frontend.
DEFAULT_FRONTENDS = ("docker/dockerfile", "docker.io/docker/dockerfile")


def _default_build_labels() -> Mapping[str, frozenset[str]]:
    return MappingProxyType({f"{FACTORY_LABELS}.variant": frozenset({"build"})})


# A rendered Dockerfile names its target by these labels: (stack, version or '', variant).
TargetKey = tuple[str, str, str]
TARGET_LABELS = tuple(f"{FACTORY_LABELS}.{name}" for name in ("stack", "version", "variant"))


def target_key(target: model.Target) -> TargetKey:
    """The key a target's rendered Dockerfile carries in its TARGET_LABELS."""
    return (target.stack, target.version or "", target.variant)


@dataclass(frozen=True)
class Policy:
    """Settings the rules read; immutable, so one policy can serve every file of a run."""

    # fnmatch patterns over the repository (as written or normalised); empty: any base is allowed,
    # unless the policy is closed (a project whose catalogue is invalid: its images are unknown).
    allowed_images: tuple[str, ...] = ()
    closed: bool = False
    # A base image must carry a digest, not only a tag.
    require_digest: bool = True
    # LABEL key -> values that declare a toolchain image, which may ship compilers.
    build_labels: Mapping[str, frozenset[str]] = field(default_factory=_default_build_labels)
    # Where the allow-list came from, for messages ("the catalogue", "the project file").
    allowed_source: str = "the allow-list"
    # The catalogue's own images: they already run as the non-root user with tini, so a
    # Dockerfile FROM one of them needs no USER/ENTRYPOINT of its own. Extra allowed
    # images (--allow-image) are merely permitted bases and promise nothing.
    contract_images: tuple[str, ...] = ()
    # fnmatch patterns over the repository of a `# syntax=` frontend, which BuildKit runs to
    # read the file; empty: no frontend is allowed (unlike allowed_images, never "any").
    allowed_frontends: tuple[str, ...] = DEFAULT_FRONTENDS
    # The catalogue's targets that end soon or are past their end of life on the day of the
    # run, by the labels of their rendered Dockerfile (FB013); empty outside a project.
    lifecycles: Mapping[TargetKey, lifecycle.Lifecycle] = field(default_factory=lambda: MappingProxyType({}))

    def allows(self, ref: ImageRef) -> bool:
        """True when the repository matches a pattern of the allow-list, or there is none and the policy is open."""
        if not self.allowed_images:
            return not self.closed
        return _matches(ref, self.allowed_images)

    def allows_frontend(self, ref: ImageRef) -> bool:
        """True when the frontend's repository matches one of the allowed frontend patterns."""
        return _matches(ref, self.allowed_frontends)

    def brings_contract(self, ref: ImageRef) -> bool:
        """True when `ref` is a catalogue image (non-root USER and tini inherited)."""
        return bool(self.contract_images) and _matches(ref, self.contract_images)


def _matches(ref: ImageRef, patterns: tuple[str, ...]) -> bool:
    names = (ref.repository, ref.normalised)
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns for name in names)


def catalogue_images(catalogue: model.Catalogue) -> tuple[str, ...]:
    """Repositories of every image the catalogue builds: placeholder names and pinned references."""
    images = {catalogue.os.image, *(t.image for t in catalogue.targets)}
    found = {f"{model.PLACEHOLDER_REGISTRY}/{image}" for image in images}
    found.update(parse_reference(pin.reference).repository for pin in catalogue.pins.values())
    return tuple(sorted(found))


def copied_images(catalogue: model.Catalogue) -> tuple[str, ...]:
    """Repositories the catalogue's copy-from steps pull (validated against the pins' allow-list)."""
    steps = (s for t in catalogue.targets for s in t.install if isinstance(s, model.CopyFrom))
    return tuple(sorted({parse_reference(step.image).repository for step in steps}))


def for_catalogue(
    catalogue: model.Catalogue,
    *,
    extra_allowed: tuple[str, ...] = (),
    extra_frontends: tuple[str, ...] = (),
    today: dt.date | None = None,
) -> Policy:
    """The default policy of a project: bases must be the unified OS or another catalogue image.

    `extra_frontends` are frontend references or repository patterns allowed beside Docker's
    own (factory.yaml's `build.syntax`, e.g. `docker/dockerfile:1.7@sha256:...`): the
    repository of each is allowed; FB002 still asks for the digest. The lifecycle of each
    target is judged on `today` (default: the real day).
    """
    own = catalogue_images(catalogue)
    day = today or lifecycle.today()
    judged = {target_key(t): lifecycle.state(t, day) for t in catalogue.targets}
    return Policy(
        allowed_images=(*own, *copied_images(catalogue), *extra_allowed),
        allowed_source=f"the catalogue ({catalogue.os.id} and its images)",
        contract_images=own,
        allowed_frontends=tuple(
            dict.fromkeys((*DEFAULT_FRONTENDS, *(parse_reference(f).repository for f in extra_frontends)))
        ),
        lifecycles=MappingProxyType({k: v for k, v in judged.items() if v.level is not lifecycle.Level.OK}),
    )
