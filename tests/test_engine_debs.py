from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from factory.engine import debs
from factory.errors import EnvironmentProblem
from factory.process import Result
from tests.fakes import FakeRunner, ok

SOURCES = (
    "Types: deb\nURIs: http://mirror.test/debian\nSuites: bookworm bookworm-updates\nComponents: main\n"
    "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
    "Types: deb\nURIs: http://mirror.test/debian-security\nSuites: bookworm-security\nComponents: main\n"
    "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
)


def etc_apt(tmp_path: Path) -> Path:
    etc = tmp_path / "etc-apt"
    (etc / "sources.list.d").mkdir(parents=True)
    # A third-party repository sorts first and must not be taken for the Debian archive.
    (etc / "sources.list.d" / "a-vendor.list").write_text("deb http://vendor.test/apt stable main\n")
    (etc / "sources.list.d" / "debian.sources").write_text(SOURCES)
    return etc


def private_apt(tmp_path: Path, commands: FakeRunner, **kwargs: object) -> debs.PrivateApt:
    return debs.PrivateApt(
        tmp_path / "apt-trixie",
        "trixie",
        commands,
        host_codename="bookworm",
        archs=["amd64"],
        etc_apt=etc_apt(tmp_path),
        **kwargs,
    )


def test_trixie_sources_from_the_machines_own_mirrors(tmp_path: Path) -> None:
    assert private_apt(tmp_path, FakeRunner()).sources() == (
        "Types: deb\nURIs: http://mirror.test/debian\nSuites: trixie trixie-updates\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        "Types: deb\nURIs: http://mirror.test/debian-security\nSuites: trixie-security\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    )


def test_sources_with_an_explicit_mirror_and_a_fetched_keyring(tmp_path: Path) -> None:
    apt = private_apt(tmp_path, FakeRunner(), mirror="http://override.test/debian")
    apt.root.mkdir()
    apt.own_keyring.write_text("key")
    assert apt.sources() == (
        "Types: deb\nURIs: http://override.test/debian\nSuites: trixie trixie-updates\nComponents: main\n"
        f"Signed-By: {apt.own_keyring}\n"
    )


def test_private_apt_keeps_all_state_in_its_own_directory(tmp_path: Path) -> None:
    apt = private_apt(tmp_path, FakeRunner())
    argv = apt.argv("update")
    root = apt.root
    for option in (
        f"Dir::Etc::SourceParts={root}/sources.list.d",
        f"Dir::State::Lists={root}/lists",
        f"Dir::State::status={root}/status",
        f"Dir::Cache={root}/cache",
        "APT::Architectures::=amd64",
    ):
        assert option in argv
    assert argv[-1] == "update"
    apt.prepare()
    assert (root / "status").read_text() == "" and (root / "sources.list").read_text() == ""
    assert (root / "sources.list.d" / "factory.sources").read_text() == apt.sources()


def fake_deb(name: str) -> Callable[[tuple[str, ...], Path | None], Result]:
    def answer(argv: tuple[str, ...], cwd: Path | None) -> Result:
        assert cwd is not None
        (cwd / name).write_bytes(b"deb")
        return ok()

    return answer


def test_untrusted_suite_fetches_the_archive_keyring_from_the_system_suites(tmp_path: Path) -> None:
    def unpack_keyring(argv: tuple[str, ...], cwd: Path | None) -> Result:
        target = Path(argv[-1]) / "usr/share/keyrings/debian-archive-keyring.gpg"
        target.parent.mkdir(parents=True)
        target.write_text("newer keyring")
        return ok()

    commands = FakeRunner(
        [
            (["update"], [ok(stderr="W: GPG error: trixie InRelease: NO_PUBKEY 762F67A0B2C39DE4\n"), ok()]),
            (["download", "debian-archive-keyring"], fake_deb("debian-archive-keyring_2025.1_all.deb")),
            (["dpkg", "-x"], unpack_keyring),
        ]
    )
    said: list[str] = []
    apt = private_apt(tmp_path, commands, say=said.append)
    apt.update()
    assert apt.own_keyring.read_text() == "newer keyring"
    assert f"Signed-By: {apt.own_keyring}" in apt.sources_file.read_text()
    assert len(commands.called("update")) == 2
    # The keyring comes from the system's own apt configuration, not the private one.
    (download,) = commands.called("download", "debian-archive-keyring")
    assert not any(a.startswith("Dir::") for a in download)
    assert "does not verify 'trixie'" in said[0]


def test_a_suite_that_stays_untrusted_is_an_error(tmp_path: Path) -> None:
    commands = FakeRunner(
        [
            (["update"], ok(stderr="E: The repository is not signed.\n")),
            (["download", "debian-archive-keyring"], fake_deb("k_1_all.deb")),
            (["dpkg", "-x"], lambda argv, cwd: _write(Path(argv[-1]) / debs.DEFAULT_KEYRING.relative_to("/"))),
        ]
    )
    with pytest.raises(EnvironmentProblem, match="set FACTORY_APT_KEYRING"):
        private_apt(tmp_path, commands).update()


def _write(path: Path) -> Result:
    path.parent.mkdir(parents=True)
    path.write_text("k")
    return ok()


def test_download_stores_into_the_cache_dropping_older_versions(tmp_path: Path) -> None:
    cache = debs.DebCache(tmp_path / "debs", "amd64")
    cache.directory.mkdir()
    (cache.directory / "containerd_1.7.20_amd64.deb").write_bytes(b"old")
    (cache.directory / "containerd_1.7.20_arm64.deb").write_bytes(b"other arch")
    commands = FakeRunner([(["download", "containerd"], fake_deb("containerd_1.7.24_amd64.deb"))])
    stored = private_apt(tmp_path, commands).download(["containerd"], cache)
    assert stored == [cache.directory / "containerd_1.7.24_amd64.deb"]
    assert sorted(p.name for p in cache.directory.iterdir()) == [
        "containerd_1.7.20_arm64.deb",
        "containerd_1.7.24_amd64.deb",
    ]
    assert cache.cached("containerd") == stored[0]
    assert cache.cached("containerd", "arm64") == cache.directory / "containerd_1.7.20_arm64.deb"
    assert cache.cached("docker.io") is None
    (download,) = commands.called("download")
    assert download[-1] == "containerd" and "Dir::State::status=" + str(tmp_path / "apt-trixie/status") in download


def test_registry_deb_from_the_system_updates_lists_on_a_fresh_machine(tmp_path: Path) -> None:
    cache = debs.DebCache(tmp_path / "debs", "amd64")
    commands = FakeRunner(
        [
            (["download"], [ok(stderr="E: Can't select candidate", returncode=100), ok()]),
        ]
    )
    assert cache.download_from_system(commands, ["docker-registry"]) == []  # the fake downloads nothing
    assert commands.calls[0] == ("apt-get", "-q", "download", "docker-registry")
    assert commands.calls[1] == ("apt-get", "-q", "-o", "DPkg::Lock::Timeout=600", "update")
    assert commands.calls[2] == commands.calls[0]


def test_install_only_updates_lists_when_apt_does_not_know_the_packages(tmp_path: Path) -> None:
    commands = FakeRunner([(["apt-cache"], ok(returncode=100))])
    debs.install(commands, ["runc", "tini"], tmp_path / "apt.log")
    assert [c[:2] for c in commands.calls] == [("apt-cache", "show"), ("apt-get", "-q"), ("apt-get", "-q")]
    assert commands.calls[-1] == (
        "apt-get",
        "-q",
        "-y",
        "--no-install-recommends",
        "-o",
        "DPkg::Lock::Timeout=600",
        "install",
        "runc",
        "tini",
    )
    known = FakeRunner()
    debs.install(known, ["runc"], tmp_path / "apt.log")
    assert not known.called("update")


def test_failed_install_names_the_log(tmp_path: Path) -> None:
    commands = FakeRunner([(["install"], ok(stdout="E: Unable to locate package nope\n", returncode=100))])
    with pytest.raises(
        EnvironmentProblem, match=r"-y .* install nope` failed with exit code 100: whole output in .*apt.log\nE: Unable"
    ):
        debs.install(commands, ["nope"], tmp_path / "apt.log")


def test_missing_packages() -> None:
    commands = FakeRunner(
        [(["dpkg-query"], ok(stdout="runc installed\ntini config-files\n", stderr="no packages found matching x"))]
    )
    assert debs.missing_packages(commands, ["runc", "tini", "x"]) == ["tini", "x"]


def test_unpack_only_when_the_set_changed(tmp_path: Path) -> None:
    prefix = tmp_path / "prefix"
    wanted = [tmp_path / "b_2_amd64.deb", tmp_path / "a_1_amd64.deb"]
    assert not debs.unpacked(prefix, wanted)
    commands = FakeRunner()
    debs.unpack(commands, prefix, wanted)
    assert commands.calls == [("dpkg", "-x", str(w), str(prefix)) for w in wanted]
    # The prototype's stamp: sorted basenames, one a line.
    assert (prefix / ".unpacked").read_text() == "a_1_amd64.deb\nb_2_amd64.deb\n"
    assert debs.unpacked(prefix, list(reversed(wanted)))
    assert not debs.unpacked(prefix, [*wanted, tmp_path / "c_1_amd64.deb"])


def test_private_sources_use_the_given_release_not_this_machines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On a Debian 13 machine /etc/os-release says trixie; the private apt was asked for bookworm's mirrors.
    monkeypatch.setattr("factory.aptsources.host_codename", lambda *_: "trixie")
    assert (
        "URIs: http://mirror.test/debian\nSuites: trixie trixie-updates\n"
        in private_apt(tmp_path, FakeRunner()).sources()
    )


def test_install_with_no_start_denies_service_starts_only_while_it_runs(tmp_path: Path) -> None:
    policy = tmp_path / "policy-rc.d"
    seen: list[str] = []

    def apt_install(argv: tuple[str, ...], cwd: Path | None) -> Result:
        seen.append(policy.read_text())
        assert policy.stat().st_mode & 0o111
        return ok()

    debs.install(FakeRunner([(["install"], apt_install)]), ["docker.io"], tmp_path / "apt.log", no_start=policy)
    assert len(seen) == 1 and seen[0].rstrip().endswith("exit 101")
    assert not policy.exists()


def test_install_leaves_an_existing_policy_rc_d_alone(tmp_path: Path) -> None:
    policy = tmp_path / "policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 0\n")
    debs.install(FakeRunner(), ["docker.io"], tmp_path / "apt.log", no_start=policy)
    assert policy.read_text() == "#!/bin/sh\nexit 0\n"
