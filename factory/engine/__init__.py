"""The local BuildKit engine the factory builds on: `factory engine up|status|down`.

Modules: layout (paths, sockets, addresses), host (Debian release, binaries),
debs (apt, the private suite, the .deb cache), configs (files written),
binfmt (qemu emulation), procs (PIDs we own, who holds a socket), probes
(readiness, engine facts), bridge (a node's own bridge), state (daemons, status,
the client environment), install (packages, .debs), manager (up, status, down).
Other modules need only `client_env` to run docker and buildx.
"""

from factory.engine.layout import Layout
from factory.engine.manager import Engine
from factory.engine.state import Status, client_env

__all__ = ["Engine", "Layout", "Status", "client_env"]
