"""The validated catalogue as frozen dataclasses: the only thing later stages see.

Nothing here knows about YAML, files or lines; `catalogue` builds these objects
after validation, so every value is already known to be safe to render.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

# A digest made of zeros marks "no digest known yet": syntactically valid, so the
# Dockerfile parses, and on the reserved .invalid domain, so a pull fails clearly.
PLACEHOLDER_REGISTRY = "factory.invalid"
PLACEHOLDER_DIGEST = "sha256:" + "0" * 64


def frozen_map(values: Mapping[str, str] | None = None) -> Mapping[str, str]:
    """A read-only copy of a str->str mapping, key order kept."""
    return MappingProxyType(dict(values or {}))


@dataclass(frozen=True)
class User:
    """The non-root account every image runs as (numeric, with its own group)."""

    name: str
    uid: int
    group: str
    gid: int
    home: str

    @property
    def spec(self) -> str:
        """`uid:gid`, the form Kubernetes runAsNonRoot can verify."""
        return f"{self.uid}:{self.gid}"


@dataclass(frozen=True)
class OSBase:
    """The unified OS every image starts from."""

    name: str
    release: str
    version: str
    image: str
    tags: tuple[str, ...]
    snapshot: str | None
    mirror: str | None
    description: str
    packages: tuple[str, ...]
    path_excludes: tuple[str, ...]
    path_includes: tuple[str, ...]
    timezone: str
    user: User
    platforms: tuple[str, ...]
    env: Mapping[str, str]
    labels: Mapping[str, str]
    cmd: tuple[str, ...]
    source: str

    @property
    def id(self) -> str:
        """Target id of the OS base image, e.g. `os:trixie`."""
        return f"{self.image}:{self.release}"


@dataclass(frozen=True)
class OsPackages:
    """Install packages from the OS's own repositories."""

    packages: tuple[str, ...]

    @property
    def all_pinned(self) -> bool:
        """True when every package carries an exact `=version`."""
        return all("=" in p for p in self.packages)


@dataclass(frozen=True)
class Download:
    """Fetch a file per architecture, verify its sha256, install it."""

    name: str
    urls: Mapping[str, str]  # TARGETARCH -> URL
    sha256: Mapping[str, str]  # TARGETARCH -> hex digest
    dest: str
    archive: bool = False
    strip_components: int = 0
    mode: str = "0755"


@dataclass(frozen=True)
class CopyFrom:
    """Copy a path out of another image pinned by digest (COPY --from)."""

    image: str
    src: str
    dest: str


InstallStep = OsPackages | Download | CopyFrom


@dataclass(frozen=True)
class BaseRef:
    """What a target's final stage starts FROM: the OS, scratch or another target."""

    kind: str  # "os" | "scratch" | "target"
    target_id: str | None = None  # the image built first: the OS base for "os" and "scratch"


@dataclass(frozen=True)
class Target:
    """One image to build: a stack at a version in a variant, for some platforms."""

    stack: str
    version: str | None  # None for an unversioned variant (e.g. go:static)
    variant: str
    image: str
    tags: tuple[str, ...]
    platforms: tuple[str, ...]
    base: BaseRef
    template: str
    description: str
    install: tuple[InstallStep, ...]
    run: str
    env: Mapping[str, str]
    labels: Mapping[str, str]
    verify: tuple[str | tuple[str, ...], ...]
    cmd: tuple[str, ...]
    sources: tuple[str, ...] = field(default=())

    @property
    def id(self) -> str:
        """Stable identity, e.g. `python:3.13-runtime` or `go:static`."""
        return f"{self.image}:{self.version}-{self.variant}" if self.version else f"{self.image}:{self.variant}"

    @property
    def dockerfile(self) -> str:
        """Path of the rendered Dockerfile relative to rendered/."""
        parts = [self.stack, self.version, self.variant] if self.version else [self.stack, self.variant]
        return "/".join([*parts, "Dockerfile"])

    @property
    def references(self) -> tuple[str, ...]:
        """`image:tag` for every tag this target publishes."""
        return tuple(f"{self.image}:{tag}" for tag in self.tags)

    @property
    def downloads(self) -> tuple[Download, ...]:
        return tuple(s for s in self.install if isinstance(s, Download))

    @property
    def packages(self) -> tuple[str, ...]:
        return tuple(p for s in self.install if isinstance(s, OsPackages) for p in s.packages)


@dataclass(frozen=True)
class Pin:
    """A digest recorded for a target id (pins/images.yaml)."""

    reference: str
    digest: str

    @property
    def pinned(self) -> str:
        return f"{self.reference}@{self.digest}"


@dataclass(frozen=True)
class Catalogue:
    """The whole validated input: OS base, targets in dependency order, pins."""

    os: OSBase
    targets: tuple[Target, ...]
    pins: Mapping[str, Pin]

    def target(self, target_id: str) -> Target:
        for target in self.targets:
            if target.id == target_id:
                return target
        raise KeyError(target_id)

    def pinned_reference(self, target_id: str, image: str, tag: str) -> str:
        """`ref@digest` from the pins, or the documented placeholder."""
        pin = self.pins.get(target_id)
        if pin is not None:
            return pin.pinned
        return f"{PLACEHOLDER_REGISTRY}/{image}:{tag}@{PLACEHOLDER_DIGEST}"
