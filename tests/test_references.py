"""Image references split once, the same way everywhere: a registry's port is never taken for a tag."""

from __future__ import annotations

from factory import references


def test_a_reference_splits_into_registry_path_name_tag_and_digest() -> None:
    digest = "sha256:" + "1" * 64
    ref = references.parse(f"127.0.0.1:5000/factory-staging/python:3.13-run@{digest}")
    assert (ref.registry, ref.path, ref.name, ref.tag, ref.digest) == (
        "127.0.0.1:5000",
        "factory-staging/python",
        "python",
        "3.13-run",
        digest,
    )
    untagged = references.parse("127.0.0.1:5000/base/os")
    assert (untagged.repository, untagged.tag, untagged.name) == ("127.0.0.1:5000/base/os", None, "os")
    assert references.parse("debian:13").name == "debian" and references.parse("debian:13").registry is None
