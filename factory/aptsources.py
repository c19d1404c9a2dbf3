"""The build machine's own apt sources: where the OS base's packages come from.

No mirror is ever written into the repository; unless factory.yaml names one,
the OS bootstrap uses the mirror this machine's apt is configured with, for
the release the catalogue selects (which may differ from the machine's own).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from factory import osrelease
from factory.errors import EnvironmentProblem


@dataclass(frozen=True)
class Source:
    """One apt source: a URI with its suites and components."""

    types: tuple[str, ...]
    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]
    signed_by: str | None
    origin: str  # file it came from

    @property
    def is_security(self) -> bool:
        return any(s.endswith(("-security", "/updates")) for s in self.suites) or self.uri.rstrip("/").endswith(
            "-security"
        )


@dataclass(frozen=True)
class Mirrors:
    """The archive and security mirrors to bootstrap a release from."""

    archive: str
    security: str | None
    signed_by: str | None

    def suites(self, release: str) -> tuple[tuple[str, str], ...]:
        """(archive URI, suite) of every suite `sources` names: `release`, -updates, and -security when known."""
        found = ((self.archive, release), (self.archive, f"{release}-updates"))
        return (*found, (self.security, f"{release}-security")) if self.security else found

    def sources(self, release: str, components: Iterable[str] = ("main",)) -> str:
        """deb822 text for the suites of `release` (one stanza per archive)."""
        parts = " ".join(components)
        signed = f"Signed-By: {self.signed_by}\n" if self.signed_by else ""
        by_uri: dict[str, list[str]] = {}
        for uri, suite in self.suites(release):
            by_uri.setdefault(uri, []).append(suite)
        stanzas = [
            f"Types: deb\nURIs: {uri}\nSuites: {' '.join(suites)}\nComponents: {parts}\n{signed}"
            for uri, suites in by_uri.items()
        ]
        return "\n".join(stanzas)


def read(etc_apt: Path = Path("/etc/apt")) -> list[Source]:
    """Every enabled `deb` source in sources.list, sources.list.d/*.list and *.sources."""
    found: list[Source] = []
    files = [etc_apt / "sources.list", *sorted((etc_apt / "sources.list.d").glob("*.list"))]
    for path in files:
        if path.is_file():
            found.extend(_one_line(path))
    for path in sorted((etc_apt / "sources.list.d").glob("*.sources")):
        found.extend(_deb822(path))
    return [s for s in found if "deb" in s.types]


def mirrors(
    sources: list[Source], *, archive: str | None = None, security: str | None = None, codename: str | None = None
) -> Mirrors:
    """The Debian archive and security mirrors, configured values taking precedence.

    Only sources serving this machine's own Debian release (`codename`, default
    from /etc/os-release) count: a third-party repository beside them (Docker's,
    NodeSource's) must never be taken for the Debian archive.
    """
    codename = codename if codename is not None else host_codename()
    # Debian's archive serves the release codename with a `main` component; Docker's
    # repository, say, serves the codename too, but with `stable`.
    debian = [s for s in (of_release(sources, codename) if codename else sources) if "main" in s.components]
    main = next((s for s in debian if not s.is_security), None)
    sec = next((s for s in debian if s.is_security), None)
    if archive is None and main is None:
        raise EnvironmentProblem(
            f"no Debian archive for {codename or 'this release'} in this machine's apt sources (/etc/apt);"
            " set os.mirror in factory.yaml"
        )
    return Mirrors(
        archive=archive or (main.uri if main else ""),
        security=security or (sec.uri if sec else None),
        signed_by=main.signed_by if main and archive is None else None,
    )


def host_codename(os_release: Path = osrelease.OS_RELEASE) -> str | None:
    """VERSION_CODENAME of this machine, or None when it is not known."""
    return osrelease.read(os_release).get("VERSION_CODENAME") or None


def _one_line(path: Path) -> Iterable[Source]:
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        kind = words.pop(0)
        signed_by = None
        if words and words[0].startswith("["):
            options = []
            while words:
                word = words.pop(0)
                options.append(word.strip("[]"))
                if word.endswith("]"):
                    break
            for option in options:
                if option.startswith("signed-by="):
                    signed_by = option.split("=", 1)[1]
        if len(words) >= 2:
            yield Source((kind,), words[0], (words[1],), tuple(words[2:]), signed_by, str(path))


def _deb822(path: Path) -> Iterable[Source]:
    text = path.read_text(encoding="utf-8", errors="replace")
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or not line.strip() or line[0].isspace():
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        if not fields or fields.get("enabled", "yes").lower() == "no":
            continue
        for uri in fields.get("uris", "").split():
            yield Source(
                tuple(fields.get("types", "").split()),
                uri,
                tuple(fields.get("suites", "").split()),
                tuple(fields.get("components", "").split()),
                fields.get("signed-by"),
                str(path),
            )


def of_release(sources: Iterable[Source], codename: str) -> list[Source]:
    """The sources that serve `codename` (its main, -updates, -security or /updates suite)."""
    return [s for s in sources if any(suite.split("/")[0].split("-")[0] == codename for suite in s.suites)]
