"""The local BuildKit engine the factory builds on (`factory engine`): its building blocks.

Modules: layout (paths, sockets, addresses), host (Debian release, binaries),
debs (apt, the private suite, the .deb cache), configs (files written),
binfmt (qemu emulation), procs (PIDs we own, who holds a socket), probes
(readiness, engine facts), bridge (a node's own bridge).
"""
