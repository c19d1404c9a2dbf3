"""Trivy's vulnerability DB written in plain Python, so tests can scan offline against advisories they plant.

trivy 0.76 reads `<cache-dir>/db/trivy.db` (a bbolt file, opened read-only) and `<cache-dir>/db/metadata.json`,
or downloads both as a one-layer OCI artifact given with `--db-repository`. The bbolt half follows bbolt's own page
format (go.etcd.io/bbolt: page.go, node.go, bucket.go, db.go); the trivy half follows trivy-db's buckets and JSON.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import struct
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# ---------------------------------------------------------------------------------------------------------------------
# bbolt: a B+tree of pages. Page 0 and 1 are meta pages, then the freelist, then leaf and branch pages. All integers
# are little-endian: bbolt writes its structs in native order and trivy runs on little-endian amd64/arm64.

MAGIC = 0xED0CDAED
FORMAT_VERSION = 2
PAGE_SIZE = 4096  # os.Getpagesize() on amd64 and most arm64, what bbolt picks for a new file
MAX_KEY_SIZE = 32768
MAX_VALUE_SIZE = (1 << 31) - 2

_BRANCH_PAGE, _LEAF_PAGE, _META_PAGE, _FREELIST_PAGE = 0x01, 0x02, 0x04, 0x10
_BUCKET_LEAF = 0x01  # a leaf element's flag: its value is a nested bucket, not data

_PAGE_HEADER = struct.Struct("<QHHI")  # page id, flags, element count, overflow pages after this one
_LEAF_ELEMENT = struct.Struct("<IIII")  # flags, pos (from this element to its key), key size, value size
_BRANCH_ELEMENT = struct.Struct("<IIQ")  # pos, key size, child page id
_BUCKET_HEADER = struct.Struct("<QQ")  # root page id (0: the bucket's page follows inline), sequence
# magic, version, page size, flags, root bucket (root page id, sequence), freelist page id, high water mark, txid
_META = struct.Struct("<IIIIQQQQQ")
_CHECKSUM = struct.Struct("<Q")

# bbolt splits a node that does not fit one page after filling a page to half (DefaultFillPercent), and never leaves
# fewer than two keys on a page; a node it does not split may span several pages (overflow).
_MIN_KEYS_PER_PAGE = 2
_FILL_PERCENT = 0.5

_FNV64_OFFSET = 0xCBF29CE484222325
_FNV64_PRIME = 0x100000001B3


def fnv1a64(data: bytes) -> int:
    """FNV-1a, 64 bits: the checksum bbolt keeps over each meta page."""
    value = _FNV64_OFFSET
    for byte in data:
        value = ((value ^ byte) * _FNV64_PRIME) & 0xFFFFFFFFFFFFFFFF
    return value


class Bucket:
    """A bbolt bucket built in memory: non-empty byte keys to values or to nested buckets."""

    def __init__(self) -> None:
        self._entries: dict[bytes, bytes | Bucket] = {}

    def put(self, key: bytes, value: bytes) -> None:
        """Set a key to a value; like bbolt's Put, a key that holds a bucket is refused."""
        _check_key(key)
        if len(value) > MAX_VALUE_SIZE:
            raise ValueError(f"value of {key!r} is {len(value)} bytes, bbolt's limit is {MAX_VALUE_SIZE}")
        if isinstance(self._entries.get(key), Bucket):
            raise ValueError(f"key {key!r} holds a bucket")
        self._entries[key] = bytes(value)

    def bucket(self, key: bytes) -> Bucket:
        """The nested bucket at a key, created when missing (bbolt's CreateBucketIfNotExists)."""
        _check_key(key)
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = Bucket()
        if not isinstance(entry, Bucket):
            raise ValueError(f"key {key!r} holds a value")
        return entry

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def items(self) -> list[tuple[bytes, bytes | Bucket]]:
        """The entries in bbolt's order: keys sorted bytewise."""
        return sorted(self._entries.items())


def _check_key(key: bytes) -> None:
    if not 0 < len(key) <= MAX_KEY_SIZE:
        raise ValueError(f"bbolt keys are 1 to {MAX_KEY_SIZE} bytes, got {len(key)}")


# A leaf element: (flags, key, value); a branch element: (first key of the child page, child page id).
_LeafElement = tuple[int, bytes, bytes]
_BranchElement = tuple[bytes, int]


def _leaf_body(elements: Sequence[_LeafElement]) -> bytes:
    # Element headers first, then keys and values in the same order; pos counts from each header.
    headers, data = bytearray(), bytearray()
    start = len(elements) * _LEAF_ELEMENT.size
    for index, (flags, key, value) in enumerate(elements):
        pos = start + len(data) - index * _LEAF_ELEMENT.size
        headers += _LEAF_ELEMENT.pack(flags, pos, len(key), len(value))
        data += key + value
    return bytes(headers + data)


def _branch_body(elements: Sequence[_BranchElement]) -> bytes:
    headers, data = bytearray(), bytearray()
    start = len(elements) * _BRANCH_ELEMENT.size
    for index, (key, child) in enumerate(elements):
        pos = start + len(data) - index * _BRANCH_ELEMENT.size
        headers += _BRANCH_ELEMENT.pack(pos, len(key), child)
        data += key
    return bytes(headers + data)


class _PageWriter:
    """Lays out a file's data pages in order, handing out page ids as pages are added."""

    def __init__(self, page_size: int) -> None:
        self.page_size = page_size
        self.pages: list[bytes] = []
        self.next_id = 3  # 0 and 1 are the meta pages, 2 the freelist

    def add(self, flags: int, count: int, body: bytes) -> int:
        """Append one page (spanning more pages if its body needs them); return its id."""
        page_id = self.next_id
        span = -(-(_PAGE_HEADER.size + len(body)) // self.page_size)
        page = _PAGE_HEADER.pack(page_id, flags, count, span - 1) + body
        self.pages.append(page.ljust(span * self.page_size, b"\0"))
        self.next_id += span
        return page_id

    def split(self, sizes: Sequence[int]) -> list[range]:
        """Cut a node's elements (their sizes) into pages where bbolt's node.split would."""
        threshold = int(self.page_size * _FILL_PERCENT)
        pages: list[range] = []
        start = 0
        while True:
            rest = sizes[start:]
            if len(rest) <= 2 * _MIN_KEYS_PER_PAGE or _PAGE_HEADER.size + sum(rest) < self.page_size:
                pages.append(range(start, len(sizes)))
                return pages
            # bbolt's splitIndex: stop before the element that would cross the threshold, keep two keys each side.
            used, cut = _PAGE_HEADER.size, 0
            for cut in range(len(rest) - _MIN_KEYS_PER_PAGE):
                if cut >= _MIN_KEYS_PER_PAGE and used + rest[cut] > threshold:
                    break
                used += rest[cut]
            pages.append(range(start, start + cut))
            start += cut

    def tree(self, elements: list[_LeafElement]) -> int:
        """Write one bucket's B+tree: leaf pages, then branch levels up to a single root; return the root's id."""
        level: list[_BranchElement] = []
        for part in self.split([_LEAF_ELEMENT.size + len(key) + len(value) for _, key, value in elements]):
            leaves = elements[part.start : part.stop]
            first = leaves[0][1] if leaves else b""
            level.append((first, self.add(_LEAF_PAGE, len(leaves), _leaf_body(leaves))))
        while len(level) > 1:
            upper: list[_BranchElement] = []
            for part in self.split([_BRANCH_ELEMENT.size + len(key) for key, _ in level]):
                children = level[part.start : part.stop]
                upper.append((children[0][0], self.add(_BRANCH_PAGE, len(children), _branch_body(children))))
            level = upper
        return level[0][1]

    def elements(self, bucket: Bucket) -> list[_LeafElement]:
        """A bucket's leaf elements, its nested buckets written first (their values point at their pages)."""
        elements: list[_LeafElement] = []
        for key, entry in bucket.items():
            if isinstance(entry, Bucket):
                elements.append((_BUCKET_LEAF, key, self.bucket_value(entry)))
            else:
                elements.append((0, key, entry))
        return elements

    def bucket_value(self, bucket: Bucket) -> bytes:
        """The value a parent stores for a nested bucket: its header, and its one page when bbolt inlines it."""
        elements = self.elements(bucket)
        # bbolt's inlineable(): no nested buckets and a page of at most a quarter of a page.
        size = _PAGE_HEADER.size + sum(_LEAF_ELEMENT.size + len(key) + len(value) for _, key, value in elements)
        if size <= self.page_size // 4 and not any(flags & _BUCKET_LEAF for flags, _, _ in elements):
            page = _PAGE_HEADER.pack(0, _LEAF_PAGE, len(elements), 0) + _leaf_body(elements)
            return _BUCKET_HEADER.pack(0, 0) + page
        return _BUCKET_HEADER.pack(self.tree(elements), 0)


def _meta_page(page_size: int, txid: int, root: int, freelist: int, high_water: int) -> bytes:
    meta = _META.pack(MAGIC, FORMAT_VERSION, page_size, 0, root, 0, freelist, high_water, txid)
    page = _PAGE_HEADER.pack(txid % 2, _META_PAGE, 0, 0) + meta + _CHECKSUM.pack(fnv1a64(meta))
    return page.ljust(page_size, b"\0")


def bolt_bytes(root: Bucket, *, page_size: int = PAGE_SIZE) -> bytes:
    """A complete bbolt file holding `root`'s buckets: what bbolt itself would have committed."""
    if page_size < 1024 or page_size & (page_size - 1):
        raise ValueError(f"page size must be a power of two of at least 1024, got {page_size}")
    values = [key for key, entry in root.items() if not isinstance(entry, Bucket)]
    if values:
        raise ValueError(f"bbolt's top level holds only buckets, not values: {values[:3]!r}")
    writer = _PageWriter(page_size)
    root_id = writer.tree(writer.elements(root))  # the root bucket is never inline: the meta points at a page
    freelist = _PAGE_HEADER.pack(2, _FREELIST_PAGE, 0, 0).ljust(page_size, b"\0")  # nothing was ever freed
    # Both meta pages describe the same tree: bbolt opens the valid one with the higher txid, the other is a spare.
    metas = [_meta_page(page_size, txid, root_id, 2, writer.next_id) for txid in (0, 1)]
    return b"".join([*metas, freelist, *writer.pages])


def write_bolt(path: Path, root: Bucket, *, page_size: int = PAGE_SIZE) -> None:
    """Write `root`'s buckets to a bbolt file at `path`."""
    path.write_bytes(bolt_bytes(root, page_size=page_size))


# A bbolt file read back: each key maps to its value, or to a nested bucket read back the same way.
BoltTree = dict[bytes, "bytes | BoltTree"]


@dataclass(frozen=True)
class PageInfo:
    """One page of a bbolt file as its header describes it."""

    id: int
    kind: str  # meta, freelist, branch, leaf
    count: int
    overflow: int


def _valid_meta(data: bytes, offset: int) -> tuple[int, ...] | None:
    fields = _META.unpack_from(data, offset + _PAGE_HEADER.size)
    (checksum,) = _CHECKSUM.unpack_from(data, offset + _PAGE_HEADER.size + _META.size)
    meta = data[offset + _PAGE_HEADER.size : offset + _PAGE_HEADER.size + _META.size]
    if fields[0] != MAGIC or fields[1] != FORMAT_VERSION or checksum != fnv1a64(meta):
        return None
    return fields


def _meta(data: bytes) -> tuple[int, ...]:
    # The page size is in meta 0, which is also where meta 1 is found from.
    first = _valid_meta(data, 0)
    page_size = first[2] if first else PAGE_SIZE
    candidates = [meta for meta in (first, _valid_meta(data, page_size)) if meta is not None]
    if not candidates:
        raise ValueError("no valid bbolt meta page")
    return max(candidates, key=lambda meta: meta[8])


def read_bolt(source: Path | bytes) -> BoltTree:
    """Read a bbolt file (or its bytes) into nested dicts, to check what write_bolt wrote or look into a trivy.db."""
    data = source.read_bytes() if isinstance(source, Path) else source
    page_size, root = _meta(data)[2], _meta(data)[4]

    def walk(buffer: bytes, offset: int) -> Iterator[_LeafElement]:
        _, flags, count, _ = _PAGE_HEADER.unpack_from(buffer, offset)
        for index in range(count):
            at = offset + _PAGE_HEADER.size + index * _LEAF_ELEMENT.size
            if flags & _LEAF_PAGE:
                element_flags, pos, key_size, value_size = _LEAF_ELEMENT.unpack_from(buffer, at)
                key = buffer[at + pos : at + pos + key_size]
                yield element_flags, key, buffer[at + pos + key_size : at + pos + key_size + value_size]
            elif flags & _BRANCH_PAGE:
                yield from walk(data, _BRANCH_ELEMENT.unpack_from(buffer, at)[2] * page_size)
            else:
                raise ValueError(f"page at offset {offset} is neither a leaf nor a branch (flags {flags:#x})")

    def tree(buffer: bytes, offset: int) -> BoltTree:
        return {key: bucket(value) if flags & _BUCKET_LEAF else value for flags, key, value in walk(buffer, offset)}

    def bucket(value: bytes) -> BoltTree:
        root_id, _ = _BUCKET_HEADER.unpack_from(value)
        return tree(value, _BUCKET_HEADER.size) if root_id == 0 else tree(data, root_id * page_size)

    return tree(data, root * page_size)


def bolt_pages(source: Path | bytes) -> list[PageInfo]:
    """Every page header of a bbolt file (or its bytes) in file order; overflow pages belong to the one before."""
    data = source.read_bytes() if isinstance(source, Path) else source
    page_size, high_water = _meta(data)[2], _meta(data)[7]
    kinds = {_META_PAGE: "meta", _FREELIST_PAGE: "freelist", _BRANCH_PAGE: "branch", _LEAF_PAGE: "leaf"}
    pages: list[PageInfo] = []
    page_id = 0
    while page_id < high_water:
        found, flags, count, overflow = _PAGE_HEADER.unpack_from(data, page_id * page_size)
        if found != page_id:
            raise ValueError(f"page {page_id} says it is page {found}")
        pages.append(PageInfo(page_id, kinds.get(flags, f"unknown {flags:#x}"), count, overflow))
        page_id += 1 + overflow
    return pages


# ---------------------------------------------------------------------------------------------------------------------
# trivy-db on top of it (schema 2, what trivy 0.76 reads for Debian).

SCHEMA_VERSION = 2
SEVERITIES = ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")  # trivy-db's Severity ints are indexes into this
_STATUS_AFFECTED, _STATUS_FIXED = 2, 3  # trivy-db's types.Status
_RELEASE = re.compile(r"debian (0|[1-9][0-9]*)")
# Each release's data source: it names a finding's DataSource, and only with it does trivy take a vulnerability's
# VendorSeverity["debian"] (an advisory's own Severity counts without it).
DEBIAN_DATA_SOURCE = {
    "ID": "debian",
    "Name": "Debian Security Tracker",
    "URL": "https://salsa.debian.org/security-tracker-team/security-tracker",
}
_ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time: the published DB's DownloadedAt, which trivy fills in

# The OCI artifact: trivy checks the layer's media type and takes the file name from its title annotation, then
# unpacks it by that name's extension (pkg/oci/artifact.go, pkg/db/db.go). The artifact type is the one trivy-db's
# own release job pushes with (`oras push --artifact-type`); trivy does not read it.
LAYER_MEDIA_TYPE = "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip"
ARTIFACT_TYPE = "application/vnd.aquasec.trivy.config.v1+json"
LAYER_TITLE = "db.tar.gz"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
_EMPTY_CONFIG = b"{}"


@dataclass(frozen=True)
class Advisory:
    """One planted vulnerability: trivy reports it on every installed binary package built from `source_package`."""

    id: str
    release: str  # trivy's bucket, "debian 13": the major version only, as trivy looks it up
    source_package: str  # the dpkg Source name (glibc, not libc6): trivy's key
    fixed_version: str | None  # None: unfixed, reported whatever version is installed
    severity: str  # LOW, MEDIUM, HIGH or CRITICAL
    title: str
    description: str = ""  # empty: the title again

    def __post_init__(self) -> None:
        if not self.id or not self.source_package or not self.title:
            raise ValueError(f"an advisory needs an id, a source package and a title: {self!r}")
        if not _RELEASE.fullmatch(self.release):
            raise ValueError(f"release must be trivy's bucket name, 'debian <major>', got {self.release!r}")
        if self.severity not in SEVERITIES[1:]:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES[1:])}, got {self.severity!r}")
        if self.fixed_version == "":
            raise ValueError(f"{self.id}: an unfixed advisory has fixed_version None, not ''")


def _timestamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} has no time zone: trivy compares these instants with its clock")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def _vulnerability(advisory: Advisory, published: datetime) -> dict[str, Any]:
    # What trivy shows of a finding beyond the package and versions; VendorSeverity counts with DEBIAN_DATA_SOURCE.
    return {
        "Title": advisory.title,
        "Description": advisory.description or advisory.title,
        "Severity": advisory.severity,
        "VendorSeverity": {"debian": SEVERITIES.index(advisory.severity)},
        "References": [f"https://example.invalid/advisories/{advisory.id}"],  # planted: nowhere real
        "PublishedDate": _timestamp(published),
    }


def db_buckets(advisories: Iterable[Advisory], *, published: datetime) -> Bucket:
    """The buckets of a trivy.db holding exactly `advisories` (published at `published`)."""
    root = Bucket()
    details: dict[str, dict[str, Any]] = {}
    for advisory in advisories:
        packages = root.bucket(advisory.release.encode()).bucket(advisory.source_package.encode())
        if advisory.id.encode() in packages:
            raise ValueError(f"{advisory.id} is planted twice on {advisory.source_package} in {advisory.release}")
        detail = _vulnerability(advisory, published)
        if details.setdefault(advisory.id, detail) != detail:
            raise ValueError(f"{advisory.id}: two advisories give it a different severity, title or description")
        severity = SEVERITIES.index(advisory.severity)
        entry: dict[str, Any] = {"Severity": severity, "Status": _STATUS_AFFECTED}
        if advisory.fixed_version is not None:
            entry = {"FixedVersion": advisory.fixed_version, "Severity": severity, "Status": _STATUS_FIXED}
        packages.put(advisory.id.encode(), _json(entry))
        root.bucket(b"data-source").put(advisory.release.encode(), _json(DEBIAN_DATA_SOURCE))
    vulnerabilities = root.bucket(b"vulnerability")
    for vuln_id, detail in details.items():
        vulnerabilities.put(vuln_id.encode(), _json(detail))
    return root


def write_db(cache_dir: Path, advisories: Iterable[Advisory], *, next_update: datetime, updated_at: datetime) -> Path:
    """Write `<cache_dir>/db/trivy.db` and `metadata.json` for trivy 0.76 holding exactly `advisories`; return db/.

    DownloadedAt is left at Go's zero time, as in the published DB: scan such a cache with `--skip-db-update`
    (trivy would otherwise take it for a broken download); trivy sets it when it downloads the DB itself.
    """
    db_dir = cache_dir / "db"
    db_dir.mkdir(parents=True, exist_ok=True)
    write_bolt(db_dir / "trivy.db", db_buckets(advisories, published=updated_at))
    metadata = {
        "Version": SCHEMA_VERSION,
        "NextUpdate": _timestamp(next_update),
        "UpdatedAt": _timestamp(updated_at),
        "DownloadedAt": _ZERO_TIME,
    }
    (db_dir / "metadata.json").write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
    return db_dir


def pack_oci_layer(cache_dir: Path) -> bytes:
    """The DB's OCI layer: a tar.gz of trivy.db and metadata.json, byte-identical for the same DB."""
    raw = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for name in ("trivy.db", "metadata.json"):
            content = (cache_dir / "db" / name).read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(content), 0o644, 0
            tar.addfile(info, io.BytesIO(content))
    return raw.getvalue()


class RegistryError(Exception):
    """The registry refused a step of the push: what was asked, what it answered."""

    def __init__(self, *, method: str, url: str, status: int, body: str) -> None:
        super().__init__(f"{method} {url}: HTTP {status}: {body[:500]}")
        self.method, self.url, self.status, self.body = method, url, status, body


def _digest(content: bytes) -> str:
    return "sha256:" + hashlib.sha256(content).hexdigest()


# No proxy, ever: the registry is a local one and a proxy from the environment would take the traffic off the host.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _send(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        return _OPENER.open(request, timeout=60)
    except urllib.error.HTTPError as error:
        answer = error.read().decode(errors="replace")
        raise RegistryError(method=method, url=url, status=error.code, body=answer) from error


def _push_blob(base: str, content: bytes) -> dict[str, Any]:
    """Upload one blob (a monolithic upload: POST, then PUT with the digest); return its descriptor."""
    digest = _digest(content)
    with _send("POST", f"{base}/blobs/uploads/", b"") as started:
        location = urllib.parse.urljoin(base + "/", started.headers["Location"])
    if urllib.parse.urlsplit(location).netloc != urllib.parse.urlsplit(base).netloc:
        raise ValueError(f"the registry sent the upload elsewhere: {location}")
    separator = "&" if "?" in location else "?"
    upload = f"{location}{separator}digest={urllib.parse.quote(digest)}"
    with _send("PUT", upload, content, {"Content-Type": "application/octet-stream"}):
        pass
    return {"digest": digest, "size": len(content)}


def push_db_artifact(registry: str, repository: str, tag: str, cache_dir: Path) -> str:
    """Push the DB in `cache_dir` as the artifact `--db-repository registry/repository:tag` takes; return its digest.

    Plain HTTP and the OCI distribution API only, the shape trivy-db's releases have: one layer of
    LAYER_MEDIA_TYPE titled db.tar.gz, the empty config, ARTIFACT_TYPE.
    """
    base = f"http://{registry}/v2/{repository}"
    config = {"mediaType": OCI_EMPTY, **_push_blob(base, _EMPTY_CONFIG)}
    layer = {
        "mediaType": LAYER_MEDIA_TYPE,
        **_push_blob(base, pack_oci_layer(cache_dir)),
        "annotations": {"org.opencontainers.image.title": LAYER_TITLE},
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": ARTIFACT_TYPE,
        "config": config,
        "layers": [layer],
    }
    body = json.dumps(manifest, separators=(",", ":")).encode()
    with _send("PUT", f"{base}/manifests/{tag}", body, {"Content-Type": OCI_MANIFEST}):
        pass
    return _digest(body)
