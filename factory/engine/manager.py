"""`factory engine up|status|down`: set up, start, inspect and stop one engine instance and its nodes.

An instance is containerd, a dockerd (BuildKit, containerd image store, the
buildx plugin), a plain-HTTP registry on loopback, and qemu arm64 emulation in
binfmt_misc. `up` is idempotent: what is there is checked, not redone; what it
starts is stopped again if a later step fails. A node is one more dockerd of the
instance, with its own socket, data, bridge and containerd namespaces.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from factory import locks
from factory.engine import binfmt, bridge, configs, debs, install, probes, procs
from factory.engine.host import TOOLS_DIR, Binaries, Host, detect, require_root
from factory.engine.layout import Layout
from factory.engine.state import Component, Daemon, Report, Status, client_env, quiet
from factory.errors import EnvironmentProblem
from factory.process import Runner, tail


class Engine:
    """One engine instance on this machine (the shared default one, or a separate one for tests)."""

    def __init__(
        self,
        layout: Layout,
        *,
        say: Report = quiet,
        commands: Runner | None = None,
        proc: Path = procs.PROC,
        etc: Path = Path("/etc"),
        policy_rc_d: Path = debs.POLICY_RC_D,
        systemd: Path = Path("/run/systemd/system"),
    ) -> None:
        self.layout = layout
        self.say = say
        self.commands = commands or Runner()
        self.proc = proc
        self.etc = etc
        self.policy_rc_d = policy_rc_d
        self.systemd = systemd  # exists when systemd is the init system

    @functools.cached_property
    def host(self) -> Host:
        return detect(self.commands, self.etc)

    @functools.cached_property
    def binaries(self) -> Binaries:
        return Binaries.of(self.host, self.layout.prefix)

    # ------------------------------------------------------------- daemons --

    def containerd(self) -> Daemon:
        lay = self.layout
        return Daemon(
            name="containerd",
            exe=self.binaries.containerd,
            argv=(str(self.binaries.containerd), "--config", str(lay.etc / "containerd.toml")),
            config=lay.etc / "containerd.toml",
            log=lay.logfile("containerd"),
            pidfile=lay.pidfile("containerd"),
            listen=lay.containerd_sock,
            setting="FACTORY_CONTAINERD_SOCK",
            probe=lambda: probes.containerd_ping(self.commands, self.binaries.ctr, lay.containerd_sock),
            ready_timeout=30,
            stop_timeout=30,
            stale=(lay.containerd_sock,),
        )

    def dockerd(self, node: str | None = None) -> Daemon:
        d = self.layout.dockerd(node)
        return Daemon(
            name=d.name,
            exe=self.binaries.dockerd,
            argv=(str(self.binaries.dockerd), "--config-file", str(d.config)),
            config=d.config,
            log=d.log,
            pidfile=d.pidfile,
            listen=d.socket,
            setting="FACTORY_DOCKER_SOCK" if node is None else f"the node name ({node})",
            probe=lambda: probes.docker_ping(d.socket),
            ready_timeout=60,
            stop_timeout=60,  # dockerd stops its containers first
            stale=(d.self_pidfile,),
            bridge=d.bridge,
        )

    def registry(self) -> Daemon:
        lay = self.layout
        return Daemon(
            name="registry",
            exe=self.binaries.registry,
            argv=(str(self.binaries.registry), "serve", str(lay.etc / "registry.yml")),
            config=lay.etc / "registry.yml",
            log=lay.logfile("registry"),
            pidfile=lay.pidfile("registry"),
            listen=lay.registry_addr,
            setting="registry.address in factory.yaml or FACTORY_REGISTRY_ADDR",
            probe=lambda: probes.registry_ping(lay.registry_addr),
            ready_timeout=20,
            stop_timeout=10,
        )

    def _owned(self, daemon: Daemon) -> int | None:
        return procs.owned(daemon.pidfile, daemon.exe, self.proc)

    def _holder(self, daemon: Daemon) -> procs.Holder | None:
        if isinstance(daemon.listen, Path):
            return procs.unix_holder(daemon.listen, self.proc)
        host, _, port = daemon.listen.rpartition(":")
        return procs.tcp_holder(host.strip("[]"), int(port), self.proc)

    def _check_free(self, daemon: Daemon) -> None:
        """Fail, naming the process, if something not ours serves where `daemon` must listen."""
        if self._owned(daemon) is not None:
            return
        holder = self._holder(daemon)
        if holder is not None:
            raise EnvironmentProblem(
                f"{holder.what} is already served by a process `factory engine` did not start: "
                f"{holder.describe(self.proc)}. Stop it (by its PID) or change {daemon.setting}."
            )

    # ------------------------------------------------------------------ up --

    def up(self, node: str | None = None, *, refresh: bool = False) -> Status:
        """Install, configure and start what is missing; report each step; return the final status."""
        started = time.monotonic()
        require_root()
        lay = self.layout
        lay.check_registry_loopback()
        self.say(f"{self.host.describe()}; prefix {lay.prefix}")
        if self.host.arch != "amd64":
            self.say(f"warning: host architecture {self.host.arch}: only amd64 hosts are tested (arm64 emulation)")
        for directory in (lay.run, lay.log, lay.etc, lay.debs):
            directory.mkdir(parents=True, exist_ok=True)
        order = [self.containerd(), self.dockerd(), self.registry()]
        if node is not None:
            order.append(self.dockerd(node))
        undo: list[tuple[str, Callable[[], object]]] = []
        with self._lock(timeout=300):
            try:
                self._preflight(order)
                self._install_packages()
                engine_debs, tool_debs = self._fetch(refresh)
                self._unpack(engine_debs)
                self._unpack_tools(tool_debs)
                changed = self._write_configs(node)
                self._register_binfmt()
                for daemon in order:
                    self._ensure_running(daemon, changed, undo)
                status = self.status(node)
                self._verify(status)
            except BaseException:
                self._rollback(undo)
                raise
        self.say(f"ready in {time.monotonic() - started:.1f}s")
        return status

    def _preflight(self, order: list[Daemon]) -> None:
        """Conflicts fail before anything is installed or started."""
        for daemon in order:
            self._check_free(daemon)
        misc = binfmt.BinfmtMisc(self.layout.binfmt_dir, self.commands)
        if misc.ensure_mounted():
            self.say(f"mounted binfmt_misc on {misc.directory}")
        misc.check_writable()

    def _install_packages(self) -> None:
        install.apt_packages(self.host, self.layout, self.commands, self.say, self.policy_rc_d, self.systemd)

    def _fetch(self, refresh: bool) -> tuple[list[Path], list[Path]]:
        """The .debs to unpack, from the cache; downloads only what it lacks (or all, with `refresh`)."""
        return install.fetch_debs(self.host, self.layout, self.commands, self.say, refresh=refresh)

    def _unpack(self, wanted: list[Path]) -> None:
        prefix = self.layout.prefix
        if debs.unpacked(prefix, wanted):
            self.say(f"packages already unpacked in {prefix}")
            return
        running = [d.name for d in self._all_daemons() if self._owned(d) is not None]
        if running:
            raise EnvironmentProblem(
                f"new packages to unpack, but {', '.join(running)} still run(s) from {prefix}: "
                "run `factory engine down` first"
            )
        debs.unpack(self.commands, prefix, wanted)
        if self.host.engine_in_prefix:
            init = prefix / "usr/bin/docker-init"
            init.unlink(missing_ok=True)
            init.symlink_to(self.binaries.init)
        self.say(f"unpacked into {prefix}: {' '.join(d.name for d in wanted)}")

    def _unpack_tools(self, wanted: list[Path]) -> None:
        """cosign and oras (Debian 12) into prefix/tools: nothing runs from there, so no daemon must stop."""
        if not wanted:
            return
        tools = self.layout.prefix / TOOLS_DIR
        if debs.unpacked(tools, wanted):
            self.say(f"publishing tools already unpacked in {tools}")
            return
        shutil.rmtree(tools, ignore_errors=True)
        debs.unpack(self.commands, tools, wanted)
        self.say(f"unpacked into {tools}: {' '.join(d.name for d in wanted)}")

    def _all_daemons(self) -> list[Daemon]:
        nodes = [self.dockerd(n) for n in self.layout.nodes()]
        return [*nodes, self.registry(), self.dockerd(), self.containerd()]

    def _write_configs(self, node: str | None) -> set[Path]:
        lay, bins = self.layout, self.binaries
        lay.registry_root.mkdir(parents=True, exist_ok=True)
        dockerds = [lay.dockerd()] + ([lay.dockerd(node)] if node is not None else [])
        files: list[tuple[Path, str, int]] = [
            (lay.etc / "containerd.toml", configs.containerd_toml(lay), 0o644),
            (lay.etc / "registry.yml", configs.registry_yml(lay), 0o644),
            (lay.prefix / "bin" / "docker", configs.docker_wrapper(lay, bins), 0o755),
        ]
        for d in dockerds:
            files += [
                (d.config, configs.daemon_json(lay, d, bins), 0o644),
                (d.client_config / "config.json", configs.cli_config(bins), 0o644),
                (d.env_file, configs.env_sh(lay, d), 0o644),
            ]
        changed = {path for path, text, mode in files if configs.write_if_changed(path, text, mode)}
        for path in sorted(changed):
            self.say(f"wrote {path}")
        if not changed:
            self.say(f"configuration unchanged ({lay.etc})")
        return changed

    def _register_binfmt(self) -> None:
        misc = binfmt.BinfmtMisc(self.layout.binfmt_dir, self.commands)
        rule = binfmt.packaged_rule()
        if not Path(rule.interpreter).exists():
            raise EnvironmentProblem(f"the qemu interpreter {rule.interpreter} named by the binfmt rule is missing")
        if not misc.globally_enabled():
            self.say("warning: binfmt_misc was disabled machine-wide; enabling it")
            misc.enable_globally()
        entry = misc.entry()
        action = binfmt.decide(entry, rule)
        if action is binfmt.Action.KEEP and entry is not None:
            self.say(f"binfmt {rule.name} already registered with flags {entry.flags} ({entry.interpreter})")
            return
        if action is binfmt.Action.REPLACE and entry is not None:
            self.say(
                f"replacing binfmt {rule.name} ({entry.state}: interpreter {entry.interpreter}, flags {entry.flags})"
            )
            misc.unregister(rule.name)
        misc.register(rule)
        entry = misc.entry()
        if entry is None or entry.state != "ok":
            raise EnvironmentProblem(f"{rule.name} was registered but is not enabled with the F flag")
        self.say(f"registered binfmt {rule.name} with flags {entry.flags} -> {entry.interpreter}")

    def _ensure_running(self, daemon: Daemon, changed: set[Path], undo: list[tuple[str, Callable[[], object]]]) -> None:
        pid = self._owned(daemon)
        if pid is not None:
            self._wait_ready(daemon)
            self.say(f"{daemon.name} already running (pid {pid}, {daemon.endpoint})")
            if daemon.config in changed:
                self.say(
                    f"warning: {daemon.config} changed while {daemon.name} runs: "
                    "run `factory engine down` and `up` to apply it"
                )
            return
        # Again: on Debian 13, installing docker.io may have started a dockerd of its own.
        self._check_free(daemon)
        if daemon.bridge is not None and not bridge.exists(self.commands, daemon.bridge):
            subnet = bridge.create(self.commands, daemon.bridge, self.layout.node_pool)
            name = daemon.bridge
            undo.append((f"bridge {name}", lambda: self._delete_bridge(name)))
            self.say(f"created bridge {name} ({subnet})")
        for path in daemon.stale:
            path.unlink(missing_ok=True)
        env = {**os.environ, "PATH": self.binaries.path}
        pid = procs.spawn(daemon.argv, pidfile=daemon.pidfile, logfile=daemon.log, env=env)
        undo.append((f"{daemon.name} pid {pid}", lambda: self._stop(daemon)))
        self._wait_ready(daemon)
        self.say(f"started {daemon.name} pid {pid} ({daemon.endpoint}, log {daemon.log})")

    def _wait_ready(self, daemon: Daemon) -> None:
        deadline = time.monotonic() + daemon.ready_timeout
        while True:
            if daemon.probe():
                return
            pid = procs.read_pid(daemon.pidfile)
            if self._owned(daemon) is None:
                if pid is not None:
                    procs.reap(pid)
                raise EnvironmentProblem(
                    f"{daemon.name} exited during start-up (log: {daemon.log})" + _tail(daemon.log)
                )
            if time.monotonic() > deadline:
                raise EnvironmentProblem(
                    f"{daemon.name} did not answer on {daemon.endpoint} within {daemon.ready_timeout:.0f}s "
                    f"(log: {daemon.log})" + _tail(daemon.log)
                )
            time.sleep(0.1)

    def _verify(self, status: Status) -> None:
        info = status.engine
        dockerd = self.dockerd(status.node)
        if info is None:
            raise EnvironmentProblem(f"dockerd answers its ping but not /version and /info ({dockerd.endpoint})")
        if not info.containerd_store:
            raise EnvironmentProblem(
                f"dockerd is up but does not use the containerd image store (image store: {info.image_store}); "
                f"check {dockerd.config}"
            )
        if info.buildx_version is None or not info.platforms:
            raise EnvironmentProblem(
                f"the buildx plugin is not visible to {self.binaries.docker} (looked in {self.binaries.buildx_dir})"
            )
        for warning in status.warnings:
            self.say(f"warning: {warning}")
        self.say(
            f"engine {info.version}, buildx {info.buildx_version}, builder 'default' "
            f"platforms: {', '.join(info.platforms)}"
        )

    def _rollback(self, undo: list[tuple[str, Callable[[], object]]]) -> None:
        if undo:
            self.say(f"failed: undoing what this run started: {', '.join(name for name, _ in undo)}")
        for _, action in reversed(undo):
            with contextlib.suppress(Exception):
                action()

    # -------------------------------------------------------------- status --

    def status(self, node: str | None = None) -> Status:
        """Report each part; read-only."""
        require_root()
        lay = self.layout
        daemons = [self.containerd(), self.dockerd(node), self.registry()]
        components = tuple(self._component(d) for d in daemons)
        problems = [f"{c.name} is {c.state}" for c in components if c.state != "running"]
        entry = binfmt.BinfmtMisc(lay.binfmt_dir, self.commands).entry()
        binfmt_state = {
            "name": binfmt.NAME,
            "state": "missing" if entry is None else entry.state,
            "flags": "" if entry is None else entry.flags,
            "interpreter": "" if entry is None else entry.interpreter,
        }
        if binfmt_state["state"] != "ok":
            problems.append(f"binfmt {binfmt.NAME} is {binfmt_state['state']}")
        env = client_env(lay, node)
        info = None
        warnings = []
        if components[1].state == "running":
            info = probes.inspect_engine(self.commands, lay.dockerd(node).socket, self.binaries.docker, env)
            if info is None:
                problems.append("dockerd does not answer /version and /info")
            else:
                if not info.containerd_store:
                    problems.append(f"dockerd does not use the containerd image store ({info.image_store})")
                if info.buildx_version is None or not info.platforms:
                    problems.append("the buildx plugin or its builder 'default' is not available")
                elif "linux/arm64" not in info.platforms:
                    warnings.append(f"builder 'default' does not list linux/arm64 (platforms: {info.platforms})")
        reachable = probes.registry_ping(lay.registry_addr)
        if not reachable:
            problems.append(f"the registry does not answer on http://{lay.registry_addr}/v2/")
        return Status(
            host=self.host.describe(),
            prefix=str(lay.prefix),
            node=node,
            components=components,
            binfmt=binfmt_state,
            engine=info,
            registry=lay.registry_addr,
            registry_reachable=reachable,
            env={key: env[key] for key in ("PATH", *configs.client_settings(lay, lay.dockerd(node)))},
            problems=tuple(problems),
            warnings=tuple(warnings),
        )

    def _component(self, daemon: Daemon) -> Component:
        pid = self._owned(daemon)
        state = "stopped" if pid is None else "running" if daemon.probe() else "not answering"
        return Component(daemon.name, state, pid, daemon.endpoint, str(daemon.log))

    # ---------------------------------------------------------------- down --

    def down(self, node: str | None = None, *, unregister_binfmt: bool = False) -> None:
        """Stop what `up` started (by recorded PID, only if it still runs our binary); data is kept.

        Without `node`: every node, then the registry, dockerd and containerd.
        """
        require_root()
        lay = self.layout
        lay.run.mkdir(parents=True, exist_ok=True)
        with self._lock(timeout=60):
            for name in [node] if node is not None else lay.nodes():
                daemon = self.dockerd(name)
                if self._stop(daemon) is None:
                    self.say(f"{daemon.name}: not running (nothing of ours)")
                self._delete_bridge(lay.dockerd(name).bridge)
            if node is not None:
                return
            for daemon in (self.registry(), self.dockerd(), self.containerd()):
                if self._stop(daemon) is None:
                    self.say(f"{daemon.name}: not running (nothing of ours)")
            self._delete_bridge(lay.docker_bridge)
            if unregister_binfmt and binfmt.BinfmtMisc(lay.binfmt_dir, self.commands).unregister():
                self.say(f"unregistered binfmt {binfmt.NAME}")

    def _stop(self, daemon: Daemon) -> int | None:
        """Stop `daemon` if it is ours; the PID stopped, or None."""
        pid = self._owned(daemon)
        if pid is None:
            daemon.pidfile.unlink(missing_ok=True)
            return None
        if procs.stop(pid, timeout=daemon.stop_timeout, proc=self.proc):
            self.say(f"warning: {daemon.name} (pid {pid}) ignored SIGTERM for {daemon.stop_timeout:.0f}s: killed")
        daemon.pidfile.unlink(missing_ok=True)
        self.say(f"stopped {daemon.name} (pid {pid})")
        return pid

    def _delete_bridge(self, name: str | None) -> None:
        if name is not None and bridge.delete(self.commands, name):
            self.say(f"deleted bridge {name}")

    # ---------------------------------------------------------------- lock --

    def _lock(self, timeout: float) -> contextlib.AbstractContextManager[None]:
        """One `factory engine up/down` at a time per instance (the prototype's lock file too)."""
        path = self.layout.lock
        return locks.exclusive(
            path,
            timeout,
            f"waiting for another `factory engine` run to finish (lock {path})",
            f"another `factory engine` run still holds {path} after {timeout:.0f}s",
            self.say,
        )


def _tail(log: Path) -> str:
    """The end of a daemon's log as the next lines of an error ('' when there is none)."""
    text = tail(log, 15)
    return "\n" + text if text else ""
