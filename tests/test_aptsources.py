from __future__ import annotations

from pathlib import Path

import pytest

from factory import aptsources
from factory.errors import EnvironmentProblem


def _etc(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (tmp_path / "sources.list.d").mkdir(exist_ok=True)
    return tmp_path


def test_deb822_sources(tmp_path: Path) -> None:
    etc = _etc(
        tmp_path,
        {
            "sources.list.d/debian.sources": (
                "Types: deb\n# a comment\nURIs: http://mirror.test/debian\nSuites: bookworm bookworm-updates\n"
                "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
                "Types: deb\nURIs: http://mirror.test/debian-security\nSuites: bookworm-security\nComponents: main\n\n"
                "Types: deb-src\nURIs: http://src.test/debian\nSuites: bookworm\nComponents: main\n\n"
                "Enabled: no\nTypes: deb\nURIs: http://off.test/debian\nSuites: bookworm\nComponents: main\n"
            ),
            "sources.list.d/other.sources.disabled": "Types: deb\nURIs: http://x.test\nSuites: a\nComponents: b\n",
        },
    )
    found = aptsources.read(etc)
    assert [s.uri for s in found] == ["http://mirror.test/debian", "http://mirror.test/debian-security"]
    m = aptsources.mirrors(found, codename="bookworm")
    assert m == aptsources.Mirrors(
        "http://mirror.test/debian",
        "http://mirror.test/debian-security",
        "/usr/share/keyrings/debian-archive-keyring.gpg",
    )
    assert m.sources("trixie") == (
        "Types: deb\nURIs: http://mirror.test/debian\nSuites: trixie trixie-updates\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        "Types: deb\nURIs: http://mirror.test/debian-security\nSuites: trixie-security\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    )


def test_one_line_sources(tmp_path: Path) -> None:
    etc = _etc(
        tmp_path,
        {
            "sources.list": "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://m.test/debian trixie main contrib\n"
            "deb http://m.test/debian-security trixie-security main\n",
        },
    )
    found = aptsources.read(etc)
    assert found[0].signed_by == "/k.gpg" and found[0].components == ("main", "contrib")
    assert aptsources.mirrors(found, codename="trixie").security == "http://m.test/debian-security"


def test_configured_mirror_wins(tmp_path: Path) -> None:
    etc = _etc(tmp_path, {"sources.list": "deb http://m.test/debian trixie main\n"})
    m = aptsources.mirrors(aptsources.read(etc), archive="http://configured.test/debian", codename="trixie")
    assert m.archive == "http://configured.test/debian" and m.signed_by is None


def test_no_sources_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EnvironmentProblem, match=r"set os\.mirror in factory\.yaml"):
        aptsources.mirrors(aptsources.read(_etc(tmp_path, {})), codename="trixie")


def test_this_machine_has_a_mirror() -> None:
    # The machine's own configuration must yield an archive mirror (CI runs on Debian).
    if not Path("/etc/apt").is_dir():
        pytest.skip("not a Debian machine")
    assert aptsources.mirrors(aptsources.read()).archive.startswith(("http://", "https://", "file:/"))


def test_sources_of_one_release(tmp_path: Path) -> None:
    etc = _etc(
        tmp_path,
        {
            "sources.list": "deb http://vendor.test/apt stable main\n"
            "deb http://m.test/debian bookworm main\n"
            "deb http://m.test/debian-security bookworm-security main\n"
            "deb http://old.test/debian-security bullseye/updates main\n",
        },
    )
    found = aptsources.of_release(aptsources.read(etc), "bookworm")
    assert [s.uri for s in found] == ["http://m.test/debian", "http://m.test/debian-security"]
    assert aptsources.mirrors(found, codename="bookworm").archive == "http://m.test/debian"
    assert [s.uri for s in aptsources.of_release(aptsources.read(etc), "bullseye")] == [
        "http://old.test/debian-security"
    ]


def test_third_party_repositories_are_never_the_debian_archive(tmp_path: Path) -> None:
    etc = _etc(
        tmp_path,
        {
            "sources.list.d/docker.list": "deb [signed-by=/etc/apt/keyrings/docker.asc] "
            "https://download.example.invalid/linux/debian bookworm stable\n",
            "sources.list.d/debian.sources": "Types: deb\nURIs: http://m.test/debian\nSuites: bookworm\n"
            "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n",
        },
    )
    m = aptsources.mirrors(aptsources.read(etc), codename="bookworm")
    assert m.archive == "http://m.test/debian"
    assert m.signed_by == "/usr/share/keyrings/debian-archive-keyring.gpg"


def test_host_codename(tmp_path: Path) -> None:
    release = tmp_path / "os-release"
    release.write_text('PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nVERSION_CODENAME=trixie\n')
    assert aptsources.host_codename(release) == "trixie"
    assert aptsources.host_codename(tmp_path / "missing") is None
