"""The `download` install method, proven on the real engine.

A test stack fetches an artifact from an HTTP server this test runs on
127.0.0.1 (the build uses the host network to reach it). With the right
sha256 the build succeeds and the file is in the image; with a wrong one the
build must fail at `sha256sum -c`, and nothing is pushed under its name.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import subprocess
import tarfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from factory import record
from factory.cli import main
from factory.docker import Docker
from tests.conftest import REPO

pytestmark = pytest.mark.engine

TOOL = b'#!/bin/sh\necho factory-download-ok "$@"\n'


def _bundle() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = b"bundle-content\n"
        info = tarfile.TarInfo("bundle-1.0/share/readme.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def artifact_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    served = tmp_path / "served"
    served.mkdir()
    (served / "tool-amd64").write_bytes(TOOL)
    (served / "bundle-amd64.tar.gz").write_bytes(_bundle())
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", served
    finally:
        server.shutdown()
        server.server_close()


def _stack(base_url: str, tool_sha: str, bundle_sha: str) -> str:
    return f"""description: download method test
variants:
  runtime:
    install:
      - method: download
        name: tool
        url: {{amd64: "{base_url}/tool-amd64"}}
        sha256: {{amd64: "{tool_sha}"}}
        dest: /usr/local/bin/tool
      - method: download
        name: bundle
        url: {{amd64: "{base_url}/bundle-amd64.tar.gz"}}
        sha256: {{amd64: "{bundle_sha}"}}
        dest: /opt/bundle
        archive: true
        strip_components: 1
    verify: [tool --version]
versions:
  - version: "1.0"
    tags: ["1.0"]
    platforms: [linux/amd64]
"""


def _project(make_project: Callable[..., Path], base_url: str, tool_sha: str, bundle_sha: str) -> Path:
    root = make_project(
        files={
            # the real OS definition: its cached rootfs is shared with the catalogue's builds
            "stacks/os.yaml": (REPO / "stacks" / "os.yaml").read_text(),
            "stacks/tool.yaml": _stack(base_url, tool_sha, bundle_sha),
            "factory.yaml": "build: {network: host}\n"
            "registry: {namespace: factory-test, staging_namespace: factory-test-staging}\n",
        }
    )
    runner = CliRunner()
    assert runner.invoke(main, ["--root", str(root), "render"]).exit_code == 0
    return root


def test_download_verified_and_installed(make_project: Callable[..., Path], artifact_server: tuple[str, Path]) -> None:
    base_url, served = artifact_server
    sha = lambda name: hashlib.sha256((served / name).read_bytes()).hexdigest()  # noqa: E731
    root = _project(make_project, base_url, sha("tool-amd64"), sha("bundle-amd64.tar.gz"))
    result = CliRunner().invoke(main, ["--root", str(root), "build", "tool", "--platform", "linux/amd64"])
    assert result.exit_code == 0, result.output
    built = record.read(root / ".factory" / "builds" / "latest.json").result("tool:1.0-runtime")
    assert built.status == "built" and built.base_pin
    docker = Docker.discover()
    out = subprocess.run(
        [
            docker.binary,
            "run",
            "--rm",
            "--platform",
            "linux/amd64",
            built.base_pin,
            "sh",
            "-c",
            "tool --version; cat /opt/bundle/share/readme.txt; command -v curl || echo no-curl",
        ],
        env=dict(docker.env),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.splitlines() == ["factory-download-ok --version", "bundle-content", "no-curl"]


def test_checksum_mismatch_fails_the_build(
    make_project: Callable[..., Path], artifact_server: tuple[str, Path]
) -> None:
    base_url, served = artifact_server
    good = hashlib.sha256((served / "bundle-amd64.tar.gz").read_bytes()).hexdigest()
    root = _project(make_project, base_url, "0" * 64, good)
    result = CliRunner().invoke(main, ["--root", str(root), "build", "tool", "--platform", "linux/amd64"])
    assert result.exit_code == 7, result.output
    failed = record.read(root / ".factory" / "builds" / "latest.json").result("tool:1.0-runtime")
    assert failed.status == "failed"
    assert failed.digest is None
    log = Path(failed.log or "").read_text()
    assert "sha256sum -c /tmp/tool.sha256" in log
    assert "FAILED" in log  # sha256sum's own verdict on the file
