"""`factory lock [--check]` against a fake Debian archive on 127.0.0.1 (never a real mirror)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from factory import lockfile
from factory.cli import main
from factory.project import Project
from tests.conftest import REPO
from tests.support import fakearchive
from tests.support.fakearchive import package


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[fakearchive.FakeArchive]:
    yield from fakearchive.trixie(tmp_path / "archive")


@pytest.fixture
def project(make_project: Callable[..., Path], fake: fakearchive.FakeArchive, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("FACTORY_ENGINE_SUITE", raising=False)
    site = f"os:\n  mirror: {fake.url()}\n  security_mirror: {fake.url('debian-security')}\n"
    return make_project(files={"factory.yaml": site})


def lock(root: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--root", str(root), "lock", *args])


def test_lock_resolves_the_closure_with_source_packages(project: Path) -> None:
    result = lock(project)
    assert result.exit_code == 0, result.output
    document = lockfile.read(project / "factory.lock")
    assert document is not None
    amd64 = document["packages"]["trixie"]["amd64"]
    assert sorted(amd64) == [
        "apt",
        "base-files",
        "ca-certificates",
        "curl",
        "dash",
        "debconf",
        "debian-archive-keyring",
        "gcc-14-base",
        "libapt-pkg7.0",
        "libc6",
        "libcurl4t64",
        "libgcc-s1",
        "libnghttp2-14",
        "libssl3t64",
        "mawk",  # awk: the provider the minbase selects, not gawk
        "openssl",
        "perl-base",
        "sqv",  # sqv | gpgv: the first alternative
        "tini",
    ]
    assert amd64["libssl3t64"] == {"version": "3.5.1-1", "source": "openssl"}
    assert amd64["libgcc-s1"] == {"version": "14.2.0-19", "source": "gcc-14"}
    assert document["packages"]["trixie"]["arm64"]["libc6"] == {"version": "2.41-12+b1", "source": "glibc"}
    tool = document["targets"]["tool:1.0-runtime"]
    adds = ["curl", "libcurl4t64", "libnghttp2-14"]  # libcurl4 is virtual: its provider libcurl4t64
    assert tool == {"from": "os:trixie", "packages": {"amd64": adds, "arm64": adds}}
    assert set(lockfile.installed(document, "tool:1.0-runtime", "amd64")) == set(amd64)
    assert document["os"] == {
        "release": "trixie",
        "snapshot": None,
        "component": "main",
        "suites": ["trixie", "trixie-updates", "trixie-security"],
        "architectures": ["amd64", "arm64"],
    }
    tools = document["tools"]
    assert set(tools) == {"engine", "hadolint", "shellcheck", "trivy"}
    assert tools["engine"]["packages"]["amd64"] == {"containerd": "1.7.24~ds1-6+b1", "docker.io": "26.1.5+dfsg1-9+b1"}
    assert "127.0.0.1" not in (project / "factory.lock").read_text()  # package data, never the mirror


def test_lock_is_deterministic_and_check_passes_when_nothing_moved(project: Path) -> None:
    assert lock(project).exit_code == 0
    first = (project / "factory.lock").read_bytes()
    second_run = lock(project)
    assert second_run.exit_code == 0
    assert (project / "factory.lock").read_bytes() == first
    check = lock(project, "--check")
    assert check.exit_code == 0, check.output
    assert "factory.lock is current" in check.output


def test_check_exits_1_and_prints_what_moved(project: Path, fake: fakearchive.FakeArchive) -> None:
    assert lock(project).exit_code == 0
    before = (project / "factory.lock").read_bytes()
    fake.suites[("debian-security", "trixie-security")] = {
        arch: [package("libssl3t64", "3.5.1-1+deb13u1", Source="openssl", Depends="libc6, libzstd1")]
        for arch in fakearchive.ARCHES
    }
    fake.suites[("debian", "trixie")]["amd64"].append(package("libzstd1", "1.5.7+dfsg-1", Source="libzstd"))
    fake.suites[("debian", "trixie")]["arm64"].append(package("libzstd1", "1.5.7+dfsg-1", Source="libzstd"))
    fake.publish()
    result = lock(project, "--check")
    assert result.exit_code == 1
    assert "~ package trixie/amd64 libssl3t64: 3.5.1-1 (openssl) -> 3.5.1-1+deb13u1 (openssl)" in result.output
    assert "+ package trixie/arm64 libzstd1: 1.5.7+dfsg-1 (libzstd)" in result.output
    assert "+ target os:trixie amd64 installs libzstd1" in result.output
    assert "factory.lock is stale" in result.output
    assert (project / "factory.lock").read_bytes() == before  # --check writes nothing
    as_json = json.loads(lock(project, "--check", "--output", "json").stdout)
    assert as_json["ok"] is False and as_json["current"] is False and as_json["written"] is False
    assert {
        "what": "package trixie/amd64 libssl3t64",
        "old": "3.5.1-1 (openssl)",
        "new": "3.5.1-1+deb13u1 (openssl)",
    } in as_json["changes"]
    written = lock(project)
    assert written.exit_code == 0
    assert "~ package trixie/arm64 libssl3t64" in written.output
    assert lock(project, "--check").exit_code == 0


def test_check_without_a_lock_fails(project: Path) -> None:
    result = lock(project, "--check")
    assert result.exit_code == 1
    assert "factory.lock is stale (it does not exist): run `factory lock`" in result.output
    assert not (project / "factory.lock").exists()


def test_a_hand_edited_lock_is_stale(project: Path) -> None:
    assert lock(project).exit_code == 0
    path = project / "factory.lock"
    path.write_text(path.read_text().replace("format: 1", "format: 1\n# a comment"))
    result = lock(project, "--check")
    assert result.exit_code == 1
    assert "~ factory.lock: edited by hand or by another factory -> as `factory lock` writes it" in result.output


@pytest.mark.parametrize("args", [(), ("--check",)])
def test_an_unreachable_mirror_exits_5_and_leaves_the_lock(
    project: Path, fake: fakearchive.FakeArchive, args: tuple[str, ...]
) -> None:
    assert lock(project).exit_code == 0
    before = (project / "factory.lock").read_bytes()
    fake.stop()
    result = lock(project, *args)
    assert result.exit_code == 5
    assert f"mirror unreachable: {fake.url()}/dists/trixie/InRelease" in result.output
    assert (project / "factory.lock").read_bytes() == before


def test_an_index_that_does_not_match_its_release_exits_5(project: Path, fake: fakearchive.FakeArchive) -> None:
    assert lock(project).exit_code == 0
    before = (project / "factory.lock").read_bytes()
    fake.suites[("debian", "trixie")]["arm64"].append(package("extra", "1.0"))
    fake.publish()
    (fake.root / "debian/dists/trixie/Release").write_text("unused")  # InRelease is read
    stale = fake.root / "debian/dists/trixie/main/binary-arm64/Packages.xz"
    stale.write_bytes(stale.read_bytes() + b"\0")
    result = lock(project, "--output", "json")
    assert result.exit_code == 5
    error = json.loads(result.stdout)
    assert error["error"] == "EnvironmentProblem"
    assert "main/binary-arm64/Packages.xz: sha256" in error["message"]
    assert "does not match the Release file" in error["message"]
    assert (project / "factory.lock").read_bytes() == before


def test_a_package_the_archive_lacks_is_a_definition_error(
    make_project: Callable[..., Path], fake: fakearchive.FakeArchive
) -> None:
    site = f"os:\n  mirror: {fake.url()}\n  security_mirror: {fake.url('debian-security')}\n"
    tool = (Path(__file__).parent / "fixtures/minimal/stacks/tool.yaml").read_text()
    root = make_project(
        files={"factory.yaml": site, "stacks/tool.yaml": tool.replace("[curl]", "[curl, no-such-tool]")}
    )
    result = lock(root)
    assert result.exit_code == 3
    assert "stacks/tool.yaml" in result.output
    assert "tool:1.0-runtime installs no-such-tool, which trixie's archive does not have for amd64" in result.output
    assert not (root / "factory.lock").exists()


def test_the_committed_lock_is_current_in_form_and_covers_the_catalogue() -> None:
    text = (REPO / "factory.lock").read_text()
    document = lockfile.loads(text)
    assert lockfile.dumps(document) == text  # exactly as `factory lock` writes it
    catalogue = Project(REPO).load()
    assert set(document["targets"]) == {t.id for t in catalogue.targets}
    assert document["os"]["release"] == catalogue.os.release
    for target in catalogue.targets:
        for arch in document["os"]["architectures"]:
            assert lockfile.installed(document, target.id, arch) is not None  # every name is in the table
    assert set(document["os"]) == {"release", "snapshot", "component", "suites", "architectures"}  # no mirror
