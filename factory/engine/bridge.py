"""A Linux bridge of its own for every dockerd beside the first (docker0 belongs to the first).

The bridge gets the first /24 of the node pool that no address or route of
this machine overlaps; dockerd then takes its gateway and subnet from it.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable

from factory.errors import EnvironmentProblem
from factory.process import Runner

Network = ipaddress.IPv4Network


def exists(commands: Runner, name: str) -> bool:
    return commands.run(["ip", "link", "show", "dev", name], check=False).ok


def used_networks(commands: Runner) -> list[Network]:
    """Every IPv4 network this machine has an address in or a route to."""
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for entry in json.loads(commands.run(["ip", "-j", "-4", "addr", "show"]).stdout or "[]"):
        for info in entry.get("addr_info", []):
            networks.append(ipaddress.ip_network(f"{info['local']}/{info['prefixlen']}", strict=False))
    for route in json.loads(commands.run(["ip", "-j", "-4", "route", "show"]).stdout or "[]"):
        if route.get("dst") not in (None, "default"):
            networks.append(ipaddress.ip_network(route["dst"], strict=False))
    return [n for n in networks if isinstance(n, Network)]


def free_subnet(pool: str, used: Iterable[Network]) -> Network:
    """The first /24 of `pool` that overlaps nothing in `used`."""
    taken = list(used)
    for candidate in ipaddress.ip_network(pool).subnets(new_prefix=24):
        if isinstance(candidate, Network) and not any(candidate.overlaps(n) for n in taken):
            return candidate
    raise EnvironmentProblem(f"no free /24 left in the node pool {pool}; set FACTORY_NODE_POOL to another range")


def create(commands: Runner, name: str, pool: str) -> Network:
    """Create bridge `name` with the gateway address of a free subnet, and bring it up."""
    subnet = free_subnet(pool, used_networks(commands))
    gateway = next(subnet.hosts())
    commands.run(["ip", "link", "add", name, "type", "bridge"])
    try:
        commands.run(["ip", "addr", "add", f"{gateway}/{subnet.prefixlen}", "dev", name])
        commands.run(["ip", "link", "set", name, "up"])
    except EnvironmentProblem:
        delete(commands, name)
        raise
    return subnet


def delete(commands: Runner, name: str) -> bool:
    """Remove bridge `name` if it exists (True if it did)."""
    if not exists(commands, name):
        return False
    commands.run(["ip", "link", "delete", name, "type", "bridge"])
    return True
