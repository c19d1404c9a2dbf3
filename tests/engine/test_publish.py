"""Publish on the real registry with the real cosign and oras: the OS base built, verified, scanned, published.

A copy of the catalogue (staging namespaces shared with the catalogue's own
builds, so the build is cached) publishes into a namespace of its own; the
scan uses a planted empty DB (no vulnerability DB can be downloaded here).
A consumer's check is done with cosign itself, as the README tells one.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from factory.cli import main
from factory.publish import find_tool
from tests.conftest import REPO
from tests.support.trivydb import write_db

pytestmark = pytest.mark.engine

NOW = dt.datetime.now(dt.UTC)


def _factory(root: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--root", str(root), *args])
    assert "Traceback" not in result.output, result.output
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    base = tmp_path_factory.mktemp("publish")
    root = base / "project"
    for part in ("stacks", "templates", "rendered"):
        shutil.copytree(REPO / part, root / part)
    write_db(base / "db", [], next_update=NOW + dt.timedelta(days=365), updated_at=NOW)
    namespace = f"factory-test-publish-{secrets.token_hex(3)}"
    (root / "factory.yaml").write_text(
        f"scan:\n  db: {{cache_dir: {base / 'db'}}}\n"
        f"publish:\n  namespace: {namespace}\n  signing_key: {base / 'keys' / 'cosign.key'}\n"
    )
    for command in (["keys", "generate"], ["build", "os:trixie"], ["verify"], ["scan"]):
        code, out, err = _factory(root, *command)
        assert code == 0, (command, out[-2000:], err[-2000:])
    return root, namespace


def _cosign(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([find_tool("cosign"), *args], capture_output=True, text=True, timeout=120, check=False)


def _tags(repository: str) -> list[str]:
    argv = [find_tool("oras"), "repo", "tags", "--plain-http", repository]
    return sorted(subprocess.run(argv, capture_output=True, text=True, check=True).stdout.split())


def test_publish_signs_attests_and_tags_then_a_second_publish_writes_nothing(project: tuple[Path, str]) -> None:
    root, namespace = project
    code, out, err = _factory(root, "publish", "--output", "json")
    assert code == 0, err[-3000:]
    (published,) = json.loads(out)["published"]
    repository = f"127.0.0.1:5000/{namespace}/os"
    today = dt.date.today().strftime("%Y%m%d")
    assert published["repository"] == repository
    assert published["references"] == [f"{repository}:trixie-{today}", f"{repository}:trixie", f"{repository}:13"]
    assert published["writes"][:2] == ["copy", "signature"]
    assert "tag trixie" in published["writes"] and published["writes"][-1] == "tag 13"
    # the tag map was printed before the first write
    assert err.index(f"{repository}:trixie-{today} (immutable) new") < err.index("copying")

    # every tag points at the very index the record verified and scanned
    record = json.loads((root / ".factory" / "builds" / "latest.json").read_text())
    (os_target,) = record["targets"]
    assert published["digest"] == os_target["digest"]
    assert os_target["published"]["immutable_tag"] == f"trixie-{today}"
    resolve = [find_tool("oras"), "resolve", "--plain-http"]
    for reference in published["references"]:
        assert (
            subprocess.run([*resolve, reference], capture_output=True, text=True, check=True).stdout.strip()
            == (os_target["digest"])
        )

    # what the build decided is on the image itself, for the next run and for updaters
    for image in os_target["images"].values():
        argv = [find_tool("oras"), "manifest", "fetch-config", "--plain-http", f"{repository}@{image['digest']}"]
        labels = json.loads(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)["config"]["Labels"]
        assert labels["io.factory.build-key"] == os_target["build_key"]
        assert labels["org.opencontainers.image.version"] == "trixie"
        assert labels["org.opencontainers.image.revision"] == record["vcs_ref"]

    # a consumer verifies the signature and fetches each platform's SBOM with the public key
    public = str(root.parent / "keys" / "cosign.pub")
    verified = _cosign("verify", "--key", public, "--insecure-ignore-tlog", f"{repository}:trixie")
    assert verified.returncode == 0, verified.stderr
    assert os_target["digest"] in verified.stdout
    for platform, image in os_target["images"].items():
        argv = ["verify-attestation", "--key", public, "--insecure-ignore-tlog", "--type", "cyclonedx"]
        attested = _cosign(*argv, f"{repository}@{image['digest']}")
        assert attested.returncode == 0, (platform, attested.stderr)
        statement = json.loads(base64.b64decode(json.loads(attested.stdout.splitlines()[0])["payload"]))
        assert statement["predicateType"] == "https://cyclonedx.org/bom"
        assert statement["subject"][0]["digest"]["sha256"] == image["digest"].removeprefix("sha256:")
        assert any(c["name"] == "base-files" for c in statement["predicate"]["components"])
    # a signature made with another key does not verify
    other = root.parent / "other"
    other.mkdir()
    subprocess.run([find_tool("cosign"), "generate-key-pair"], cwd=other, env={"COSIGN_PASSWORD": ""}, check=True)
    assert _cosign(
        "verify", "--key", str(other / "cosign.pub"), "--insecure-ignore-tlog", f"{repository}:13"
    ).returncode

    before = _tags(repository)
    code, out, err = _factory(root, "publish", "--output", "json")
    assert code == 0, err[-3000:]
    (again,) = json.loads(out)["published"]
    assert again["writes"] == [] and again["references"] == published["references"]
    assert "nothing written" in err
    assert _tags(repository) == before  # no tag, signature or attestation added


def test_a_target_that_did_not_pass_every_stage_is_not_published(project: tuple[Path, str]) -> None:
    root, _ = project
    latest = root / ".factory" / "builds" / "latest.json"
    record = json.loads(latest.read_text())
    del record["targets"][0]["verdicts"]["scan"]["linux/arm64"]
    unscanned = root.parent / "unscanned.json"
    unscanned.write_text(json.dumps(record))
    code, out, _ = _factory(root, "publish", "--record", str(unscanned), "--output", "json")
    assert code == 10
    assert json.loads(out)["not_published"] == [{"target": "os:trixie", "reason": "not scanned on linux/arm64"}]
