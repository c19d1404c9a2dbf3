from __future__ import annotations

import csv
from pathlib import Path

from factory import buildx


def test_argv_full() -> None:
    request = buildx.BuildRequest(
        context=Path("/ctx"),
        dockerfile=Path("/ctx/Dockerfile"),
        platforms=("linux/amd64", "linux/arm64"),
        image="127.0.0.1:5000/factory-staging/python:3.13-runtime-RUN",
        build_args={"BASE_IMAGE": "127.0.0.1:5000/factory-staging/os@sha256:" + "a" * 64, "VCS_REF": "abc"},
        env_build_args=("https_proxy",),
        secrets={"ca-bundle": Path("/etc/ssl/certs/ca-certificates.crt")},
        cache_ref="127.0.0.1:5000/factory-cache/python:3.13-runtime",
        compression="zstd",
        metadata_file=Path("/state/meta.json"),
        network="host",
    )
    assert buildx.argv(request) == [
        "docker", "buildx", "build",
        "--platform", "linux/amd64,linux/arm64",
        "--file", "/ctx/Dockerfile",
        "--progress", "plain",
        "--provenance=false",
        "--sbom=false",
        "--output",
        "type=image,name=127.0.0.1:5000/factory-staging/python:3.13-runtime-RUN,push=true,"
        "compression=zstd,force-compression=true,oci-mediatypes=true",
        "--metadata-file", "/state/meta.json",
        "--network", "host",
        "--build-arg", "BASE_IMAGE=127.0.0.1:5000/factory-staging/os@sha256:" + "a" * 64,
        "--build-arg", "VCS_REF=abc",
        "--build-arg", "https_proxy",
        "--secret", "id=ca-bundle,src=/etc/ssl/certs/ca-certificates.crt",
        "--cache-from", "type=registry,ref=127.0.0.1:5000/factory-cache/python:3.13-runtime",
        "--cache-to",
        "type=registry,ref=127.0.0.1:5000/factory-cache/python:3.13-runtime,mode=max,oci-mediatypes=true,ignore-error=true",
        "/ctx",
    ]  # fmt: skip


def test_argv_minimal_omits_unset_flags() -> None:
    request = buildx.BuildRequest(
        Path("c"),
        Path("c/Dockerfile"),
        ("linux/amd64",),
        "r:t",
        builder="factory-linux-arm64",
        provenance=True,
        sbom=True,
        compression="uncompressed",
    )
    args = buildx.argv(request, docker="/opt/docker")
    assert args[:5] == ["/opt/docker", "buildx", "build", "--builder", "factory-linux-arm64"]
    assert "--provenance=mode=min" in args and "--sbom=true" in args
    assert "type=image,name=r:t,push=true,compression=uncompressed,oci-mediatypes=true" in args
    assert not any(a.startswith("--cache") or a in ("--network", "--secret", "--metadata-file") for a in args)


def test_docker_context_for_a_docker_driver_node() -> None:
    request = buildx.BuildRequest(Path("c"), Path("c/Dockerfile"), ("linux/arm64",), "r:t", docker_context="n")
    assert buildx.argv(request)[:4] == ["docker", "--context", "n", "buildx"]


def test_proxies_pass_by_name_only() -> None:
    environ = {"https_proxy": "http://user:secret@127.0.0.1:3128", "NO_PROXY": "127.0.0.1", "http_proxy": ""}
    names = buildx.proxy_args(environ)
    assert names == ("https_proxy", "NO_PROXY")
    request = buildx.BuildRequest(Path("c"), Path("c/Dockerfile"), ("linux/amd64",), "r:t", env_build_args=names)
    assert not any("secret" in a for a in buildx.argv(request))


def test_imagetools_create() -> None:
    assert buildx.imagetools_create("r:t", ["r:t-linux-amd64", "r:t-linux-arm64"]) == [
        "docker", "buildx", "imagetools", "create", "--tag", "r:t", "r:t-linux-amd64", "r:t-linux-arm64",
    ]  # fmt: skip


def test_annotations_go_on_the_index_and_the_manifests_quoted_as_buildx_reads_csv(tmp_path: Path) -> None:
    from factory.buildinfo import image_annotations

    labels = {"org.opencontainers.image.version": "3.13", "org.opencontainers.image.source": "https://x/a,b"}
    annotations = image_annotations(labels, {"BUILD_DATE": "2026-12-01T00:00:00Z", "VCS_REF": "abc", "X": "y"})
    assert annotations == {
        **labels,
        "org.opencontainers.image.created": "2026-12-01T00:00:00Z",
        "org.opencontainers.image.revision": "abc",
    }
    both = ("linux/amd64", "linux/arm64")
    request = buildx.BuildRequest(tmp_path, tmp_path / "Dockerfile", both, "r/x:1", annotations=annotations)
    output = buildx.argv(request)[buildx.argv(request).index("--output") + 1]
    fields = next(csv.reader([output]))
    assert "annotation-index.org.opencontainers.image.version=3.13" in fields
    assert "annotation-manifest.org.opencontainers.image.revision=abc" in fields
    assert "annotation-manifest.org.opencontainers.image.source=https://x/a,b" in fields  # one field, quoted
    # one platform: BuildKit refuses index annotations there, the manifest carries them
    single = buildx.BuildRequest(tmp_path, tmp_path / "Dockerfile", both[:1], "r/x:1", annotations=annotations)
    fields = next(csv.reader([buildx.argv(single)[buildx.argv(single).index("--output") + 1]]))
    assert not any(f.startswith("annotation-index.") for f in fields)
    assert "annotation-manifest.org.opencontainers.image.version=3.13" in fields
