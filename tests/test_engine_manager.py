"""The orchestration's decisions, with a fake runner and throw-away processes (no engine needed)."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from factory.cli import main
from factory.engine import procs
from factory.engine.host import Host
from factory.engine.layout import Layout
from factory.engine.manager import Engine
from factory.engine.state import Daemon, client_env
from factory.errors import EnvironmentProblem
from factory.process import Result
from tests.fakes import FakeRunner, ok


def engine_in(tmp_path: Path, said: list[str], **layout: object) -> tuple[Engine, FakeRunner]:
    commands = FakeRunner()
    lay = Layout(
        prefix=tmp_path / "prefix",
        cache=tmp_path / "cache",
        run=tmp_path / "run",
        log=tmp_path / "log",
        docker_sock=tmp_path / "run" / "docker.sock",
        containerd_sock=tmp_path / "run" / "containerd.sock",
        **layout,  # type: ignore[arg-type]
    )
    engine = Engine(lay, say=said.append, commands=commands)
    engine.host = Host(12, "bookworm", "amd64")  # type: ignore[misc]
    for directory in (lay.run, lay.log):
        directory.mkdir(parents=True)
    return engine, commands


def test_a_foreign_process_on_the_registry_port_fails_before_anything_is_done(tmp_path: Path) -> None:
    said: list[str] = []
    with socket.socket() as foreign:
        foreign.bind(("127.0.0.1", 0))
        foreign.listen()
        port = foreign.getsockname()[1]
        engine, commands = engine_in(tmp_path, said, registry_addr=f"127.0.0.1:{port}")
        with pytest.raises(EnvironmentProblem) as info:
            engine.up()
    message = str(info.value)
    assert (
        f"127.0.0.1:{port} is already served by a process `factory engine` did not start: pid {os.getpid()} ("
        in message
    )
    assert "change registry.address in factory.yaml or FACTORY_REGISTRY_ADDR" in message
    assert info.value.exit_code == 5
    assert commands.calls == []  # nothing installed, mounted or started
    assert not any(line.startswith("started") for line in said)


def test_a_foreign_daemon_on_the_docker_socket_is_named(tmp_path: Path) -> None:
    said: list[str] = []
    engine, _ = engine_in(tmp_path, said)
    with socket.socket(socket.AF_UNIX) as foreign:
        foreign.bind(str(engine.layout.docker_sock))
        foreign.listen()
        with pytest.raises(EnvironmentProblem, match=rf"docker.sock is already served .*: pid {os.getpid()} "):
            engine.up()


def sleeper(engine: Engine, tmp_path: Path, *, argv: tuple[str, ...], probe: Callable[[], bool]) -> Daemon:
    return Daemon(
        name="sleeper",
        exe=Path(argv[0]),
        argv=argv,
        config=tmp_path / "sleeper.conf",
        log=tmp_path / "sleeper.log",
        pidfile=engine.layout.pidfile("sleeper"),
        listen=tmp_path / "sleeper.sock",
        setting="nothing",
        probe=probe,
        ready_timeout=0.5,
        stop_timeout=5,
    )


def test_a_daemon_that_does_not_answer_is_rolled_back(tmp_path: Path) -> None:
    said: list[str] = []
    engine, _ = engine_in(tmp_path, said)
    daemon = sleeper(engine, tmp_path, argv=(os.path.realpath("/bin/sleep"), "60"), probe=lambda: False)
    undo: list[tuple[str, Callable[[], object]]] = []
    with pytest.raises(EnvironmentProblem, match=r"sleeper did not answer on unix://.* within 0s \(log: "):
        engine._ensure_running(daemon, set(), undo)
    pid = procs.read_pid(daemon.pidfile)
    assert pid is not None and procs.alive(pid)
    engine._rollback(undo)
    assert not procs.alive(pid) and not daemon.pidfile.exists()
    assert said[-2:] == [f"failed: undoing what this run started: sleeper pid {pid}", f"stopped sleeper (pid {pid})"]


def test_a_daemon_that_exits_shows_its_log(tmp_path: Path) -> None:
    engine, _ = engine_in(tmp_path, [])
    daemon = sleeper(engine, tmp_path, argv=("/bin/sh", "-c", "echo 'fatal: bad config'; exit 3"), probe=lambda: False)
    with pytest.raises(EnvironmentProblem, match=r"sleeper exited during start-up \(log: .*\)\nfatal: bad config"):
        engine._ensure_running(daemon, set(), [])


def test_an_owned_daemon_is_adopted_not_restarted(tmp_path: Path) -> None:
    said: list[str] = []
    engine, _ = engine_in(tmp_path, said)
    daemon = sleeper(engine, tmp_path, argv=(os.path.realpath("/bin/sleep"), "60"), probe=lambda: True)
    undo: list[tuple[str, Callable[[], object]]] = []
    engine._ensure_running(daemon, set(), undo)
    pid = procs.read_pid(daemon.pidfile)
    try:
        engine._ensure_running(daemon, {daemon.config}, undo)
        assert said[-2] == f"sleeper already running (pid {pid}, unix://{tmp_path}/sleeper.sock)"
        assert "changed while sleeper runs" in said[-1]
        assert len(undo) == 1  # only the first run's start can be undone
    finally:
        engine._rollback(undo)


def test_engine_commands_need_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    for args in (["up"], ["status", "-o", "json"], ["down", "--node", "arm64"]):
        result = CliRunner().invoke(main, ["engine", *args])
        assert result.exit_code == 5, result.output
        assert "must run as root" in result.output


@pytest.mark.parametrize("args", [["engine"], ["engine", "up"], ["engine", "status"], ["engine", "down"]])
def test_engine_help(args: list[str]) -> None:
    result = CliRunner().invoke(main, [*args, "--help"])
    assert result.exit_code == 0 and "Usage: " in result.output


def test_a_bad_node_name_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["engine", "up", "--node", "ARM_64"])
    assert result.exit_code == 2 and "it names a bridge" in result.output


def test_client_env_points_docker_and_buildx_at_the_engine() -> None:
    env = client_env(Layout(), base={"PATH": "/usr/bin", "DOCKER_CONTEXT": "other", "HOME": "/root"})
    assert env == {
        "PATH": "/opt/factory-engine/bin:/usr/bin",
        "HOME": "/root",
        "DOCKER_HOST": "unix:///var/run/docker.sock",
        "DOCKER_CONFIG": "/opt/factory-engine/etc/factory-engine/docker-cli",
        "BUILDX_BUILDER": "default",
        "FACTORY_REGISTRY": "127.0.0.1:5000",
    }
    assert client_env(Layout(), "arm64", base={})["DOCKER_HOST"] == "unix:///run/factory-engine/node-arm64.sock"


def test_debian_13_installs_the_engine_without_starting_debians_own_services(tmp_path: Path) -> None:
    said: list[str] = []
    engine, commands = engine_in(tmp_path, said)
    engine.host = Host(13, "trixie", "amd64")
    engine.policy_rc_d = tmp_path / "policy-rc.d"
    engine.systemd = tmp_path / "systemd"
    engine.systemd.mkdir()
    policies: list[bool] = []

    def apt_install(argv: tuple[str, ...], cwd: Path | None) -> Result:
        policies.append(engine.policy_rc_d.exists())
        return ok()

    commands.rules = [(["dpkg-query"], ok(stdout="runc installed\n")), (["install"], apt_install)]
    engine._install_packages()
    assert policies == [True] and not engine.policy_rc_d.exists()
    assert commands.called("systemctl", "disable") == [
        ("systemctl", "disable", "containerd.service", "docker.socket", "docker.service")
    ]


def test_debian_13_without_systemd_runs_no_systemctl(tmp_path: Path) -> None:
    said: list[str] = []
    engine, commands = engine_in(tmp_path, said)
    engine.host = Host(13, "trixie", "amd64")
    engine.policy_rc_d = tmp_path / "policy-rc.d"
    engine.systemd = tmp_path / "no-systemd"
    commands.rules = [(["dpkg-query"], ok(stdout="runc installed\n"))]
    engine._install_packages()
    assert not commands.called("systemctl")
