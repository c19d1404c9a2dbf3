from __future__ import annotations

import ipaddress
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from factory.engine import bridge, probes
from factory.errors import EnvironmentProblem
from tests.fakes import FakeRunner, ok

BUILDX_INSPECT = """Name:          default
Driver:        docker

Nodes:
Name:             default
Endpoint:         default
Status:           running
Platforms:        linux/amd64, linux/amd64/v2, linux/arm64
Labels:
 org.mobyproject.buildkit.worker.network: host
"""


def test_builder_platforms_and_image_store() -> None:
    assert probes.platforms(BUILDX_INSPECT) == ("linux/amd64", "linux/amd64/v2", "linux/arm64")
    assert probes.platforms("error: no builder") == ()
    assert probes.image_store({"DriverStatus": [["driver-type", "io.containerd.snapshotter.v1"]]}) == (
        "io.containerd.snapshotter.v1"
    )
    assert probes.image_store({"Driver": "overlay2", "DriverStatus": [["Backing Filesystem", "extfs"]]}) == "overlay2"


class _Registry(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/v2/" else 404)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def registry() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Registry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_registry_ping(registry: str) -> None:
    assert probes.registry_ping(registry)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{s.getsockname()[1]}"
    assert not probes.registry_ping(closed)


def test_docker_api_over_a_unix_socket(tmp_path: Path) -> None:
    path = tmp_path / "docker.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen()

    def answer() -> None:
        connection, _ = server.accept()
        with connection:
            request = connection.recv(4096)
            assert request.startswith(b"GET /version HTTP/1.1")
            body = json.dumps({"Version": "26.1.5", "ApiVersion": "1.45"}).encode()
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))

    thread = threading.Thread(target=answer)
    thread.start()
    try:
        assert probes.docker_api(path, "/version") == {"Version": "26.1.5", "ApiVersion": "1.45"}
    finally:
        thread.join(5)
        server.close()
    assert probes.docker_api(tmp_path / "absent.sock", "/version") is None
    assert not probes.docker_ping(tmp_path / "absent.sock")


IP_ADDR = [
    {"ifname": "lo", "addr_info": [{"local": "127.0.0.1", "prefixlen": 8}]},
    {"ifname": "docker0", "addr_info": [{"local": "172.17.0.1", "prefixlen": 16}]},
    {"ifname": "fnode-a", "addr_info": [{"local": "10.213.0.1", "prefixlen": 24}]},
]
IP_ROUTE = [{"dst": "default", "gateway": "192.0.2.1"}, {"dst": "10.213.1.0/24"}, {"dst": "192.0.2.0/24"}]


def test_a_bridge_takes_the_first_free_subnet_of_the_pool() -> None:
    commands = FakeRunner(
        [
            (["addr", "show"], ok(json.dumps(IP_ADDR))),
            (["route", "show"], ok(json.dumps(IP_ROUTE))),
            (["link", "show"], ok(returncode=1)),
        ]
    )
    subnet = bridge.create(commands, "fnode-b", "10.213.0.0/16")
    assert subnet == ipaddress.IPv4Network("10.213.2.0/24")
    assert commands.called("ip", "link", "add") == [("ip", "link", "add", "fnode-b", "type", "bridge")]
    assert commands.called("ip", "addr", "add") == [("ip", "addr", "add", "10.213.2.1/24", "dev", "fnode-b")]
    assert commands.called("ip", "link", "set") == [("ip", "link", "set", "fnode-b", "up")]


def test_an_exhausted_pool_is_a_clear_error() -> None:
    with pytest.raises(EnvironmentProblem, match="set FACTORY_NODE_POOL"):
        bridge.free_subnet("10.213.0.0/23", [ipaddress.IPv4Network("10.213.0.0/23")])


def test_delete_only_an_existing_bridge() -> None:
    absent = FakeRunner([(["link", "show"], ok(returncode=1))])
    assert not bridge.delete(absent, "fnode-x") and not absent.called("delete")
    present = FakeRunner()
    assert bridge.delete(present, "fnode-x")
    assert present.called("delete") == [("ip", "link", "delete", "fnode-x", "type", "bridge")]
