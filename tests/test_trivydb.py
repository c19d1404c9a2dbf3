"""The offline trivy DB (tests/support/trivydb.py): bbolt pages as bbolt lays them out, read by the real trivy 0.76."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.trivydb import (
    MAGIC,
    BoltTree,
    Bucket,
    bolt_bytes,
    bolt_pages,
    fnv1a64,
    read_bolt,
    write_bolt,
)

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
