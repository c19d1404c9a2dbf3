"""Publish on the real registry with the real cosign and oras: the OS base built, verified, scanned, published.

A copy of the catalogue builds, stages and publishes into namespaces of its
own (so prune sees only what this module made); the scan uses a planted
empty DB (no vulnerability DB can be downloaded here). A consumer's check is
done with cosign and oras themselves, as the README tells one. Further
registries (a copy's destination, one that goes away mid-publish) are real
`docker-registry` processes this module starts on free loopback ports and
stops by their PID.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from factory.cli import main
from factory.engine.layout import Layout
from factory.publish import Oras, find_tool
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
    (root / "factory.yaml").write_text(_site(base, namespace))
    for command in (["keys", "generate"], ["build", "os:trixie"], ["verify"], ["scan"]):
        code, out, err = _factory(root, *command)
        assert code == 0, (command, out[-2000:], err[-2000:])
    return root, namespace


def _site(base: Path, namespace: str, publish: str = "", final: str | None = None) -> str:
    """factory.yaml: builds and staging under `namespace`, final tags under `final` (default: `namespace`)."""
    return (
        f"registry: {{namespace: {namespace}-build, staging_namespace: {namespace}-staging}}\n"
        f"scan:\n  db: {{cache_dir: {base / 'db'}}}\n"
        f"publish:\n  namespace: {final or namespace}\n  signing_key: {base / 'keys' / 'cosign.key'}\n{publish}"
    )


def _cosign(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([find_tool("cosign"), *args], capture_output=True, text=True, timeout=120, check=False)


def _statement(public_key: str, kind: str, reference: str) -> dict[str, Any]:
    """The in-toto statement of a `kind` attestation on `reference`, as `cosign verify-attestation` checks it."""
    argv = ["verify-attestation", "--key", public_key, "--insecure-ignore-tlog", "--type", kind, reference]
    attested = _cosign(*argv)
    assert attested.returncode == 0, (kind, reference, attested.stderr[-2000:])
    statement: dict[str, Any] = json.loads(base64.b64decode(json.loads(attested.stdout.splitlines()[0])["payload"]))
    return statement


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
        statement = _statement(public, "cyclonedx", f"{repository}@{image['digest']}")
        assert statement["predicateType"] == "https://cyclonedx.org/bom"
        assert statement["subject"][0]["digest"]["sha256"] == image["digest"].removeprefix("sha256:")
        assert any(c["name"] == "base-files" for c in statement["predicate"]["components"])
        # the gate's result for that very image, signed beside it
        scan = _statement(public, "vuln", f"{repository}@{image['digest']}")["predicate"]["scanner"]["result"]
        assert (scan["digest"], scan["platform"], scan["passed"]) == (image["digest"], platform, True)
    # on the index: the exceptions as OpenVEX, SLSA provenance and the rebuild reasons
    index = f"{repository}@{os_target['digest']}"
    assert _statement(public, "openvex", index)["predicate"]["@context"] == "https://openvex.dev/ns/v0.2.0"
    provenance = _statement(public, "slsaprovenance1", index)["predicate"]
    uris = [d["uri"] for d in provenance["buildDefinition"]["resolvedDependencies"]]
    assert uris[:2] == ["git+file:stacks/os.yaml", "git+file:templates/os.Dockerfile.j2"], uris
    assert "git+file:rendered/os/trixie/Dockerfile" in uris
    assert provenance["runDetails"]["metadata"]["invocationID"] == record["run_id"]
    note = _statement(public, "urn:factory:rebuild-reasons:v1", index)["predicate"]
    assert note["reasons"][0]["reason"] == "requested" and note["previous"] is None  # the tag's first image
    assert set(note["platforms"]) == set(os_target["images"])
    listed = json.loads(_oras("discover", "--plain-http", "--format", "json", index))
    assert "text/markdown" in json.dumps(listed)  # the note's Markdown, attached beside it

    # the next run reads what the build decided from the image: nothing changed, nothing to rebuild
    code, out, err = _factory(root, "plan", "os:trixie", "--output", "json")
    assert code == 0, err[-2000:]
    planned = json.loads(out)
    assert planned["rebuild"] == [] and [e["target"] for e in planned["unchanged"]] == ["os:trixie"]
    assert planned["unchanged"][0]["last_built"] == dt.date.today().isoformat()
    code, out, err = _factory(root, "changelog", "os:trixie", "--output", "json")
    assert code == 0, err[-2000:]
    (release,) = json.loads(out)["releases"]
    assert (release["tag"], release["digest"]) == (f"trixie-{today}", os_target["digest"])
    assert release["note"]["reasons"][0]["reason"] == "requested"
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


class LocalRegistry:
    """A real docker-registry (distribution 2.8) on a free loopback port, started and stopped by this test."""

    def __init__(self, root: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.address = f"127.0.0.1:{probe.getsockname()[1]}"
        self.config = root / "registry.yml"
        self.config.write_text(
            f"version: 0.1\nlog: {{level: error}}\nhttp: {{addr: '{self.address}'}}\n"
            f"storage: {{filesystem: {{rootdirectory: '{root / 'data'}'}}, delete: {{enabled: true}}}}\n"
        )
        self.log = root / "registry.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = Layout.from_env(os.environ).prefix / "usr" / "bin" / "docker-registry"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([str(binary), "serve", str(self.config)], stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), urllib.request.urlopen(f"http://{self.address}/v2/", timeout=2):
                return
            time.sleep(0.2)
        raise AssertionError(f"the registry on {self.address} did not answer: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.process = None


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[LocalRegistry]:
    started = LocalRegistry(tmp_path)
    started.start()
    yield started
    started.stop()


def _oras(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run([find_tool("oras"), *args], capture_output=True, text=True, check=False, cwd=cwd)
    assert done.returncode == 0, (args, done.stderr[-2000:])
    return done.stdout.strip()


def _resolve(reference: str) -> str:
    return _oras("resolve", "--plain-http", reference)


def _push_artifact(reference: str, tmp_path: Path) -> str:
    """A small artifact (not an image) under `reference`: a stand-in for an earlier release or an old build."""
    blob = tmp_path / f"artifact-{secrets.token_hex(4)}.txt"
    blob.write_text(secrets.token_hex(16))
    _oras("push", "--plain-http", reference, f"{blob.name}:text/plain", cwd=blob.parent)
    return _resolve(reference)


@contextlib.contextmanager
def _site_for(root: Path, namespace: str, publish: str, final: str | None = None) -> Iterator[None]:
    before = (root / "factory.yaml").read_text()
    (root / "factory.yaml").write_text(_site(root.parent, namespace, publish, final))
    try:
        yield
    finally:
        (root / "factory.yaml").write_text(before)


def test_a_copy_to_another_registry_keeps_digests_signature_and_sbom(
    project: tuple[Path, str], registry: LocalRegistry
) -> None:
    root, _ = project
    code, out, err = _factory(root, "publish", "--to", f"{registry.address}/mirror", "--output", "json")
    assert code == 0, err[-3000:]
    answer = json.loads(out)
    (copied,) = answer["copied"]
    (published,) = answer["published"]
    there = f"{registry.address}/mirror/os"
    assert copied["repository"] == there and copied["digest"] == published["digest"]
    for reference in copied["references"]:
        assert _resolve(reference) == published["digest"]  # byte-exact: the very same index
    public = str(root.parent / "keys" / "cosign.pub")
    verified = _cosign("verify", "--key", public, "--insecure-ignore-tlog", f"{there}:trixie")
    assert verified.returncode == 0, verified.stderr
    record = json.loads((root / ".factory" / "builds" / "latest.json").read_text())
    (os_target,) = record["targets"]
    assert os_target["published"]["copies"] == [there]
    for image in os_target["images"].values():
        assert _resolve(f"{there}@{image['digest']}") == image["digest"]
        assert _statement(public, "cyclonedx", f"{there}@{image['digest']}")["predicate"]["components"]
    # copying again writes nothing
    code, out, err = _factory(root, "publish", "--to", f"{registry.address}/mirror", "--output", "json")
    assert code == 0 and json.loads(out)["copied"][0]["writes"] == [], err[-2000:]


def test_a_large_sbom_goes_as_a_referrer_the_attestation_names(project: tuple[Path, str], tmp_path: Path) -> None:
    root, namespace = project
    big = f"{namespace}-big"
    with _site_for(root, namespace, "  large_sbom_bytes: 1\n", final=big):
        code, out, err = _factory(root, "publish", "--output", "json")
    assert code == 0, err[-3000:]
    (published,) = json.loads(out)["published"]
    assert "attach cyclonedx linux/amd64" in published["writes"]
    record = json.loads((root / ".factory" / "builds" / "latest.json").read_text())
    image = record["targets"][0]["images"]["linux/arm64"]["digest"]
    subject = f"127.0.0.1:5000/{big}/os@{image}"
    public = str(root.parent / "keys" / "cosign.pub")
    pointer = _statement(public, "cyclonedx", subject)["predicate"]
    (reference,) = pointer["externalReferences"]
    referrer = reference["url"].removeprefix("oci://")
    # the referrer is discoverable from the image and holds the document the attestation names by sha256
    listed = json.loads(_oras("discover", "--plain-http", "--format", "json", subject))
    assert referrer.split("@")[1] in json.dumps(listed)
    pulled = tmp_path / "pulled"
    _oras("pull", "--plain-http", "-o", str(pulled), referrer)
    (document,) = list(pulled.iterdir())
    assert hashlib.sha256(document.read_bytes()).hexdigest() == reference["hashes"][0]["content"]
    assert json.loads(document.read_text())["bomFormat"] == "CycloneDX"


def test_the_registry_gone_mid_publish_leaves_the_rolling_tags_and_a_rerun_completes(
    project: tuple[Path, str], registry: LocalRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, namespace = project
    repository = f"{registry.address}/{namespace}/os"
    previous = _push_artifact(f"{repository}:trixie", tmp_path)  # the release consumers use today
    _oras("tag", "--plain-http", f"{repository}@{previous}", "13")
    tagged: list[str] = []
    real_tag = Oras.tag

    def tag_then_lose_the_registry(self: Oras, pinned: str, tag: str) -> None:
        tagged.append(tag)
        if len(tagged) == 2:  # the immutable tag is written; the registry goes before the first rolling tag
            registry.stop()
        real_tag(self, pinned, tag)

    monkeypatch.setattr(Oras, "tag", tag_then_lose_the_registry)
    with _site_for(root, namespace, f"  registry: '{registry.address}'\n"):
        code, _, err = _factory(root, "publish")
        assert code == 5, err[-2000:]
        registry.start()
        assert _resolve(f"{repository}:trixie") == previous and _resolve(f"{repository}:13") == previous
        monkeypatch.setattr(Oras, "tag", real_tag)
        code, out, err = _factory(root, "publish", "--output", "json")
    assert code == 0, err[-3000:]
    (published,) = json.loads(out)["published"]
    assert published["writes"] == ["tag trixie", "tag 13"]  # copy, signature, attestations, dated tag were there
    assert _resolve(f"{repository}:trixie") == published["digest"] == _resolve(f"{repository}:13")


def test_two_publishers_at_once_take_turns(project: tuple[Path, str]) -> None:
    root, namespace = project
    turns = f"{namespace}-turns"
    factory = [str(Path(sys.executable).parent / "factory"), "--root", str(root), "publish", "--output", "json"]
    with _site_for(root, namespace, "", final=turns):
        first = subprocess.Popen(factory, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1)
        second = subprocess.Popen(factory, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        outputs = [p.communicate(timeout=1200) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], [e[-2000:] for _, e in outputs]
    writes = sorted(json.loads(out)["published"][0]["writes"] != [] for out, _ in outputs)
    assert writes == [False, True]  # one published, the other found everything in place
    assert any("waiting for it" in err for _, err in outputs)
    repository = f"127.0.0.1:5000/{turns}/os"
    digest = json.loads(outputs[0][0])["published"][0]["digest"]
    assert _resolve(f"{repository}:trixie") == digest == _resolve(f"{repository}:13")


def test_prune_deletes_old_staging_and_keeps_what_final_tags_use(project: tuple[Path, str], tmp_path: Path) -> None:
    root, namespace = project
    record = json.loads((root / ".factory" / "builds" / "latest.json").read_text())
    (os_target,) = record["targets"]
    staging = os_target["reference"].rsplit(":", 1)[0]
    old_unused = _push_artifact(f"{staging}:trixie-20200101T000000Z-beef", tmp_path)
    _oras("tag", "--plain-http", f"{staging}@{os_target['digest']}", "trixie-20200101T000000Z-dead")
    code, out, err = _factory(root, "prune", "--older-than", "1", "--output", "json")
    assert code == 0, err[-3000:]
    answer = json.loads(out)
    assert [(d["digest"], d["tags"]) for d in answer["deleted"]] == [(old_unused, ["trixie-20200101T000000Z-beef"])]
    assert f"{staging}:trixie-20200101T000000Z-dead: a final tag, a pin or the latest run uses it" in answer["kept"]
    tags = _tags(staging)
    assert "trixie-20200101T000000Z-beef" not in tags and "trixie-20200101T000000Z-dead" in tags
    assert _resolve(os_target["reference"]) == os_target["digest"]  # the latest run's staging tag
    assert _resolve(f"127.0.0.1:5000/{namespace}/os:trixie") == os_target["digest"]
