from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import pytest

from factory.engine import procs

BINARY = "/opt/factory-engine/usr/bin/containerd"


def fake_process(proc: Path, pid: int, *, state: str = "S (sleeping)", exe: str = BINARY, cmdline: str = "") -> None:
    d = proc / str(pid)
    (d / "fd").mkdir(parents=True)
    (d / "status").write_text(f"Name:\tx\nUmask:\t0022\nState:\t{state}\nPid:\t{pid}\n")
    (d / "exe").symlink_to(exe)
    (d / "cmdline").write_bytes(cmdline.replace(" ", "\0").encode() + b"\0")


@pytest.fixture
def proc(tmp_path: Path) -> Path:
    (tmp_path / "proc" / "net").mkdir(parents=True)
    return tmp_path / "proc"


def pidfile(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "containerd.pid"
    path.write_text(text)
    return path


def test_owned_when_alive_and_running_our_binary(tmp_path: Path, proc: Path) -> None:
    fake_process(proc, 8415)
    assert procs.owned(pidfile(tmp_path, "8415\n"), Path(BINARY), proc) == 8415


def test_a_zombie_is_not_alive(tmp_path: Path, proc: Path) -> None:
    fake_process(proc, 8415, state="Z (zombie)")
    assert not procs.alive(8415, proc)
    assert procs.owned(pidfile(tmp_path, "8415"), Path(BINARY), proc) is None


def test_a_reused_pid_running_something_else_is_not_ours(tmp_path: Path, proc: Path) -> None:
    fake_process(proc, 8415, exe="/usr/bin/containerd")
    assert procs.owned(pidfile(tmp_path, "8415"), Path(BINARY), proc) is None


def test_a_binary_replaced_while_running_is_still_ours(tmp_path: Path, proc: Path) -> None:
    fake_process(proc, 8415, exe=f"{BINARY} (deleted)")
    assert procs.owned(pidfile(tmp_path, "8415"), Path(BINARY), proc) == 8415


@pytest.mark.parametrize("text", ["", "garbage", "99999"])
def test_stale_or_broken_pidfiles(tmp_path: Path, proc: Path, text: str) -> None:
    assert procs.owned(pidfile(tmp_path, text), Path(BINARY), proc) is None
    assert procs.owned(tmp_path / "absent.pid", Path(BINARY), proc) is None


TCP = (
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    "   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1145 1 0\n"
    "   1: 0100007F:1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 27469 1 0\n"
    "   2: 0200007F:13BF 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 27470 1 0\n"
    "   3: 0100007F:13C0 0100007F:1388 01 00000000:00000000 00:00000000 00000000     0        0 27471 1 0\n"
)
TCP6 = (
    "  sl  local_address                         remote_address                        st tx_queue rx_queue tr "
    "tm->when retrnsmt   uid  timeout inode\n"
    "   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 "
    "00:00000000 00000000     0        0 555 1 0\n"
)


def test_tcp_listener_is_named_with_pid_and_command(proc: Path) -> None:
    (proc / "net" / "tcp").write_text(TCP)
    (proc / "net" / "tcp6").write_text(TCP6)
    fake_process(proc, 4242, exe="/usr/bin/python3", cmdline="python3 -m http.server 5000")
    (proc / "4242" / "fd" / "3").symlink_to("socket:[27469]")
    holder = procs.tcp_holder("127.0.0.1", 5000, proc)
    assert holder == procs.Holder(4242, "127.0.0.1:5000")
    assert holder.describe(proc) == "pid 4242 (python3 -m http.server 5000)"
    assert procs.tcp_holder("127.0.0.1", 2024, proc) == procs.Holder(None, "0.0.0.0:2024")  # wildcard
    assert procs.tcp_holder("127.0.0.1", 8080, proc) == procs.Holder(None, ":::8080")  # v6 wildcard
    assert procs.tcp_holder("127.0.0.1", 5055, proc) is None  # only 127.0.0.2 listens there
    assert procs.tcp_holder("127.0.0.1", 5056, proc) is None  # a connection, not a listener


def test_unix_listener_only_counts_listening_sockets(proc: Path) -> None:
    (proc / "net" / "unix").write_text(
        "Num       RefCount Protocol Flags    Type St Inode Path\n"
        "0000000000000000: 00000003 00000000 00000000 0001 03 26288 /run/containerd/containerd.sock\n"
        "0000000000000000: 00000002 00000000 00010000 0001 01 27159 /run/containerd/containerd.sock\n"
        "0000000000000000: 00000002 00000000 00010000 0001 01 27260 /var/run/docker.sock\n"
    )
    fake_process(proc, 8415)
    (proc / "8415" / "fd" / "7").symlink_to("socket:[27159]")
    assert procs.unix_holder(Path("/run/containerd/containerd.sock"), proc) == procs.Holder(
        8415, "/run/containerd/containerd.sock"
    )
    assert procs.unix_holder(Path("/var/run/docker.sock"), proc) == procs.Holder(None, "/var/run/docker.sock")
    assert procs.unix_holder(Path("/run/other.sock"), proc) is None


def test_spawn_detaches_and_closes_inherited_descriptors(tmp_path: Path) -> None:
    # Like a caller's lock on a high descriptor, inheritable (the prototype's daemons kept fd 9).
    devnull = os.open(os.devnull, os.O_RDONLY)
    inherited = os.dup2(devnull, 99, inheritable=True)
    script = (
        "ls /proc/self/fd; read -r _ _ _ _ _ sid _ </proc/$$/stat; echo $sid; echo out; echo err >&2; exec sleep 30"
    )
    try:
        pid = procs.spawn(
            ["/bin/sh", "-c", script], pidfile=tmp_path / "x.pid", logfile=tmp_path / "x.log", env={"PATH": "/bin"}
        )
    finally:
        os.close(inherited)
        os.close(devnull)
    try:
        assert procs.read_pid(tmp_path / "x.pid") == pid
        deadline = time.monotonic() + 10
        while "err" not in (tmp_path / "x.log").read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        lines = (tmp_path / "x.log").read_text().split()
        assert "99" not in lines[:-3] and "2" in lines[:-3]
        assert lines[-3] == str(pid)  # its own session
        assert lines[-2:] == ["out", "err"]
        assert procs.alive(pid)
    finally:
        assert not procs.stop(pid, timeout=5)
    assert not procs.alive(pid)


def test_stop_falls_back_to_sigkill(tmp_path: Path) -> None:
    pid = procs.spawn(
        [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"],
        pidfile=tmp_path / "x.pid",
        logfile=tmp_path / "x.log",
        env={},
    )
    time.sleep(0.3)  # let it install its handler
    assert procs.stop(pid, timeout=0.5)
    assert not procs.alive(pid)


def test_a_socket_we_hold_is_found_with_our_pid() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        holder = procs.tcp_holder("127.0.0.1", port)
        assert holder is not None and holder.pid == os.getpid()
