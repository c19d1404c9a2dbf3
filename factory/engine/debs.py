"""Packages for the engine: apt installs, a private apt for another suite, the .deb cache, unpacking.

The private apt (Debian 12: the engine .debs from trixie) has its own sources,
lists, cache and empty dpkg status under the cache directory, so the system's
apt state is never read or written (machine-wide apt.conf.d settings such as a
proxy still apply). Its sources are the machine's own mirrors (factory.aptsources)
with the suite changed: no mirror is ever named in the code. Downloaded .debs are
kept in the cache, so a warm machine downloads nothing.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from factory import aptsources
from factory.errors import CommandFailed
from factory.process import Runner

DEFAULT_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
# invoke-rc.d and deb-systemd-invoke ask it before starting a service; exit 101 means "not now".
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")
NO_START_POLICY = (
    "#!/bin/sh\n# Written by `factory engine up` while it installs packages; removed afterwards.\nexit 101\n"
)
# Waiting beats failing while unattended-upgrades or another apt run holds the lock.
LOCK_WAIT = ("-o", "DPkg::Lock::Timeout=600")
_UNTRUSTED = re.compile(r"^[WE]: .*(NO_PUBKEY|not signed|GPG error)", re.MULTILINE)
APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}


def missing_packages(commands: Runner, packages: Sequence[str]) -> list[str]:
    """The subset of `packages` dpkg does not have installed."""
    result = commands.run(["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\\n", *packages], check=False)
    installed = {line.split()[0] for line in result.stdout.splitlines() if line.endswith(" installed")}
    return [p for p in packages if p not in installed]


def install(commands: Runner, packages: Sequence[str], log: Path, *, no_start: Path | None = None) -> None:
    """apt-get install without recommends (binfmt-support would register qemu without the F flag).

    With `no_start` (the machine's policy-rc.d path), the packages' own services are not
    started during the install: on Debian 13, docker.io and containerd would otherwise start
    docker.service/docker.socket and containerd.service on the engine's own sockets.
    """
    env = {**os.environ, **APT_ENV}
    if not commands.run(["apt-cache", "show", *packages], check=False).ok:
        commands.run(["apt-get", "-q", *LOCK_WAIT, "update"], env=env, hint="apt-get update failed")
    argv = ["apt-get", "-q", "-y", "--no-install-recommends", *LOCK_WAIT, "install", *packages]
    with _services_not_started(no_start) if no_start is not None else contextlib.nullcontext():
        result = commands.run(argv, env=env, check=False)
    log.write_text(result.output)
    if not result.ok:
        raise CommandFailed(result.argv, result.returncode, result.output, hint=f"whole output in {log}")


@contextlib.contextmanager
def _services_not_started(policy: Path) -> Iterator[None]:
    """A policy-rc.d that denies every start, for the duration; an existing one is left in charge."""
    if policy.exists() or policy.is_symlink():
        yield
        return
    policy.write_text(NO_START_POLICY)
    policy.chmod(0o755)
    try:
        yield
    finally:
        policy.unlink(missing_ok=True)


def _sandbox_dir(parent: Path) -> Path:
    """A temporary directory apt's unprivileged download user (_apt) may write to."""
    parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=".dl.", dir=parent))
    _give_to_apt(path)
    return path


def _give_to_apt(path: Path) -> None:
    with contextlib.suppress(KeyError, OSError):
        os.chown(path, pwd.getpwnam("_apt").pw_uid, 0)


class DebCache:
    """Downloaded .debs, one version per package and architecture, reused across runs and instances."""

    def __init__(self, directory: Path, arch: str) -> None:
        self.directory = directory
        self.arch = arch

    def cached(self, package: str, arch: str | None = None) -> Path | None:
        """The newest cached .deb of `package` for `arch` (default: the host's), or None."""
        found = sorted(self.directory.glob(f"{package}_*_{arch or self.arch}.deb"), key=_natural)
        return found[-1] if found else None

    def store(self, downloaded: Iterable[Path]) -> list[Path]:
        """Move freshly downloaded .debs in, dropping older versions of the same packages."""
        stored = []
        for deb in downloaded:
            name, _, rest = deb.name.partition("_")
            arch = rest.rpartition("_")[2]
            for old in self.directory.glob(f"{name}_*_{arch}"):
                if old.name != deb.name:
                    old.unlink()
            target = self.directory / deb.name
            shutil.move(deb, target)
            stored.append(target)
        return stored

    def download_from_system(self, commands: Runner, packages: Sequence[str]) -> list[Path]:
        """`apt-get download` with the machine's own apt configuration (read-only use of its state)."""
        work = _sandbox_dir(self.directory)
        try:
            argv = ["apt-get", "-q", "download", *packages]
            if not commands.run(argv, cwd=work, check=False).ok:
                # A fresh machine may have no package lists yet.
                commands.run(["apt-get", "-q", *LOCK_WAIT, "update"], env={**os.environ, **APT_ENV})
                commands.run(argv, cwd=work, hint="apt-get download from this machine's own apt sources failed")
            return self.store(sorted(work.glob("*.deb")))
        finally:
            shutil.rmtree(work, ignore_errors=True)


def _natural(path: Path) -> list[int | str]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


class PrivateApt:
    """apt for another suite of the machine's own mirrors, with all its state in `root`."""

    def __init__(
        self,
        root: Path,
        suite: str,
        commands: Runner,
        *,
        host_codename: str,
        archs: Sequence[str],
        mirror: str | None = None,
        keyring: Path | None = None,
        etc_apt: Path = Path("/etc/apt"),
        say: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.root = root
        self.suite = suite
        self.host_codename = host_codename
        self.commands = commands
        self.archs = tuple(archs)
        self.mirror = mirror
        self.keyring = keyring
        self.etc_apt = etc_apt
        self.say = say

    @property
    def sources_file(self) -> Path:
        return self.root / "sources.list.d" / "factory.sources"

    @property
    def own_keyring(self) -> Path:
        """A newer archive keyring fetched when the machine's own does not verify the suite."""
        return self.root / "keyring.gpg"

    def sources(self) -> str:
        """deb822 sources: the machine's Debian mirrors, for this suite (+ -updates, -security).

        Only the entries of the machine's own release count, so a third-party
        repository in sources.list.d is never taken for the Debian archive.
        """
        found = aptsources.of_release(aptsources.read(self.etc_apt), self.host_codename)
        # The release is the one given, not this process's /etc/os-release (tests, other roots).
        mirrors = aptsources.mirrors(found, archive=self.mirror, codename=self.host_codename)
        if self.mirror:  # one explicit mirror: no security mirror is guessed beside it
            mirrors = replace(mirrors, security=None)
        keyring = self.own_keyring if self.own_keyring.is_file() else (self.keyring or DEFAULT_KEYRING)
        return replace(mirrors, signed_by=str(keyring)).sources(self.suite, ("main",))

    def prepare(self) -> None:
        for sub in ("sources.list.d", "preferences.d", "lists/partial", "cache/archives/partial"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "sources.list").write_text("")
        status = self.root / "status"
        if not status.exists():
            status.write_text("")
        self.sources_file.write_text(self.sources())
        for partial in ("lists/partial", "cache/archives/partial"):
            _give_to_apt(self.root / partial)

    def argv(self, *args: str) -> list[str]:
        """apt-get with every state directory pointed into `root`."""
        r = self.root
        options = {
            "Dir::Etc::SourceList": r / "sources.list",
            "Dir::Etc::SourceParts": r / "sources.list.d",
            "Dir::Etc::Preferences": r / "preferences",
            "Dir::Etc::PreferencesParts": r / "preferences.d",
            "Dir::State::Lists": r / "lists",
            "Dir::State::status": r / "status",
            "Dir::Cache": r / "cache",
            "Dir::Cache::pkgcache": "",
            "Dir::Cache::srcpkgcache": "",
            "Acquire::GzipIndexes": "true",
        }
        argv = ["apt-get", "-q"]
        for key, value in options.items():
            argv += ["-o", f"{key}={value}"]
        for arch in self.archs:
            argv += ["-o", f"APT::Architectures::={arch}"]
        return [*argv, *args]

    def update(self) -> None:
        """Refresh the private lists; fetch a newer archive keyring from the system's suites if needed."""
        self.prepare()
        result = self.commands.run(self.argv("update"), check=False)
        if result.ok and not _UNTRUSTED.search(result.output):
            return
        self.say(
            f"the machine's keyring does not verify '{self.suite}'; fetching debian-archive-keyring "
            "from the machine's own (trusted) suites"
        )
        self._fetch_keyring()
        self.prepare()
        result = self.commands.run(self.argv("update"), check=False)
        if not result.ok or _UNTRUSTED.search(result.output):
            raise CommandFailed(
                result.argv,
                result.returncode,
                result.output,
                hint=f"cannot verify the private '{self.suite}' source even with the newest archive keyring; "
                "set FACTORY_APT_KEYRING=<keyring.gpg>",
            )

    def _fetch_keyring(self) -> None:
        work = _sandbox_dir(self.root)
        try:
            self.commands.run(
                ["apt-get", "-q", "download", "debian-archive-keyring"],
                cwd=work,
                hint="could not download debian-archive-keyring from this machine's apt sources",
            )
            deb = next(work.glob("*.deb"))
            self.commands.run(["dpkg", "-x", str(deb), str(work / "x")])
            shutil.copyfile(work / "x" / DEFAULT_KEYRING.relative_to("/"), self.own_keyring)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def download(self, packages: Sequence[str], cache: DebCache) -> list[Path]:
        """`apt-get download` into the cache (refreshing the private lists first)."""
        self.update()
        work = _sandbox_dir(cache.directory)
        try:
            self.commands.run(
                self.argv("download", *packages),
                cwd=work,
                hint=f"apt-get download {' '.join(packages)} from the private '{self.suite}' source failed",
            )
            return cache.store(sorted(work.glob("*.deb")))
        finally:
            shutil.rmtree(work, ignore_errors=True)


STAMP = ".unpacked"


def unpacked(prefix: Path, debs: Sequence[Path]) -> bool:
    """True if exactly this set of .debs was the last one unpacked into `prefix`."""
    stamp = prefix / STAMP
    return stamp.is_file() and stamp.read_text().split() == sorted(d.name for d in debs)


def unpack(commands: Runner, prefix: Path, debs: Sequence[Path]) -> None:
    """`dpkg -x` each .deb into `prefix`, then record the set (same stamp format as the prototype)."""
    prefix.mkdir(parents=True, exist_ok=True)
    for deb in debs:
        commands.run(["dpkg", "-x", str(deb), str(prefix)])
    (prefix / STAMP).write_text("".join(f"{name}\n" for name in sorted(d.name for d in debs)))
