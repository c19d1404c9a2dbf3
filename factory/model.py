"""The validated catalogue as frozen dataclasses: the only thing later stages see.

Nothing here knows about YAML, files or lines; `catalogue` builds these objects
after validation, so every value is already known to be safe to render.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

# A digest made of zeros marks "no digest known yet": syntactically valid, so the
# Dockerfile parses, and on the reserved .invalid domain, so a pull fails clearly.
PLACEHOLDER_REGISTRY = "factory.invalid"
PLACEHOLDER_DIGEST = "sha256:" + "0" * 64
RUNTIME_VARIANT = "runtime"  # the variant whose tags carry no suffix

# Tags the factory derives from a definition's, each within the OCI limit of 128 characters:
# the staging tag `{version}-{variant}-{run id}` (and `-{platform}` when one platform is built
# apart) and publish's dated tag `{tag}-YYYYMMDD[.N]`. So the definition's parts are bounded.
MAX_TAG = 128
RUN_ID_FORMAT = "%Y%m%dT%H%M%SZ-"  # a build run's id: its UTC start, then 4 hex digits
RUN_ID_LENGTH = len("20261207T093508Z-4bd6")
PLATFORM_SUFFIX_LENGTH = len("-linux-riscv64")  # the longest platform as a tag's end (linux/ppc64le too)
DATED_SUFFIX_LENGTH = len("-20261207.999")  # a day's thousandth publication of one tag
MAX_STAGING_TAG = MAX_TAG - 1 - RUN_ID_LENGTH - PLATFORM_SUFFIX_LENGTH  # `{version}-{variant}`: 92
MAX_PUBLISHED_TAG = MAX_TAG - DATED_SUFFIX_LENGTH  # a tag as published, suffix included: 115


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


Origin = tuple[str, int | None, str]  # file, line and field path where a value is written


@dataclass(frozen=True)
class EolOverride:
    """Keeps a version past its end of life for a while: why, and until which day (reviewed at least every 90 days)."""

    reason: str
    expires: dt.date  # the last day it counts
    origin: Origin = ("", None, "")  # where `expires` is written


@dataclass(frozen=True)
class Support:
    """When upstream support of a version (or an OS release) ends, what replaces it, and an override.

    factory.lifecycle judges it against a date; nothing here knows today.
    """

    name: str  # the stack or the OS: `node`, `debian`
    version: str  # `20`, `13`
    eol: dt.date  # the day it reaches its end of life (no longer supported from that day)
    replaced_by: tuple[str, ...] = ()  # versions of the same stack (or OS release versions), as written
    override: EolOverride | None = None
    origin: Origin = ("", None, "")  # where `eol` is written

    @property
    def subject(self) -> str:
        """How messages name it: `node 20`, `debian 13`."""
        return f"{self.name} {self.version}"


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
    known_releases: tuple[str, ...] = ()  # every release os.yaml describes (versions may name only these)
    verify: tuple[str | tuple[str, ...], ...] = ()
    setuid_allowed: tuple[str, ...] = ()  # files that may keep a setuid/setgid bit (the bootstrap strips the rest)
    support: Support | None = None  # the end of life of `release`, when os.yaml declares one

    @property
    def id(self) -> str:
        """Target id of the OS base image, e.g. `os:trixie` (an unversioned variant named after the release)."""
        return target_id(self.image, None, self.release)


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


class BaseKind(enum.StrEnum):
    """What a target's final stage starts FROM."""

    ROOTFS = "rootfs"  # the OS base itself: FROM scratch + the bootstrapped root filesystem
    OS = "os"  # the OS base image
    SCRATCH = "scratch"  # an empty final stage; helper stages use the OS base
    TARGET = "target"  # another target of the catalogue (e.g. build FROM runtime)


@dataclass(frozen=True)
class BaseRef:
    """What a target's final stage starts FROM, and the target built before it (None for the OS)."""

    kind: BaseKind
    target_id: str | None = None  # the image built first: the OS base for OS and SCRATCH


def target_id(image: str, version: str | None, variant: str) -> str:
    """The one formula of a target id: `python:3.13-runtime`, or `go:static` without a version."""
    return f"{image}:{version}-{variant}" if version else f"{image}:{variant}"


def staging_tag(version: str | None, variant: str) -> str:
    """The stable part of a target's staging tag (the run id follows): `3.13-runtime`, `static`."""
    return f"{version}-{variant}" if version else variant


def published_tags(tags: tuple[str, ...], variant: str, versioned: bool, suffix: str | None) -> tuple[str, ...]:
    """A versioned variant's tags get its suffix (`-build`; none for runtime); others keep their own."""
    if not versioned:
        return tags
    end = suffix if suffix is not None else ("" if variant == RUNTIME_VARIANT else f"-{variant}")
    return tuple(f"{tag}{end}" for tag in tags)


@dataclass(frozen=True)
class Artifact:
    """A program verify makes in one image (under /artifact) and runs in others."""

    script: str
    run: tuple[str, ...]
    run_in: tuple[str, ...]  # target ids


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
    origin: tuple[str, int | None] = ("", None)  # file and line that define this target
    artifact: Artifact | None = None
    support: Support | None = None  # its version's end of life (the OS base: its release's), when declared

    @property
    def id(self) -> str:
        """Stable identity, e.g. `python:3.13-runtime`, `go:static` or `os:trixie`."""
        return target_id(self.image, self.version, self.variant)

    @property
    def is_os(self) -> bool:
        """True for the OS base, the one target built from a bootstrapped root filesystem."""
        return self.base.kind is BaseKind.ROOTFS

    @property
    def staging_tag(self) -> str:
        return staging_tag(self.version, self.variant)

    @property
    def directory(self) -> str:
        """Directory of the rendered files relative to rendered/: `python/3.13/runtime`, `os/trixie`."""
        parts = [self.stack, self.version, self.variant] if self.version else [self.stack, self.variant]
        return "/".join(parts)

    @property
    def dockerfile(self) -> str:
        """Path of the rendered Dockerfile relative to rendered/."""
        return f"{self.directory}/Dockerfile"

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
    """The whole validated input: OS facts, every target (the OS base first, parents before children), pins."""

    os: OSBase
    targets: tuple[Target, ...]
    pins: Mapping[str, Pin]

    def target(self, wanted: str) -> Target:
        for target in self.targets:
            if target.id == wanted:
                return target
        raise KeyError(wanted)

    @property
    def os_target(self) -> Target:
        return self.targets[0]

    @property
    def stacks(self) -> tuple[str, ...]:
        """Names of the stacks (the OS base is the stack `os`), in build order."""
        return tuple(dict.fromkeys(t.stack for t in self.targets))

    def parent(self, target: Target) -> Target | None:
        """The target `target` is built FROM (the OS base for OS and SCRATCH kinds), None for the OS."""
        return self.target(target.base.target_id) if target.base.target_id else None

    def pinned_reference(self, target: Target) -> str:
        """`ref@digest` of `target` from the pins, or the documented placeholder."""
        pin = self.pins.get(target.id)
        if pin is not None:
            return pin.pinned
        return f"{PLACEHOLDER_REGISTRY}/{target.image}:{target.tags[0]}@{PLACEHOLDER_DIGEST}"
