"""Processes the engine owns, and whoever else holds a socket or port it wants.

"Ours" means: the PID in our pidfile is alive (a zombie is not: daemons are
re-parented to PID 1, which in a container may never reap them) and
/proc/PID/exe is the binary we start. A reused PID or a foreign daemon on the
same socket is never taken for ours, and never stopped.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import socket
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp
_ACCEPTING = 0x10000  # __SO_ACCEPTCON in /proc/net/unix: a listening socket


def read_pid(pidfile: Path) -> int | None:
    try:
        text = pidfile.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def alive(pid: int, proc: Path = PROC) -> bool:
    """The process exists and is neither a zombie nor dead."""
    try:
        status = (proc / str(pid) / "status").read_text()
    except OSError:
        return False
    for line in status.splitlines():
        if line.startswith("State:"):
            return line.split()[1] not in ("Z", "X", "x")
    return True


def owned(pidfile: Path, exe: Path, proc: Path = PROC) -> int | None:
    """The PID recorded in `pidfile` if that process is alive and runs `exe`, else None."""
    pid = read_pid(pidfile)
    if pid is None or not alive(pid, proc):
        return None
    try:
        real = os.readlink(proc / str(pid) / "exe")
    except OSError:
        return None
    # The binary may have been replaced (unpacked anew) while the daemon runs.
    real = real.removesuffix(" (deleted)")
    return pid if real == os.path.realpath(exe) else None


def describe(pid: int, proc: Path = PROC) -> str:
    """`pid N (command line)` for messages that must name a foreign process."""
    try:
        cmdline = (proc / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        cmdline = "?"
    return f"pid {pid} ({cmdline[:120]})"


def spawn(argv: Sequence[str], *, pidfile: Path, logfile: Path, env: Mapping[str, str]) -> int:
    """Start a daemon detached: own session, stdin /dev/null, output appended to `logfile`.

    Descriptors this process inherited (e.g. a caller's lock on fd 9) are closed
    in the child, so the daemon never holds them. The PID is written to `pidfile`.
    """
    actions: list[tuple[int, int] | tuple[int, int, int] | tuple[int, int, str, int, int]] = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(logfile), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    actions += [(os.POSIX_SPAWN_CLOSE, fd) for fd in _inheritable_fds()]
    pid = os.posix_spawn(argv[0], list(argv), dict(env), file_actions=actions, setsid=True)
    write_pidfile(pidfile, pid)
    return pid


def _inheritable_fds() -> list[int]:
    found = []
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2:
            with contextlib.suppress(OSError):  # e.g. the descriptor listdir itself used
                if os.get_inheritable(fd):
                    found.append(fd)
    return found


def write_pidfile(pidfile: Path, pid: int) -> None:
    tmp = pidfile.with_name(pidfile.name + ".tmp")
    tmp.write_text(f"{pid}\n")
    tmp.replace(pidfile)


def reap(pid: int) -> None:
    """Collect `pid` if it is our own exited child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def stop(pid: int, *, timeout: float, proc: Path = PROC) -> bool:
    """SIGTERM, then SIGKILL after `timeout` seconds; True if it took SIGKILL."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reap(pid)
        if not alive(pid, proc):
            return False
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    for _ in range(50):
        reap(pid)
        if not alive(pid, proc):
            break
        time.sleep(0.1)
    return True


@dataclass(frozen=True)
class Holder:
    """A process that listens on a socket or port (pid None: not visible from here)."""

    pid: int | None
    what: str  # the socket path or address:port

    def describe(self, proc: Path = PROC) -> str:
        return describe(self.pid, proc) if self.pid is not None else "a process this host cannot see"


def tcp_holder(host: str, port: int, proc: Path = PROC) -> Holder | None:
    """Who listens on `port` at `host` or at a wildcard address (both block our bind)."""
    wanted = ipaddress.ip_address(socket.gethostbyname(host) if host == "localhost" else host)
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        for address, listen_port, inode in _tcp_listeners(proc / "net" / table, family):
            if listen_port != port:
                continue
            ip = ipaddress.ip_address(address)
            mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
            if ip.is_unspecified or ip == wanted or mapped == wanted:
                return Holder(_pid_of_inode(inode, proc), f"{address}:{port}")
    return None


def _tcp_listeners(table: Path, family: socket.AddressFamily) -> Iterator[tuple[str, int, int]]:
    try:
        lines = table.read_text().splitlines()[1:]
    except OSError:
        return
    for line in lines:
        cols = line.split()
        if len(cols) < 10 or cols[3] != _LISTEN:
            continue
        hex_address, _, hex_port = cols[1].partition(":")
        raw = bytes.fromhex(hex_address)
        # The kernel prints each 32-bit word in host (little-endian) order.
        raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
        yield socket.inet_ntop(family, raw), int(hex_port, 16), int(cols[9])


def unix_holder(path: Path, proc: Path = PROC) -> Holder | None:
    """Who listens on the unix socket `path` (as bound, or through a symlinked directory)."""
    names = {str(path), os.path.realpath(path)}
    try:
        lines = (proc / "net" / "unix").read_text().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        cols = line.split()
        if len(cols) >= 8 and cols[7] in names and int(cols[3], 16) & _ACCEPTING:
            return Holder(_pid_of_inode(int(cols[6]), proc), cols[7])
    return None


def _pid_of_inode(inode: int, proc: Path) -> int | None:
    target = f"socket:[{inode}]"
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            links = list((entry / "fd").iterdir())
        except OSError:
            continue
        for link in links:
            with contextlib.suppress(OSError):
                if os.readlink(link) == target:
                    return int(entry.name)
    return None
