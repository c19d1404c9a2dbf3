"""The Debian archive reader: versions, control files, Release checks and the dependency closure."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from factory import archive, debversion
from factory.errors import EnvironmentProblem
from tests.support import fakearchive
from tests.support.fakearchive import package


@pytest.mark.parametrize(
    ("older", "newer"),
    [
        ("1.0", "1.0-1"),
        ("1.0~rc1", "1.0"),
        ("1.0~~", "1.0~"),
        ("3.5.1-1", "3.5.1-1+deb13u1"),
        ("3.5.10-1~deb13u1", "3.5.10-1"),
        ("1:1.0", "2:0.1"),
        ("9.9", "1:0.1"),
        ("2.41-12", "2.41-12+b1"),
        ("1.9", "1.10"),
        ("1.0", "1.0a"),
        ("1.0a", "1.0+"),
        ("0.5.12-2", "0.5.12-12"),
    ],
)
def test_versions_sort_as_dpkg_sorts_them(older: str, newer: str) -> None:
    assert debversion.compare(older, newer) < 0 < debversion.compare(newer, older)
    assert debversion.compare(newer, newer) == 0
    assert sorted([newer, older], key=debversion.key) == [older, newer]


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="no dpkg here")
def test_versions_agree_with_dpkg() -> None:
    versions = ["1.0", "1.0-1", "1.0~rc1", "1:0.9", "1.0+b1", "1.0.0", "1.00", "1.0a~", "1.0a", "0~", "2.41-12+b1"]
    for a in versions:
        for b in versions:
            expected = [
                subprocess.run(["dpkg", "--compare-versions", a, op, b], check=False).returncode == 0
                for op in ("lt", "eq", "gt")
            ]
            got = debversion.compare(a, b)
            assert expected == [got < 0, got == 0, got > 0], (a, b)


def test_relations_keep_names_and_alternatives_only() -> None:
    assert archive.relations("libc6 (>= 2.34), debconf (>= 0.5) | debconf-2.0, python3:any, libx [amd64]") == (
        ("libc6",),
        ("debconf", "debconf-2.0"),
        ("python3",),
        ("libx",),
    )
    assert archive.relations("") == ()


def test_packages_paragraphs_give_name_version_source() -> None:
    text = fakearchive.control(
        [
            package("libgcc-s1", "14.2.0-19", Source="gcc-14 (14.2.0-19)", Depends="libc6"),
            package("tini", "0.19.0-3"),
            package("dash", "0.5.12-12", Essential="yes", Priority="required", **{"Pre-Depends": "libc6"}),
        ],
        "amd64",
    )
    found = {p.name: p for p in archive.parse_packages(text)}
    assert found["libgcc-s1"].source == "gcc-14"  # the "(version)" of a binNMU'd source is dropped
    assert found["tini"].source == "tini"  # no Source field: the binary's own name
    assert found["dash"].essential and found["dash"].required
    assert found["dash"].depends == (("libc6",),)  # Pre-Depends count; the Description's lines do not


def test_inrelease_body_is_unwrapped() -> None:
    signed = (
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nSuite: stable\n- -dash escaped\n"
        "-----BEGIN PGP SIGNATURE-----\n\nxyz\n-----END PGP SIGNATURE-----\n"
    )
    assert archive._clearsigned_body(signed) == "Suite: stable\n-dash escaped"


def _index(packages: list[archive.Package]) -> archive.Index:
    return archive.Index.of("trixie", "amd64", packages)


def _p(name: str, depends: str = "", provides: tuple[str, ...] = (), **flags: bool) -> archive.Package:
    return archive.Package(name, "1.0", name, archive.relations(depends), provides, **flags)


def _get(index: archive.Index, name: str) -> archive.Package:
    found = index.resolve(name)
    assert found is not None, name
    return found


def test_closure_first_alternative_virtual_through_provider_and_on_top_of_installed() -> None:
    index = _index(
        [
            _p("app", "liba | libb, virtual-thing, libc6"),
            _p("liba", "libc6"),
            _p("libb"),
            _p("zprovider", provides=("virtual-thing",)),
            _p("aprovider", provides=("virtual-thing",)),
            _p("libc6"),
        ]
    )
    assert sorted(index.closure([_get(index, "app")], {})) == ["app", "aprovider", "liba", "libc6"]
    below = {"libc6": _get(index, "libc6"), "zprovider": _get(index, "zprovider")}
    added = index.closure([_get(index, "app")], below)
    assert sorted(added) == ["app", "liba"]  # libc6 and a provider are there already


def test_closure_alternative_already_selected_wins() -> None:
    index = _index([_p("app", "liba | libb"), _p("liba"), _p("libb")])
    assert sorted(index.closure([_get(index, "app"), _get(index, "libb")], {})) == ["app", "libb"]


def test_highest_version_across_suites_and_exact_versions() -> None:
    old = archive.Package("openssl", "3.5.1-1", "openssl")
    new = archive.Package("openssl", "3.5.1-1+deb13u1", "openssl")
    index = _index([new, old])
    assert index.candidate("openssl") == new
    assert index.candidate("openssl", "3.5.1-1") == old
    assert index.candidate("openssl", "9") is None


def test_unsatisfiable_dependency_is_an_environment_problem() -> None:
    index = _index([_p("app", "missing-lib | other-missing")])
    with pytest.raises(EnvironmentProblem, match=r"trixie/amd64: app 1.0 depends on missing-lib \| other-missing"):
        index.closure([_get(index, "app")], {})


def test_minbase_is_essential_required_and_apt() -> None:
    index = _index([_p("dash", essential=True), _p("mawk", required=True), _p("apt"), _p("curl")])
    assert [p.name for p in index.minbase()] == ["apt", "dash", "mawk"]


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[fakearchive.FakeArchive]:
    yield from fakearchive.trixie(tmp_path / "archive")


def test_indexes_merge_suites(fake: fakearchive.FakeArchive) -> None:
    fake.suites[("debian-security", "trixie-security")] = {
        arch: [package("libssl3t64", "3.5.1-1+deb13u1", Source="openssl")] for arch in fakearchive.ARCHES
    }
    fake.publish()
    suites = [(fake.url(), "trixie"), (fake.url(), "trixie-updates"), (fake.url("debian-security"), "trixie-security")]
    indexes = archive.read_indexes(archive.Fetcher(), suites, "trixie", ["amd64", "arm64"], lambda _: None)
    assert _get(indexes["amd64"], "libssl3t64").version == "3.5.1-1+deb13u1"
    assert _get(indexes["arm64"], "libc6").version == "2.41-12+b1"


def test_release_of_another_suite_is_refused(fake: fakearchive.FakeArchive) -> None:
    release = fake.root / "debian/dists/trixie-updates"
    for name in ("InRelease", "Release"):
        path = release / name
        path.write_text(path.read_text().replace("Codename: trixie-updates", "Codename: bookworm-updates"))
    with pytest.raises(EnvironmentProblem, match="the Release file is for bookworm-updates, not trixie-updates"):
        archive.read_release(archive.Fetcher(), fake.url(), "trixie-updates")


def test_release_is_read_when_there_is_no_inrelease(fake: fakearchive.FakeArchive) -> None:
    (fake.root / "debian/dists/trixie/InRelease").unlink()
    release = archive.read_release(archive.Fetcher(), fake.url(), "trixie")
    assert "main/binary-arm64/Packages.xz" in release.sha256


def test_by_hash_files_are_used_when_the_release_says_so(fake: fakearchive.FakeArchive) -> None:
    fake.by_hash = True
    fake.publish()
    packages = fake.root / "debian/dists/trixie/main/binary-amd64/Packages.xz"
    packages.write_bytes(b"stale: only the by-hash file is current")
    release = archive.read_release(archive.Fetcher(), fake.url(), "trixie")
    assert {p.name for p in archive.read_packages(archive.Fetcher(), release, "amd64")} >= {"curl", "libc6"}


def test_a_packages_file_that_does_not_match_its_release_is_refused(fake: fakearchive.FakeArchive) -> None:
    packages = fake.root / "debian/dists/trixie/main/binary-amd64/Packages.xz"
    packages.write_bytes(packages.read_bytes()[:-1] + b"\0")
    release = archive.read_release(archive.Fetcher(), fake.url(), "trixie")
    with pytest.raises(EnvironmentProblem, match=r"Packages.xz: sha256 [0-9a-f]{64} .* does not match the Release"):
        archive.read_packages(archive.Fetcher(), release, "amd64")


def test_an_unreachable_mirror_is_an_environment_problem(fake: fakearchive.FakeArchive) -> None:
    fake.stop()
    with pytest.raises(EnvironmentProblem, match=r"mirror unreachable: http://127\.0\.0\.1:"):
        archive.read_release(archive.Fetcher(timeout=5), fake.url(), "trixie")
