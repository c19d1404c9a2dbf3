"""A typed `docker buildx build` command line, built from a list where None means "omit".

Only argv is produced here (no process is started), so every flag the factory
passes is unit-testable; secrets and proxy values never appear in argv: build
args without a value are taken by buildx from the environment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from factory import proxies


@dataclass(frozen=True)
class BuildRequest:
    """Everything one buildx invocation needs."""

    context: Path
    dockerfile: Path
    platforms: tuple[str, ...]
    image: str  # name:tag to push
    build_args: Mapping[str, str] = field(default_factory=dict)
    env_build_args: tuple[str, ...] = ()  # names whose values buildx reads from the environment
    secrets: Mapping[str, Path] = field(default_factory=dict)  # id -> file
    cache_ref: str | None = None
    compression: str = "gzip"
    sbom: bool = False
    provenance: bool = False
    network: str | None = None
    builder: str | None = None  # a buildx builder instance (kubernetes, remote drivers)
    docker_context: str | None = None  # a docker context: the docker driver builds on its engine
    metadata_file: Path | None = None
    push: bool = True
    no_cache: bool = False  # rebuild every step; cache is still exported for later runs
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)  # OCI annotations on the index and manifests


def argv(request: BuildRequest, docker: str = "docker") -> list[str]:
    """The full `docker buildx build ...` argv for `request`."""
    output = ["type=image", f"name={request.image}", f"push={'true' if request.push else 'false'}"]
    if request.compression == "uncompressed":
        output.append("compression=uncompressed")
    else:
        output += [f"compression={request.compression}", "force-compression=true"]
    output.append("oci-mediatypes=true")
    # Registries and updaters read these without a pull. BuildKit refuses index annotations on a
    # single-platform export ("not supported"): there the manifests carry them alone.
    levels = ("index", "manifest") if len(request.platforms) > 1 else ("manifest",)
    for name, value in sorted(request.annotations.items()):
        output += [_csv(f"annotation-{level}.{name}={value}") for level in levels]
    parts: list[str | None] = [
        docker,
        *_opt("--context", request.docker_context),
        "buildx",
        "build",
        *_opt("--builder", request.builder),
        "--platform",
        ",".join(request.platforms),
        "--file",
        str(request.dockerfile),
        "--progress",
        "plain",
        f"--provenance={'mode=min' if request.provenance else 'false'}",
        f"--sbom={'true' if request.sbom else 'false'}",
        "--output",
        ",".join(output),
        *_opt("--metadata-file", str(request.metadata_file) if request.metadata_file else None),
        *_opt("--network", request.network),
        "--no-cache" if request.no_cache else None,
    ]
    for name, value in sorted(request.build_args.items()):
        parts += ["--build-arg", f"{name}={value}"]
    for name in request.env_build_args:
        parts += ["--build-arg", name]
    for secret_id, path in sorted(request.secrets.items()):
        parts += ["--secret", f"id={secret_id},src={path}"]
    for name, value in sorted(request.labels.items()):
        parts += ["--label", f"{name}={value}"]
    if request.cache_ref:
        if not request.no_cache:
            parts += ["--cache-from", f"type=registry,ref={request.cache_ref}"]
        parts += ["--cache-to", f"type=registry,ref={request.cache_ref},mode=max,oci-mediatypes=true,ignore-error=true"]
    parts.append(str(request.context))
    return [p for p in parts if p is not None]


def imagetools_create(
    target: str, sources: Sequence[str], docker: str = "docker", builder: str | None = None
) -> list[str]:
    """argv merging per-platform images into one index (the manifest-merge step)."""
    parts = [docker, "buildx", "imagetools", "create", *_opt("--builder", builder), "--tag", target, *sources]
    return [p for p in parts if p is not None]


def proxy_args(environ: Mapping[str, str]) -> tuple[str, ...]:
    """Names of the proxy build args set in `environ` (passed by name, never by value)."""
    return proxies.build_args_set(environ)


def _csv(field: str) -> str:
    """One field of buildx's comma-separated --output value, quoted when it holds a comma or a quote."""
    return f'"{field.replace(chr(34), chr(34) * 2)}"' if any(c in field for c in ',"') else field


def _opt(flag: str, value: str | None) -> list[str | None]:
    return [flag, value] if value is not None else []
