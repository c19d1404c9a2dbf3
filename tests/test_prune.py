"""Prune's decisions: what is old, and what stays because something still uses it (the real registry: tests/engine)."""

from __future__ import annotations

import datetime as dt

from factory import prune

NOW = dt.datetime(2026, 12, 7, 12, tzinfo=dt.UTC)
CUTOFF = NOW - dt.timedelta(days=14)
OLD_RUN, NEW_RUN = "20261101T101500Z-ab12", "20261206T090000Z-cd34"
INDEX, AMD, ARM, OTHER = ("sha256:" + c * 64 for c in "abcd")
REPO = "127.0.0.1:5000/factory-staging/python"


def test_the_run_is_read_from_the_tag() -> None:
    assert prune.run_time(f"3.13-runtime-{OLD_RUN}") == dt.datetime(2026, 11, 1, 10, 15, tzinfo=dt.UTC)
    assert prune.run_time(f"3.13-runtime-{OLD_RUN}-linux-arm64") == dt.datetime(2026, 11, 1, 10, 15, tzinfo=dt.UTC)
    assert prune.run_time(f"3.13-{OLD_RUN}-local") is not None
    assert prune.run_time(OLD_RUN) is not None
    assert prune.run_time("3.13-runtime") is None  # a tag without a run is never old
    assert prune.run_time("3.13-20261101") is None  # a dated final tag is not a run


def test_old_staging_tags_go_unless_a_final_tag_a_newer_tag_or_a_staying_index_uses_them() -> None:
    repository = prune.Repository(
        REPO,
        {
            f"3.13-runtime-{OLD_RUN}": INDEX,  # the index a final tag points at
            f"3.13-runtime-{OLD_RUN}-linux-amd64": AMD,  # under that index
            f"3.13-build-{OLD_RUN}": OTHER,  # old and unused
            f"3.13-build-{NEW_RUN}": "sha256:" + "e" * 64,
            "3.13-runtime-nightly": "sha256:" + "f" * 64,  # no run in the tag: never old
        },
        children={INDEX: [AMD, ARM]},
    )
    deletions, kept = prune.decide([repository], prune.staging_age(CUTOFF), protected={INDEX})
    assert [(d.digest, d.tags) for d in deletions] == [(OTHER, (f"3.13-build-{OLD_RUN}",))]
    assert deletions[0].why == "staging tag of a run of 2026-11-01"
    assert sorted(kept) == [
        f"{REPO}:3.13-runtime-{OLD_RUN}-linux-amd64: an index that stays holds it",
        f"{REPO}:3.13-runtime-{OLD_RUN}: a final tag, a pin or the latest run uses it",
    ]


def test_a_digest_with_a_new_tag_stays_though_an_old_tag_shares_it() -> None:
    """A registry deletes manifests, not tags: deleting the old tag's digest would take the new tag with it."""
    repository = prune.Repository(REPO, {f"3.13-{OLD_RUN}": OTHER, f"3.13-{NEW_RUN}": OTHER})
    deletions, kept = prune.decide([repository], prune.staging_age(CUTOFF), protected=set())
    assert deletions == []
    assert kept == [f"{REPO}:3.13-{OLD_RUN}: a newer tag shares its digest"]


def test_caches_go_with_their_target_or_when_no_recent_run_built_it() -> None:
    cache = "127.0.0.1:5000/factory-cache/python"
    repository = prune.Repository(
        cache,
        {"3.13-runtime": INDEX, "3.13-runtime-linux-arm64": AMD, "3.12-runtime": ARM, "3.13-build": OTHER},
    )
    in_catalogue = {("python", "3.13-runtime"), ("python", "3.13-build")}
    last = {("python", "3.13-runtime"): NOW - dt.timedelta(days=30)}  # 3.13-build: no local run says
    deletions, _ = prune.decide([repository], prune.cache_age(CUTOFF, last, in_catalogue), protected=set())
    assert {d.tags: d.why for d in deletions} == {
        ("3.12-runtime",): "build cache of a target no longer in the catalogue",
        ("3.13-runtime",): "build cache last used by a run of 2026-11-07",
        ("3.13-runtime-linux-arm64",): "build cache last used by a run of 2026-11-07",
    }
