"""A Debian archive read over HTTP(S): Release files, the Packages indexes they vouch for, and what apt would
install from them.

`factory lock` resolves the OS packages of the catalogue here, from the same
mirror and suites the OS bootstrap uses (factory.osbase.mirrors_for), never
from guesses: the InRelease (else Release) file of each suite names the
sha256 and size of every index, and a Packages file that does not match is
refused. The Release file's own signature is not checked (integrity against
the Release file, not authenticity; apt checks signatures when it builds).

The dependency closure is an approximation of apt, documented in README.md:
Pre-Depends and Depends only (no Recommends: the factory installs with
--no-install-recommends), version constraints ignored (each package is the
suites' highest version, as apt picks with equal pins), for an alternative
`a | b` the first one already selected, else the first the archive has, and a
virtual package through its providers (one already selected, else the first
by name).
"""

from __future__ import annotations

import gzip
import hashlib
import lzma
import re
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from factory import debversion, references
from factory.errors import EnvironmentProblem

COMPONENT = "main"  # what the OS sources name (factory.aptsources.Mirrors.sources)
TIMEOUT = 60.0  # seconds without an answer before a mirror counts as unreachable
# Packages files the archive may offer, best compression first.
_COMPRESSIONS = ((".xz", lzma.decompress), (".gz", gzip.decompress), ("", bytes))
_PGP_SIGNED = "-----BEGIN PGP SIGNED MESSAGE-----"
_PGP_SIGNATURE = "-----BEGIN PGP SIGNATURE-----"
_VERSION_SUFFIX = re.compile(r"\s*\(.*?\)")


class NotFound(EnvironmentProblem):
    """The archive answered 404 for a file."""


class Fetcher:
    """GETs files from archives: a loopback mirror directly, others through the environment's proxy."""

    def __init__(self, timeout: float = TIMEOUT) -> None:
        self.timeout = timeout
        self._direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self._proxied = urllib.request.build_opener()

    def get(self, url: str) -> bytes:
        host = urllib.parse.urlsplit(url).hostname or ""
        opener = self._direct if references.loopback(host) else self._proxied
        try:
            with opener.open(url, timeout=self.timeout) as response:
                body: bytes = response.read()
                return body
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                raise NotFound(f"{url}: not found (HTTP 404)") from exc
            raise EnvironmentProblem(f"{url}: HTTP {exc.code}") from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            raise EnvironmentProblem(f"mirror unreachable: {url}: {reason}") from exc


@dataclass(frozen=True)
class Release:
    """One suite's Release file: its names and the sha256 and size of every index it lists."""

    url: str  # the dists/<suite>/ directory
    fields: Mapping[str, str]
    sha256: Mapping[str, tuple[str, int]]  # path below url -> (hex digest, size)

    @property
    def by_hash(self) -> bool:
        return self.fields.get("acquire-by-hash", "").lower() == "yes"


@dataclass(frozen=True)
class Package:
    """One binary package of a Packages index, reduced to what the lock needs."""

    name: str
    version: str
    source: str  # the source package (the binary's own name when the index gives none)
    depends: tuple[tuple[str, ...], ...] = ()  # Pre-Depends then Depends; each a group of alternatives
    provides: tuple[str, ...] = ()
    essential: bool = False
    required: bool = False  # Priority: required (part of mmdebstrap's minbase)


def read_release(fetcher: Fetcher, archive: str, suite: str) -> Release:
    """dists/<suite>/InRelease, else Release, parsed; refused when it describes another suite."""
    url = f"{archive.rstrip('/')}/dists/{suite}/"
    try:
        text = _clearsigned_body(fetcher.get(url + "InRelease").decode("utf-8", "replace"))
    except NotFound:
        text = fetcher.get(url + "Release").decode("utf-8", "replace")
    fields, sha256 = _release_fields(text)
    if suite not in (fields.get("suite"), fields.get("codename")):
        named = fields.get("codename") or fields.get("suite") or "no suite"
        raise EnvironmentProblem(f"{url}: the Release file is for {named}, not {suite}")
    if not sha256:
        raise EnvironmentProblem(f"{url}: the Release file lists no SHA256 sums")
    return Release(url, fields, sha256)


def read_packages(fetcher: Fetcher, release: Release, arch: str, component: str = COMPONENT) -> list[Package]:
    """The packages of one component and architecture, from the best compressed index the Release lists,
    checked against its sha256 and size."""
    stem = f"{component}/binary-{arch}/Packages"
    for suffix, decompress in _COMPRESSIONS:
        listed = release.sha256.get(stem + suffix)
        if listed is None:
            continue
        data = _fetch_listed(fetcher, release, stem + suffix, *listed)
        try:
            text = decompress(data).decode("utf-8", "replace")
        except (lzma.LZMAError, OSError, EOFError) as exc:
            raise EnvironmentProblem(f"{release.url}{stem + suffix}: cannot decompress: {exc}") from exc
        return parse_packages(text)
    raise EnvironmentProblem(f"{release.url}: the Release file lists no {stem} index for {arch}")


def _fetch_listed(fetcher: Fetcher, release: Release, path: str, digest: str, size: int) -> bytes:
    if release.by_hash:
        directory = path.rpartition("/")[0]
        try:
            data = fetcher.get(f"{release.url}{directory}/by-hash/SHA256/{digest}")
        except NotFound:  # a mirror may leave the by-hash files out
            data = fetcher.get(release.url + path)
    else:
        data = fetcher.get(release.url + path)
    actual = hashlib.sha256(data).hexdigest()
    if actual != digest or len(data) != size:
        raise EnvironmentProblem(
            f"{release.url}{path}: sha256 {actual} ({len(data)} bytes) does not match the Release file's"
            f" {digest} ({size} bytes): the mirror is inconsistent or changing; try again"
        )
    return data


def _clearsigned_body(text: str) -> str:
    """The signed text of an OpenPGP clear-signed message (InRelease), dash-escaping undone."""
    if not text.startswith(_PGP_SIGNED):
        return text
    header_end = text.find("\n\n")
    body = text[header_end + 2 :] if header_end >= 0 else ""
    body = body.split("\n" + _PGP_SIGNATURE, 1)[0]
    return "\n".join(line[2:] if line.startswith("- ") else line for line in body.split("\n"))


def _release_fields(text: str) -> tuple[dict[str, str], dict[str, tuple[str, int]]]:
    fields: dict[str, str] = {}
    sha256: dict[str, tuple[str, int]] = {}
    current = ""
    for line in text.splitlines():
        if line[:1] in (" ", "\t"):
            words = line.split()
            if current == "sha256" and len(words) == 3 and words[1].isdigit():
                sha256[words[2]] = (words[0].lower(), int(words[1]))
            continue
        key, _, value = line.partition(":")
        current = key.strip().lower()
        fields[current] = value.strip()
    return fields, sha256


def paragraphs(text: str) -> Iterator[dict[str, str]]:
    """The paragraphs of a Debian control file as {lower-case field: first line}; continuation lines are
    left out (no field the lock reads spans lines)."""
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            if not line or line[0] in " \t#":
                continue
            key, _, value = line.partition(":")
            fields[key.lower()] = value.strip()
        if fields:
            yield fields


def parse_packages(text: str) -> list[Package]:
    """Every package paragraph of a Packages index (paragraphs without Package or Version are skipped)."""
    found = []
    for fields in paragraphs(text):
        name, version = fields.get("package"), fields.get("version")
        if not name or not version:
            continue
        source = _VERSION_SUFFIX.sub("", fields.get("source", "")).strip() or name
        depends = (*relations(fields.get("pre-depends", "")), *relations(fields.get("depends", "")))
        provides = tuple(group[0] for group in relations(fields.get("provides", "")))
        found.append(
            Package(
                name,
                version,
                source,
                depends,
                provides,
                essential=fields.get("essential", "").lower() == "yes",
                required=fields.get("priority", "").lower() == "required",
            )
        )
    return found


def relations(value: str) -> tuple[tuple[str, ...], ...]:
    """`a (>= 1) | b:any, c` as (("a", "b"), ("c",)): names only, version constraints and qualifiers dropped."""
    groups = []
    for group in value.split(","):
        names = tuple(
            _VERSION_SUFFIX.sub("", alternative).split("[")[0].split("<")[0].strip().split(":")[0]
            for alternative in group.split("|")
        )
        names = tuple(n for n in names if n)
        if names:
            groups.append(names)
    return tuple(groups)


@dataclass
class Index:
    """The packages one release serves for one architecture, all its suites merged."""

    release: str
    arch: str
    versions: dict[str, list[Package]] = field(default_factory=dict)  # name -> every version, highest first
    providers: dict[str, list[str]] = field(default_factory=dict)  # virtual name -> real names, sorted

    @classmethod
    def of(cls, release: str, arch: str, packages: Iterable[Package]) -> Index:
        index = cls(release, arch)
        for package in packages:
            index.versions.setdefault(package.name, []).append(package)
        for name, found in index.versions.items():
            found.sort(key=lambda p: debversion.key(p.version), reverse=True)
            for virtual in found[0].provides:
                index.providers.setdefault(virtual, []).append(name)
        for names in index.providers.values():
            names.sort()
        return index

    def candidate(self, name: str, version: str | None = None) -> Package | None:
        """The highest version of `name` (or exactly `version`), None when the archive has no such package."""
        found = self.versions.get(name, [])
        if version is None:
            return found[0] if found else None
        return next((p for p in found if p.version == version), None)

    def minbase(self) -> list[Package]:
        """What mmdebstrap --variant=minbase installs first: Essential: yes, Priority: required, and apt."""
        chosen = [found[0] for found in self.versions.values() if found[0].essential or found[0].required]
        apt = self.candidate("apt")
        return sorted({p.name: p for p in [*chosen, *([apt] if apt else [])]}.values(), key=lambda p: p.name)

    def closure(self, roots: Sequence[Package], installed: Mapping[str, Package]) -> dict[str, Package]:
        """The packages apt would add to `installed` to install `roots`: the roots and their Pre-Depends and
        Depends, recursively (see the module docstring for how alternatives and virtual packages are chosen).
        Raises EnvironmentProblem for a dependency the archive cannot satisfy."""
        selected = {*installed, *(p.name for p in roots)}
        added: dict[str, Package] = {}
        queue = deque(p for p in roots if p.name not in installed)
        while queue:
            package = queue.popleft()
            if package.name in added:
                continue
            added[package.name] = package
            for group in package.depends:
                if any(self._satisfied(name, selected) for name in group):
                    continue
                chosen = next((c for c in (self._resolve(name, selected) for name in group) if c), None)
                if chosen is None:
                    raise EnvironmentProblem(
                        f"{self.release}/{self.arch}: {package.name} {package.version} depends on"
                        f" {' | '.join(group)}, which the archive does not have"
                    )
                selected.add(chosen.name)
                queue.append(chosen)
        return added

    def resolve(self, name: str) -> Package | None:
        """`name` itself, else a package providing it (the first by name); None when nothing does."""
        return self._resolve(name, set())

    def _satisfied(self, name: str, selected: set[str]) -> bool:
        return name in selected or any(p in selected for p in self.providers.get(name, ()))

    def _resolve(self, name: str, selected: set[str]) -> Package | None:
        real = self.candidate(name)
        if real is not None:
            return real
        providers = self.providers.get(name, [])
        preferred = next((p for p in providers if p in selected), providers[0] if providers else None)
        return self.candidate(preferred) if preferred else None


def read_indexes(
    fetcher: Fetcher,
    suites: Sequence[tuple[str, str]],
    release: str,
    arches: Sequence[str],
    note: Callable[[str], None],
    component: str = COMPONENT,
) -> dict[str, Index]:
    """The merged index of `release` per architecture, from (archive URL, suite) pairs
    (aptsources.Mirrors.suites); each suite's Release file is read once."""
    packages: dict[str, list[Package]] = {arch: [] for arch in arches}
    for archive, suite in suites:
        release_file = read_release(fetcher, archive, suite)
        for arch in arches:
            note(f"lock: reading {suite} {component} {arch}")
            packages[arch].extend(read_packages(fetcher, release_file, arch, component))
    return {arch: Index.of(release, arch, found) for arch, found in packages.items()}
