"""What `factory engine up` installs: Debian packages on the host, the engine's .debs into the prefix.

On Debian 12 the engine comes from the next release's .debs, fetched through a
private apt configuration built from this machine's own apt sources (the
system's apt state untouched) and cached; Debian 13 apt-installs its own
packages, their services kept from starting on the engine's sockets.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from factory.engine import debs
from factory.engine.host import ENGINE_PACKAGES, REGISTRY_PACKAGE, Host
from factory.engine.layout import Layout
from factory.errors import EnvironmentProblem
from factory.process import Runner

Report = Callable[[str], None]
# Debian's own services of the engine packages (Debian 13 apt-installs them).
SYSTEMD_UNITS = {"containerd": ("containerd.service",), "docker.io": ("docker.socket", "docker.service")}


def apt_packages(host: Host, layout: Layout, commands: Runner, say: Report, policy_rc_d: Path, systemd: Path) -> None:
    """apt-get install the host packages the engine needs that are missing (never starting their services)."""
    wanted = host.apt_packages
    missing = debs.missing_packages(commands, wanted)
    if not missing:
        say(f"apt packages already installed: {' '.join(wanted)}")
        return
    say(f"apt-get install {' '.join(missing)}")
    # Debian 13: docker.io and containerd would start Debian's own services on the
    # engine's sockets (then `up` fails on its own install); they are not started.
    engine = set(missing) & set(ENGINE_PACKAGES)
    no_start = policy_rc_d if engine else None
    debs.install(commands, missing, layout.logfile("apt-install"), no_start=no_start)
    if engine and systemd.is_dir():
        units = [u for p in sorted(engine) for u in SYSTEMD_UNITS.get(p, ())]
        # Enabled, they would take the sockets at the next boot: this engine owns them.
        commands.run(["systemctl", "disable", *units], check=False)
        say(f"disabled Debian's own {' '.join(units)} (the factory engine serves these sockets)")
    say(f"installed {' '.join(missing)}")


def fetch_debs(
    host: Host, layout: Layout, commands: Runner, say: Report, *, refresh: bool
) -> tuple[list[Path], list[Path]]:
    """The .debs to unpack (the engine's into the prefix, the tools' into prefix/tools), from the cache;
    downloads only what it lacks (or all, with `refresh`)."""
    lay = layout
    cache = debs.DebCache(lay.debs, host.arch)
    suite = (*host.prefix_packages, *host.tool_packages)
    fetched = False
    lacking = [p for p in suite if refresh or cache.cached(p) is None]
    if lacking:
        say(
            f"fetching {' '.join(lacking)} from a private '{lay.engine_suite}' source "
            "built from this machine's apt sources"
        )
        apt = debs.PrivateApt(
            lay.cache / f"apt-{lay.engine_suite}",
            lay.engine_suite,
            commands,
            host_codename=host.codename,
            archs=[host.arch],
            mirror=lay.apt_mirror,
            keyring=lay.apt_keyring,
            say=say,
        )
        say(f"downloaded {_sizes(apt.download(lacking, cache))}")
        fetched = True
    if refresh or cache.cached(REGISTRY_PACKAGE) is None:
        say(f"fetching {REGISTRY_PACKAGE} from this machine's own apt sources")
        say(f"downloaded {_sizes(cache.download_from_system(commands, [REGISTRY_PACKAGE]))}")
        fetched = True

    def cached(packages: tuple[str, ...]) -> list[Path]:
        found = []
        for package in packages:
            deb = cache.cached(package)
            if deb is None:
                raise EnvironmentProblem(f"no .deb of {package} for {host.arch} in {cache.directory} after download")
            found.append(deb)
        return found

    if not fetched:
        say(f"using the cached .debs in {cache.directory} (nothing downloaded)")
    return cached((*host.prefix_packages, REGISTRY_PACKAGE)), cached(host.tool_packages)


def _sizes(downloaded: list[Path]) -> str:
    total = sum(p.stat().st_size for p in downloaded)
    return f"{len(downloaded)} .deb(s), {total / 1e6:.1f} MB: {' '.join(p.name for p in downloaded)}"
