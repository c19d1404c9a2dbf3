"""HTTPS downloads inside builds behind a private CA, with the CA kept out of the image.

This machine's own situation: HTTPS from containers meets a certificate the
image does not trust. Here a server on 127.0.0.1 presents a certificate from
a CA made by the test; the build verifies it only when factory.yaml gives that
CA as `build.ca_bundle` (a BuildKit secret), and the CA is in no layer.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import ssl
import subprocess
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
TOOL = b"#!/bin/sh\necho tls-download-ok\n"


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    pki = tmp_path / "pki"
    pki.mkdir()
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=factory test CA",
        "-keyout",
        str(pki / "ca.key"),
        "-out",
        str(pki / "ca.pem"),
    )
    _openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        str(pki / "server.key"),
        "-out",
        str(pki / "server.csr"),
    )
    (pki / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl(
        "x509",
        "-req",
        "-in",
        str(pki / "server.csr"),
        "-CA",
        str(pki / "ca.pem"),
        "-CAkey",
        str(pki / "ca.key"),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        str(pki / "ext.cnf"),
        "-out",
        str(pki / "server.pem"),
    )
    served = tmp_path / "served"
    served.mkdir()
    (served / "tool-amd64").write_bytes(TOOL)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / "server.pem", pki / "server.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", pki / "ca.pem"
    finally:
        server.shutdown()
        server.server_close()


def _project(make_project: Callable[..., Path], url: str, ca_setting: str) -> Path:
    sha = hashlib.sha256(TOOL).hexdigest()
    stack = f"""description: https download behind a private CA
variants:
  runtime:
    install:
      - method: download
        name: tool
        url: {{amd64: "{url}/tool-amd64"}}
        sha256: {{amd64: "{sha}"}}
        dest: /usr/local/bin/tool
versions:
  - version: "1.0"
    tags: ["1.0"]
    platforms: [linux/amd64]
"""
    root = make_project(files={
        "stacks/os.yaml": (REPO / "stacks" / "os.yaml").read_text(),
        "stacks/tool.yaml": stack,
        "factory.yaml": f"build: {{network: host, ca_bundle: '{ca_setting}'}}\n"
                        "registry: {namespace: factory-test, staging_namespace: factory-test-staging}\n",
    })  # fmt: skip
    assert CliRunner().invoke(main, ["--root", str(root), "render", "--no-lint"]).exit_code == 0
    return root


def test_private_ca_given_as_secret(make_project: Callable[..., Path], https_server: tuple[str, Path]) -> None:
    url, ca = https_server
    root = _project(make_project, url, str(ca))
    result = CliRunner().invoke(main, ["--root", str(root), "build", "tool", "--platform", "linux/amd64"])
    assert result.exit_code == 0, result.output
    built = record.read(root / ".factory" / "builds" / "latest.json").result("tool:1.0-runtime")
    docker = Docker.discover()
    marker = ca.read_text().splitlines()[1]  # a line of the CA's base64 body
    script = (
        "tool; ls /run/secrets 2>/dev/null || echo no-secrets; "
        f"grep -rlF '{marker}' /etc /usr/local /home || echo ca-absent"
    )
    out = subprocess.run(
        [docker.binary, "run", "--rm", "--platform", "linux/amd64", built.base_pin or "", "sh", "-c", script],
        env=dict(docker.env),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.splitlines() == ["tls-download-ok", "no-secrets", "ca-absent"]


def test_without_the_ca_the_download_fails(make_project: Callable[..., Path], https_server: tuple[str, Path]) -> None:
    url, _ = https_server
    root = _project(make_project, url, "none")
    result = CliRunner().invoke(main, ["--root", str(root), "build", "tool", "--platform", "linux/amd64", "--no-cache"])
    assert result.exit_code == 7, result.output
    failed = record.read(root / ".factory" / "builds" / "latest.json").result("tool:1.0-runtime")
    assert "curl: (60)" in Path(failed.log or "").read_text()  # certificate verification failed
