"""What a build is given besides its context: build arguments, labels, its build key, the commit it is of.

Kept apart from running builds so that each can be checked on its own: the
build key (what decides an image) and the labels are pure functions of the
rendered files, the arguments and the parent; the helper platform depends
only on the machine and what the parent was built for.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import platform as platform_module
from collections.abc import Mapping, Sequence
from pathlib import Path

from factory import record as records
from factory import references
from factory.buildplan import Step
from factory.errors import FactoryError, UsageProblem
from factory.process import Runner

HELPER_ARG = "HELPER_PLATFORM"  # the platform the templates' helper stages (packages, fetch) run on
MACHINES = {"x86_64": "linux/amd64", "amd64": "linux/amd64", "aarch64": "linux/arm64", "arm64": "linux/arm64"}


def host_platform() -> str | None:
    """The platform of this machine, which is the local engine's build platform (None: not one we know)."""
    return MACHINES.get(platform_module.machine().lower())


def helper_platform(
    target_id: str, dockerfile: str, base_platforms: set[str] | None, platforms: list[str], host: str | None
) -> str | None:
    """The HELPER_PLATFORM build arg for a local build of `platforms`, or None to keep the default.

    The helper stages start FROM the base for the build platform; a base built
    without it (`--platform linux/arm64` on an amd64 machine) has no such image,
    so a single-platform build runs them on its target platform instead (emulated).
    """
    if f"ARG {HELPER_ARG}=" not in dockerfile or base_platforms is None or host in base_platforms:
        return None
    if len(platforms) == 1:
        return platforms[0]
    raise UsageProblem(
        f"{target_id}: its base has no image for the build platform {host or 'of this machine'}, which its"
        f" package and download stages run on: build {' and '.join(platforms)} one at a time (--platform),"
        " or include the build platform"
    )


# Build arguments that name when and from which commit, not what: left out of the build key.
_UNKEYED_ARGS = frozenset({"VCS_REF", "BUILD_DATE"})
BUILD_KEY_LABEL = "io.factory.build-key"
BASE_ARG = "BASE_IMAGE"  # the parent, repository@digest


def build_key(directory: Path, build_args: Mapping[str, str], platforms: Sequence[str]) -> str:
    """A digest over what decides the image: the rendered files (Dockerfile and what it copies), the
    build arguments that shape it (the parent's digest among them) and the platforms.

    The parent counts by its digest alone: built FROM its staging repository in one run and FROM its
    final repository when the plan rebuilds a child alone, the same image gives the same key."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(f"file {path.relative_to(directory)}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    for name, value in sorted(build_args.items()):
        if name == BASE_ARG:
            value = value.rpartition("@")[2]
        if name not in _UNKEYED_ARGS:
            digest.update(f"arg {name}={value}\0".encode())
    digest.update(f"platforms {','.join(sorted(platforms))}\0".encode())
    return "sha256:" + digest.hexdigest()


def image_labels(
    step: Step, result: records.TargetResult, base: records.TargetResult | None, environ: Mapping[str, str]
) -> dict[str, str]:
    """The labels set at build time: version, the real parent (name and digest), source and build key."""
    labels = {
        "org.opencontainers.image.version": step.target.version or step.tag,
        BUILD_KEY_LABEL: result.build_key or "",
    }
    if base is not None and base.base_pin is not None:
        pinned = references.parse(base.base_pin)
        labels["org.opencontainers.image.base.name"] = pinned.repository
        labels["org.opencontainers.image.base.digest"] = pinned.digest or ""
    source = environ.get("FACTORY_SOURCE_URL", "")
    if not source and environ.get("GITHUB_REPOSITORY"):  # a GitHub workflow
        source = f"{environ.get('GITHUB_SERVER_URL', 'https://github.com')}/{environ['GITHUB_REPOSITORY']}"
    if source and "@" not in source.partition("://")[2].split("/")[0]:  # never a URL carrying credentials
        labels["org.opencontainers.image.source"] = source
    return labels


def image_annotations(labels: Mapping[str, str], build_args: Mapping[str, str]) -> dict[str, str]:
    """The OCI annotations of an image's index and manifests: what its labels say of its making (version,
    parent, build key, source), with when and from which commit, so tools read them without the config."""
    annotations = {name: value for name, value in labels.items() if value}
    if build_args.get("BUILD_DATE"):
        annotations["org.opencontainers.image.created"] = build_args["BUILD_DATE"]
    if build_args.get("VCS_REF"):
        annotations["org.opencontainers.image.revision"] = build_args["VCS_REF"]
    return annotations


def vcs_info(root: Path) -> tuple[str, int]:
    """(HEAD commit, its commit time) — stable inputs for labels, so rebuilds stay reproducible."""
    epoch_env = os.environ.get("SOURCE_DATE_EPOCH")
    try:
        out = Runner().run(["git", "-C", str(root), "log", "-1", "--format=%H %ct"], timeout=30).stdout.split()
        ref, epoch = out[0], int(out[1])
    except (FactoryError, IndexError, ValueError):
        ref, epoch = "unknown", 0
    return ref, int(epoch_env) if epoch_env and epoch_env.isdigit() else epoch


def ref_arg(environ: Mapping[str, str], name: str, default: str) -> str:
    """A build argument's value: FACTORY_<name> when set (CI names the commit it builds), else `default`."""
    return environ.get(f"FACTORY_{name}", default)


def build_date(epoch: int) -> str:
    """BUILD_DATE from the commit time (not the clock), so a rebuild of one commit gets the same labels."""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
