"""Scan exceptions: the reviewed file, its states, and the trivy formats it becomes."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import yaml

from factory import exceptions as exc
from factory.errors import DefinitionError

TODAY = dt.date(2026, 12, 2)
FILE = """exceptions:
  - id: CVE-2026-0001
    packages: [pkg:deb/debian/glibc]
    kind: waiting_for_upstream
    statement: no fixed version in trixie yet
    owner: platform@example.invalid
    expires: 2027-01-15
  - id: CVE-2026-0002
    images: ["python:*"]
    packages: [pkg:deb/debian/openssl]
    kind: not_affected
    statement: the vulnerable function is not called by CPython
    owner: platform@example.invalid
    expires: 2026-12-10
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / exc.EXCEPTIONS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return tmp_path


def test_the_file_is_read_with_kinds_and_lines(tmp_path: Path) -> None:
    first, second = exc.load(_write(tmp_path, FILE), TODAY)
    assert (first.id, first.kind, first.line) == ("CVE-2026-0001", exc.Kind.WAITING_FOR_UPSTREAM, 2)
    assert second.covers_image("python:3.13-runtime") and not second.covers_image("node:20-runtime")
    assert first.covers_image("node:20-runtime")  # no images: every image
    assert second.covers_package("pkg:deb/debian/openssl@3.5.1-1?arch=amd64&distro=debian-13.8")
    assert not second.covers_package("pkg:deb/debian/openssl-provider-legacy@3.5.1-1")


def test_states(tmp_path: Path) -> None:
    first, second = exc.load(_write(tmp_path, FILE), TODAY)
    assert first.state(TODAY, matched=True) is exc.State.APPLIED
    assert second.state(TODAY, matched=True) is exc.State.EXPIRING  # 8 days left
    assert first.state(TODAY, matched=False) is exc.State.STALE
    assert first.state(dt.date(2027, 1, 16), matched=True) is exc.State.EXPIRED


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("    owner: platform@example.invalid\n", "exceptions[0].owner: required field is missing"),
        ("    expires: 2027-01-15\n", "exceptions[0].expires: required field is missing"),
        ("    kind: waiting_for_upstream\n", "exceptions[0].kind: required field is missing"),
        ("    packages: [pkg:deb/debian/glibc]\n", "exceptions[0]: name the packages or the images it covers"),
    ],
)
def test_a_missing_field_is_located(tmp_path: Path, change: str, message: str) -> None:
    root = _write(tmp_path, FILE.replace(change, "", 1))
    with pytest.raises(DefinitionError) as info:
        exc.load(root, TODAY)
    assert f"security/exceptions.yaml:2: {message}" in str(info.value)


def test_at_most_90_days_ahead(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match=r"exceptions\[0\].expires: 2027-06-01 is more than 90 days ahead"):
        exc.load(_write(tmp_path, FILE.replace("2027-01-15", "2027-06-01")), TODAY)


def test_trivyignore_carries_statement_and_expiry_and_leaves_vex_to_vex(tmp_path: Path) -> None:
    found = exc.load(_write(tmp_path, FILE), TODAY)
    document = yaml.safe_load(exc.trivyignore(found))
    assert document == {
        "vulnerabilities": [
            {
                "id": "CVE-2026-0001",
                "statement": "waiting_for_upstream: no fixed version in trixie yet (owner platform@example.invalid)",
                "expired_at": "2027-01-15T23:59:59Z",
                "purls": ["pkg:deb/debian/glibc"],
            }
        ]
    }


def test_openvex_states_not_affected_for_covered_products_until_expiry(tmp_path: Path) -> None:
    found = exc.load(_write(tmp_path, FILE), TODAY)
    products = ["pkg:deb/debian/openssl@3.5.1-1?arch=amd64", "pkg:deb/debian/glibc@2.41-12?arch=amd64"]
    vex = json.loads(exc.openvex(found, products, TODAY, "2026-12-02T00:00:00Z"))
    [statement] = vex["statements"]
    assert statement["vulnerability"] == {"name": "CVE-2026-0002"} and statement["status"] == "not_affected"
    assert statement["products"] == [{"@id": "pkg:deb/debian/openssl@3.5.1-1?arch=amd64"}]
    later = json.loads(exc.openvex(found, products, dt.date(2026, 12, 11), "2026-12-11T00:00:00Z"))
    assert later["statements"] == []  # expired: the finding counts again
