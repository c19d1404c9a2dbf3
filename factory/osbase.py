"""Bootstraps the unified OS root filesystem per architecture with mmdebstrap.

The rootfs tarball is the build context of rendered/os/<release>/Dockerfile
(`FROM scratch` + `ADD rootfs-${TARGETARCH}.tar /`). It is cached under the
site's cache directory, keyed by every input (definition, architecture,
mirrors), and reused until it is older than the configured maximum age, so a
warm rebuild costs no bootstrap at all.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from factory import aptsources, model
from factory.errors import BuildFailed, EnvironmentProblem
from factory.process import Runner, tail
from factory.site import Site

Progress = Callable[[str], None]
MAX_AGE = dt.timedelta(days=7)
BOOTSTRAP_TIMEOUT = 60 * 60  # an emulated arm64 bootstrap takes minutes, never an hour

# debconf answers given before tzdata is configured (the hook gets the rootfs as $1).
_ESSENTIAL_HOOK = (
    'printf "%s\\n" "tzdata tzdata/Areas select Etc" "tzdata tzdata/Zones/Etc select UTC" '
    '| chroot "$1" debconf-set-selections'
)


@dataclass(frozen=True)
class Rootfs:
    """A bootstrapped root filesystem for one architecture."""

    arch: str
    path: Path
    key: str
    epoch: int
    cached: bool


@dataclass(frozen=True)
class Recipe:
    """The rendered bootstrap inputs (rendered/os/<release>/customize.sh and dpkg.cfg)."""

    customize: Path
    dpkg_cfg: Path

    @classmethod
    def rendered(cls, directory: Path) -> Recipe:
        recipe = cls(directory / "customize.sh", directory / "dpkg.cfg")
        for path in (recipe.customize, recipe.dpkg_cfg):
            if not path.is_file():
                raise EnvironmentProblem(f"{path} does not exist: run `factory render`")
        return recipe


def command(os_base: model.OSBase, arch: str, sources: Path, recipe: Recipe, out: Path) -> list[str]:
    """The mmdebstrap argv for one architecture (root mode, written to a tar file)."""
    return [
        "mmdebstrap",
        "--mode=root",
        "--variant=minbase",
        f"--architectures={arch}",
        f"--include={','.join(os_base.packages)}",
        f"--dpkgopt={recipe.dpkg_cfg}",
        f"--essential-hook={_ESSENTIAL_HOOK}",
        f'--customize-hook=sh {recipe.customize} "$1"',
        "--skip=output/dev",
        "--format=tar",
        os_base.release,
        str(out),
        str(sources),
    ]


def inputs_key(os_base: model.OSBase, arch: str, sources_text: str, recipe: Recipe) -> str:
    """Digest of everything that shapes the rootfs; a change means a new bootstrap."""
    facts = {
        "release": os_base.release,
        "arch": arch,
        "packages": os_base.packages,
        "excludes": os_base.path_excludes,
        "includes": os_base.path_includes,
        "user": [os_base.user.name, os_base.user.uid, os_base.user.group, os_base.user.gid, os_base.user.home],
        "timezone": os_base.timezone,
        "snapshot": os_base.snapshot,
        "sources": sources_text,
        "recipe": [recipe.customize.read_text(), recipe.dpkg_cfg.read_text()],
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]


def mirrors_for(os_base: model.OSBase, site: Site, machine: list[aptsources.Source]) -> aptsources.Mirrors:
    """The archive (and security archive) the OS release's packages come from.

    A snapshot (factory.yaml, else stacks/os.yaml) freezes every package
    version: the archive is then the configured snapshot archive at that time.
    Otherwise the mirror of factory.yaml, else of stacks/os.yaml, else this
    machine's own Debian mirror.
    """
    snapshot = site.os.snapshot or os_base.snapshot
    if snapshot:
        if not site.os.snapshot_archive:
            raise EnvironmentProblem(
                f"snapshot {snapshot} is set but factory.yaml has no os.snapshot_archive"
                " (a URL with {snapshot}, e.g. an internal mirror of the snapshot service)"
            )
        security = site.os.snapshot_security_archive
        return aptsources.Mirrors(
            site.os.snapshot_archive.format(snapshot=snapshot),
            security.format(snapshot=snapshot) if security else None,
            None,
        )
    archive = site.os.mirror or os_base.mirror
    return aptsources.mirrors(machine, archive=archive, security=site.os.security_mirror)


def sources_for(os_base: model.OSBase, site: Site, machine: list[aptsources.Source]) -> str:
    """deb822 sources the rootfs is bootstrapped from (and that its apt keeps using); see `mirrors_for`."""
    text = mirrors_for(os_base, site, machine).sources(os_base.release)
    if site.os.snapshot or os_base.snapshot:
        # Snapshot Release files are past their Valid-Until date by design.
        return text.replace("Components:", "Check-Valid-Until: no\nComponents:")
    return text


class Bootstrapper:
    """Produces (or reuses) the rootfs tarball per architecture."""

    def __init__(
        self,
        os_base: model.OSBase,
        site: Site,
        recipe: Recipe,
        *,
        refresh: bool = False,
        etc_apt: Path = Path("/etc/apt"),
        runner: Runner | None = None,
    ) -> None:
        self.runner = runner or Runner()
        self.os_base = os_base
        self.recipe = recipe
        self.site = site
        self.refresh = refresh
        self.directory = site.cache_dir / "rootfs"
        self.sources_text = sources_for(os_base, site, aptsources.read(etc_apt))

    def rootfs(self, arch: str, progress: Progress) -> Rootfs:
        """The tarball for `arch`, bootstrapped only when missing, stale or refreshed."""
        key = inputs_key(self.os_base, arch, self.sources_text, self.recipe)
        path = self.directory / f"rootfs-{self.os_base.release}-{arch}-{key}.tar"
        meta = path.with_suffix(".json")
        if path.exists() and meta.exists() and not self.refresh:
            try:
                facts = json.loads(meta.read_text())
                age = dt.datetime.now(dt.UTC) - dt.datetime.fromtimestamp(facts["built"], dt.UTC)
                epoch = int(facts["epoch"])
            except (OSError, ValueError, KeyError, TypeError):
                progress(f"rootfs {arch}: unreadable cache metadata {meta.name}: bootstrapping again")
            else:
                if age < MAX_AGE:
                    progress(f"rootfs {arch}: cached ({path.name}, {age.days} d old)")
                    return Rootfs(arch, path, key, epoch, True)
        return self._bootstrap(arch, key, path, meta, progress)

    def _bootstrap(self, arch: str, key: str, path: Path, meta: Path, progress: Progress) -> Rootfs:
        if shutil.which("mmdebstrap") is None:
            raise EnvironmentProblem("mmdebstrap is not installed (apt-get install mmdebstrap)")
        self.directory.mkdir(parents=True, exist_ok=True)
        work = self.directory / f".work-{arch}-{os.getpid()}"
        work.mkdir(parents=True, exist_ok=True)
        try:
            sources = work / "sources"
            sources.write_text(self.sources_text)
            partial = work / "rootfs.tar"
            # The day of the bootstrap: stable within a day, and never 0 (a shadow
            # "last changed" of 0 would force a password change).
            today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            epoch = int(today.timestamp())
            env = {**os.environ, "SOURCE_DATE_EPOCH": str(epoch), "TMPDIR": str(work)}
            log = work / "mmdebstrap.log"
            progress(
                f"rootfs {arch}: bootstrapping {self.os_base.release} with mmdebstrap (log: {path.with_suffix('.log')})"
            )
            start = time.monotonic()
            argv = command(self.os_base, arch, sources, self.recipe, partial)
            result = self.runner.run(argv, check=False, env=env, log=log, timeout=BOOTSTRAP_TIMEOUT)
            shutil.copyfile(log, path.with_suffix(".log"))
            if result.returncode != 0:
                raise BuildFailed(f"mmdebstrap failed for {arch} (exit {result.returncode}):\n{tail(log, 20)}")
            os.replace(partial, path)
            partial_meta = work / "meta.json"
            partial_meta.write_text(json.dumps({"built": time.time(), "epoch": epoch, "key": key}))
            os.replace(partial_meta, meta)
            size = path.stat().st_size / 1e6
            progress(f"rootfs {arch}: {size:.1f} MB in {time.monotonic() - start:.0f} s")
            # Tarballs of other input sets may belong to another checkout sharing this
            # cache: only those past the maximum age (which nobody reuses) go.
            cutoff = time.time() - MAX_AGE.total_seconds()
            for stale in self.directory.glob(f"rootfs-{self.os_base.release}-{arch}-*.tar"):
                if stale != path and stale.stat().st_mtime < cutoff:
                    stale.unlink(missing_ok=True)
                    stale.with_suffix(".json").unlink(missing_ok=True)
                    stale.with_suffix(".log").unlink(missing_ok=True)
            return Rootfs(arch, path, key, epoch, False)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def prepare_context(self, platforms: tuple[str, ...], context: Path, progress: Progress) -> None:
        """Place rootfs-<arch>.tar for every platform into the OS build context."""
        for platform in platforms:
            arch = platform.split("/")[1]
            rootfs = self.rootfs(arch, progress)
            target = context / f"rootfs-{arch}.tar"
            target.unlink(missing_ok=True)
            try:
                os.link(rootfs.path, target)
            except OSError:
                shutil.copyfile(rootfs.path, target)
