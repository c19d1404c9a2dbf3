"""A small Debian archive served over HTTP from 127.0.0.1, for tests that must not reach a real mirror.

Files are laid out as a mirror has them: <archive>/dists/<suite>/InRelease
(clear-signed form, dummy signature) and Release, whose SHA256 section
names main/binary-<arch>/Packages.xz and Packages.gz with their real sums and
sizes; the Packages files are Debian control files. Change `suites` and call
`publish()` again to make the archive move.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import lzma
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

ARCHES = ("amd64", "arm64")
Paragraph = dict[str, str]


def package(name: str, version: str, **fields: str) -> Paragraph:
    """A Packages paragraph with the fields a real index has (Filename, Size, SHA256, a two-line Description)."""
    paragraph = {"Package": name, **fields, "Version": version}
    paragraph.setdefault("Priority", "optional")
    paragraph.setdefault("Section", "misc")
    paragraph.setdefault("Maintainer", "Test Maintainers <test@example.invalid>")
    paragraph.setdefault("Installed-Size", "100")
    source = fields.get("Source", name).split(" ")[0]
    paragraph["Filename"] = f"pool/main/{source[0]}/{source}/{name}_{version}_ARCH.deb"
    paragraph["Size"] = "1000"
    paragraph["SHA256"] = hashlib.sha256(f"{name} {version}".encode()).hexdigest()
    paragraph["Description"] = f"{name} for tests\n a longer description\n .\n Depends: this line is not a field"
    return paragraph


def control(paragraphs: list[Paragraph], arch: str) -> str:
    """Paragraphs as a Debian control file (multi-line values continue on lines starting with a space)."""
    blocks = []
    for paragraph in paragraphs:
        lines = []
        for key, value in paragraph.items():
            first, *rest = value.replace("ARCH", arch).split("\n")
            lines.append(f"{key}: {first}")
            lines.extend(f" {line.strip()}" if line.strip() else " ." for line in rest)
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def base_packages() -> dict[str, list[Paragraph]]:
    """The `main` packages of trixie per architecture: a minbase, the fixture catalogue's packages and their
    dependencies (alternatives, virtual packages, Source fields with and without a version)."""
    common = [
        package("base-files", "13.8", Essential="yes", Priority="required", Depends="awk"),
        package("dash", "0.5.12-12", Essential="yes", Priority="required", **{"Pre-Depends": "libc6 (>= 2.36)"}),
        package("mawk", "1.3.4.20250131-1", Priority="required", Provides="awk", Depends="libc6 (>= 2.38)"),
        package("gawk", "1:5.2.1-2", Provides="awk", Depends="libc6"),
        package("debconf", "1.5.91", Priority="required", **{"Pre-Depends": "perl-base (>= 5.20.1-3~)"}),
        package("perl-base", "5.40.1-6", Essential="yes", Priority="required", Source="perl"),
        package("libgcc-s1", "14.2.0-19", Source="gcc-14 (14.2.0-19)", Depends="gcc-14-base (= 14.2.0-19), libc6"),
        package("gcc-14-base", "14.2.0-19", Source="gcc-14"),
        package("apt", "3.0.3", Depends="libapt-pkg7.0 (>= 3.0.3), sqv | gpgv, debian-archive-keyring"),
        package("libapt-pkg7.0", "3.0.3", Source="apt", Depends="libc6 (>= 2.38), libssl3t64 (>= 3.0.0)"),
        package("sqv", "1.3.0-3", Depends="libc6"),
        package("gpgv", "2.4.7-21", Source="gnupg2", Depends="libc6"),
        package("debian-archive-keyring", "2025.1", Priority="important"),
        package("ca-certificates", "20250419", Depends="openssl (>= 1.1.1), debconf (>= 0.5) | debconf-2.0"),
        package("openssl", "3.5.1-1", Depends="libc6 (>= 2.34), libssl3t64 (>= 3.5.1)"),
        package("libssl3t64", "3.5.1-1", Source="openssl", Provides="libssl3 (= 3.5.1-1)", Depends="libc6:any"),
        package("tini", "0.19.0-3"),
        package("curl", "8.14.1-2", Depends="libc6 (>= 2.34), libcurl4 (= 8.14.1-2)"),
        package("libcurl4t64", "8.14.1-2", Source="curl", Provides="libcurl4 (= 8.14.1-2)", Depends="libnghttp2-14"),
        package("libnghttp2-14", "1.64.0-1.1", Source="nghttp2", Depends="libc6 (>= 2.17)"),
        package("docker.io", "26.1.5+dfsg1-9+b1", Source="docker.io (26.1.5+dfsg1-9)", Depends="containerd"),
        package("containerd", "1.7.24~ds1-6+b1"),
    ]
    return {
        "amd64": [package("libc6", "2.41-12", Source="glibc", Depends="libgcc-s1"), *common],
        "arm64": [package("libc6", "2.41-12+b1", Source="glibc (2.41-12)", Depends="libgcc-s1"), *common],
    }


@dataclass
class FakeArchive:
    """An archive directory served by a thread; `suites` maps (archive, suite) to packages per arch."""

    root: Path
    suites: dict[tuple[str, str], dict[str, list[Paragraph]]] = field(default_factory=dict)
    by_hash: bool = False
    port: int = 0
    _server: http.server.ThreadingHTTPServer | None = None

    def url(self, archive: str = "debian") -> str:
        return f"http://127.0.0.1:{self.port}/{archive}"

    def publish(self) -> None:
        """Write every suite's Packages files, then its Release and InRelease naming their sums."""
        for (archive, suite), by_arch in self.suites.items():
            dists = self.root / archive / "dists" / suite
            listed: dict[str, bytes] = {}
            for arch in ARCHES:
                text = control(by_arch.get(arch, []), arch).encode()
                listed[f"main/binary-{arch}/Packages.xz"] = lzma.compress(text)
                listed[f"main/binary-{arch}/Packages.gz"] = gzip.compress(text, mtime=0)
            for path, data in listed.items():
                target = dists / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
                if self.by_hash:
                    hashed = target.parent / "by-hash" / "SHA256" / hashlib.sha256(data).hexdigest()
                    hashed.parent.mkdir(parents=True, exist_ok=True)
                    hashed.write_bytes(data)
            release = self.release_text(suite, listed)
            (dists / "Release").write_text(release)
            (dists / "InRelease").write_text(
                "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n"
                + release
                + "-----BEGIN PGP SIGNATURE-----\n\nnot a real signature\n-----END PGP SIGNATURE-----\n"
            )

    def release_text(self, suite: str, listed: Mapping[str, bytes]) -> str:
        lines = [
            "Origin: Debian",
            "Label: Debian",
            f"Suite: {'stable' if suite == 'trixie' else suite.replace('trixie', 'stable')}",
            f"Codename: {suite}",
            "Date: Sat, 01 Nov 2025 09:00:00 UTC",
            f"Acquire-By-Hash: {'yes' if self.by_hash else 'no'}",
            f"Architectures: all {' '.join(ARCHES)}",
            "Components: main",
            "Description: a fake archive for tests",
            "MD5Sum:",
            *(f" {hashlib.md5(data).hexdigest()} {len(data):>8} {path}" for path, data in sorted(listed.items())),
            "SHA256:",
            *(f" {hashlib.sha256(data).hexdigest()} {len(data):>8} {path}" for path, data in sorted(listed.items())),
        ]
        return "\n".join(lines) + "\n"

    def start(self) -> None:
        handler = functools.partial(_QuietHandler, directory=str(self.root))
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def trixie(root: Path) -> Iterator[FakeArchive]:
    """A started archive with trixie (main), trixie-updates and trixie-security (empty); stopped afterwards."""
    fake = FakeArchive(
        root,
        {
            ("debian", "trixie"): base_packages(),
            ("debian", "trixie-updates"): {},
            ("debian-security", "trixie-security"): {},
        },
    )
    fake.publish()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
