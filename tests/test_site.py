from __future__ import annotations

from pathlib import Path

import pytest

from factory import site
from factory.errors import DefinitionError


def test_defaults_without_a_file(tmp_path: Path) -> None:
    s = site.load(tmp_path)
    assert s.registry.repository("python") == "127.0.0.1:5000/factory/python"
    assert s.registry.repository("python", staging=True) == "127.0.0.1:5000/factory-staging/python"
    assert s.builders == () and s.builder_for("linux/arm64") is None
    assert s.build.compression == "gzip" and s.build.cache
    assert s.state_dir == tmp_path / ".factory"


def test_builder_nodes(tmp_path: Path) -> None:
    (tmp_path / "factory.yaml").write_text(
        "builders:\n"
        "  linux/arm64: {endpoint: 'ssh://builder@arm64-node.example.invalid'}\n"
        "  linux/amd64: {endpoint: 'tcp://127.0.0.1:2376', tls: {ca: ca.pem, cert: cert.pem, key: key.pem}}\n"
        "build: {compression: zstd, concurrency: 2}\n"
    )
    s = site.load(tmp_path)
    arm = s.builder_for("linux/arm64")
    assert arm is not None and arm.endpoint == "ssh://builder@arm64-node.example.invalid"
    amd = s.builder_for("linux/amd64")
    assert amd is not None and amd.tls["ca"] == str(tmp_path / "ca.pem")  # relative to the project
    assert s.build.compression == "zstd" and s.build.concurrency == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("registy: {}\n", "factory.yaml:1: registy: unknown field; did you mean 'registry'?"),
        (
            "build: {compression: lz4}\n",
            "factory.yaml:1: build.compression: expected one of gzip, zstd, uncompressed; got 'lz4'",
        ),
        ("builders: {linux/sparc: {endpoint: 'unix:///x'}}\n", "factory.yaml:1: builders.linux/sparc: expected one of"),
        (
            "builders: {linux/arm64: {endpoint: 'http://x'}}\n",
            "factory.yaml:1: builders.linux/arm64.endpoint: expected an engine endpoint",
        ),
    ],
)
def test_invalid_site_file(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "factory.yaml").write_text(text)
    with pytest.raises(DefinitionError) as info:
        site.load(tmp_path)
    assert str(info.value).startswith(message)
