"""Site configuration (factory.yaml): where images go and how they are built.

Every key has a default, so a fresh clone with no factory.yaml uses the
embedded defaults: a local registry on 127.0.0.1:5000, the local engine for
every platform, gzip layers, registry build cache on.
"""

from __future__ import annotations

import dataclasses
import enum
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from factory.errors import DefinitionError
from factory.schema import MAX_CONCURRENCY, validate
from factory.yamlmarks import load_file

SITE_FILE = "factory.yaml"


@dataclass(frozen=True)
class Registry:
    """Where images are pushed: staging first, final tags only after promotion."""

    address: str = "127.0.0.1:5000"
    namespace: str = "factory"
    staging_namespace: str = "factory-staging"

    def repository(self, image: str, *, staging: bool = False) -> str:
        """`address/namespace/image`, e.g. 127.0.0.1:5000/factory/python."""
        return f"{self.address}/{self.staging_namespace if staging else self.namespace}/{image}"


class Driver(enum.StrEnum):
    """How buildx reaches a native node."""

    DOCKER = "docker"  # a dockerd, as a docker context
    KUBERNETES = "kubernetes"  # BuildKit pods in a namespace
    REMOTE = "remote"  # a bare buildkitd over TCP


@dataclass(frozen=True)
class Builder:
    """The engine that builds one platform (native node) instead of the local one."""

    platform: str
    endpoint: str
    driver: Driver = Driver.DOCKER
    tls: Mapping[str, str] = field(default_factory=dict)
    network: str | None = None  # None: build.network; "host" for a node whose bridge has no NAT

    def __post_init__(self) -> None:
        object.__setattr__(self, "driver", Driver(self.driver))  # "docker" given as text is Driver.DOCKER


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, not the machine's count), at most MAX_CONCURRENCY."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_CONCURRENCY))


@dataclass(frozen=True)
class BuildSettings:
    """How `factory build` drives buildx."""

    compression: str = "gzip"
    cache: bool = True
    sbom: bool = False
    provenance: bool = False
    # Independent targets built at once: by default one per usable core (the
    # emulated arm64 half of a build keeps one core busy on its own).
    concurrency: int = field(default_factory=lambda: usable_cores())
    ca_bundle: str | None = "auto"  # auto: the host's trust store; none: no secret; or a file
    network: str = "default"
    syntax: str | None = None


@dataclass(frozen=True)
class ScanSettings:
    """The security gate's policy (factory.yaml `scan:`); trivy reports everything, this decides."""

    fail_on: str = "HIGH"  # a fixable finding at or above this severity fails the gate
    unfixed_fail_on: str | None = None  # an unfixed one fails at or above this (None: never)
    unfixed_warn_on: str | None = "CRITICAL"  # ... and is a warning at or above this
    db_repository: str | None = None  # the vulnerability DB as an OCI artifact (a mirror of trivy's)
    db_cache: str | None = None  # a directory already holding db/trivy.db (offline): used as it is
    db_max_age_days: int = 7  # an older DB is a warning, never a silent pass
    # trivy's Java index (identifies jar files) as an OCI artifact; offline without it, jar files are skipped
    java_db_repository: str | None = None
    exceptions: str = "security/exceptions.yaml"


@dataclass(frozen=True)
class PublishSettings:
    """Where the final tags live (factory.yaml `publish:`) and the key that signs them."""

    registry: str = "127.0.0.1:5000"
    namespace: str = "base"
    signing_key: str = "~/.config/factory/cosign.key"  # the public key is beside it, .pub
    # An SBOM larger than this goes as an OCI referrer and its attestation names it by digest: a DSSE
    # envelope holds the whole document base64-encoded, and registries cap manifest and blob sizes.
    large_sbom_bytes: int = 8 * 1024 * 1024

    def repository(self, image: str) -> str:
        return f"{self.registry}/{self.namespace}/{image}"

    @property
    def key_path(self) -> Path:
        return Path(self.signing_key).expanduser()


@dataclass(frozen=True)
class OSSource:
    """Overrides for where the OS base packages come from."""

    mirror: str | None = None  # None: stacks/os.yaml's mirror, else the machine's own apt sources
    security_mirror: str | None = None
    snapshot: str | None = None  # overrides stacks/os.yaml's snapshot
    # A snapshot archive URL with `{snapshot}` where the timestamp goes (a snapshot
    # service or an internal mirror of one); required when a snapshot is set.
    snapshot_archive: str | None = None
    snapshot_security_archive: str | None = None


@dataclass(frozen=True)
class Site:
    """The whole site configuration with defaults filled in."""

    registry: Registry = field(default_factory=Registry)
    platforms: tuple[str, ...] | None = None  # None: every platform a target declares
    builders: tuple[Builder, ...] = ()
    build: BuildSettings = field(default_factory=BuildSettings)
    scan: ScanSettings = field(default_factory=ScanSettings)
    publish: PublishSettings = field(default_factory=PublishSettings)
    os: OSSource = field(default_factory=OSSource)
    state_dir: Path = Path(".factory")
    cache_dir: Path = Path.home() / ".cache" / "factory"
    pins_allowed: tuple[str, ...] = ()  # repositories (globs) pins may name besides the factory's own

    def builder_for(self, platform: str) -> Builder | None:
        """The native node configured for `platform`, or None for the local engine."""
        return next((b for b in self.builders if b.platform == platform), None)


def load(root: Path) -> Site:
    """Read root/factory.yaml if present; raise DefinitionError on any problem."""
    path = root / SITE_FILE
    if not path.exists():
        return _resolve(root, Site())
    marked = load_file(path, SITE_FILE)
    problems = validate(marked, "site")
    if problems:
        raise DefinitionError(problems)
    return _resolve(root, from_data(marked.data))


def from_data(data: Mapping[str, Any]) -> Site:
    """Build a Site from validated data; absent keys take the defaults."""
    builders = tuple(
        Builder(
            platform,
            spec["endpoint"],
            Driver(spec.get("driver", "docker")),
            dict(spec.get("tls", {})),
            spec.get("network"),
        )
        for platform, spec in (data.get("builders") or {}).items()
    )
    defaults = Site()
    return Site(
        registry=Registry(**data.get("registry", {})),
        platforms=tuple(data["platforms"]) if data.get("platforms") else None,
        builders=builders,
        build=BuildSettings(**data.get("build", {})),
        scan=_scan(data.get("scan") or {}),
        publish=PublishSettings(**(data.get("publish") or {})),
        os=OSSource(**data.get("os", {})),
        state_dir=Path(data.get("state_dir", defaults.state_dir)),
        pins_allowed=tuple((data.get("pins") or {}).get("allow", ())),
        cache_dir=Path(data["cache_dir"]).expanduser() if "cache_dir" in data else defaults.cache_dir,
    )


def _scan(data: Mapping[str, Any]) -> ScanSettings:
    unfixed = data.get("unfixed") or {}
    db = data.get("db") or {}
    defaults = ScanSettings()
    return ScanSettings(
        fail_on=data.get("fail_on", defaults.fail_on),
        unfixed_fail_on=unfixed.get("fail_on", defaults.unfixed_fail_on),
        unfixed_warn_on=unfixed.get("warn_on", defaults.unfixed_warn_on),
        db_repository=db.get("repository", defaults.db_repository),
        db_cache=db.get("cache_dir", defaults.db_cache),
        db_max_age_days=db.get("max_age_days", defaults.db_max_age_days),
        java_db_repository=(data.get("java_db") or {}).get("repository", defaults.java_db_repository),
        exceptions=data.get("exceptions", defaults.exceptions),
    )


def _resolve(root: Path, site: Site) -> Site:
    """Relative paths in factory.yaml mean relative to the project, wherever the command runs."""

    def at_root(value: str) -> str:
        path = Path(value).expanduser()
        return str(path if path.is_absolute() else root / path)

    build = site.build
    if build.ca_bundle not in (None, "auto", "none"):
        build = dataclasses.replace(build, ca_bundle=at_root(build.ca_bundle))
    builders = tuple(dataclasses.replace(b, tls={k: at_root(v) for k, v in b.tls.items()}) for b in site.builders)
    scan = site.scan
    if scan.db_cache is not None:
        scan = dataclasses.replace(scan, db_cache=at_root(scan.db_cache))
    publish = site.publish
    if not Path(publish.signing_key).expanduser().is_absolute():
        publish = dataclasses.replace(publish, signing_key=at_root(publish.signing_key))
    return dataclasses.replace(
        site,
        publish=publish,
        builders=builders,
        build=build,
        scan=scan,
        state_dir=Path(at_root(str(site.state_dir))),
        cache_dir=Path(at_root(str(site.cache_dir))),
    )
