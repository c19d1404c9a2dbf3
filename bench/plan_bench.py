"""Planning benchmark: `factory plan` over the real catalogue and over a synthetic 500-target catalogue, both
against the local registry (127.0.0.1:5000). Prints figures; asserts nothing.

The synthetic catalogue's final tags are real: one index that is already in
the registry (the published OS base, else its latest staging build) is put
under every synthetic target's final tag, its blobs mounted across
repositories, so planning reads 500 real indexes, manifests and configs.
Baseline, in the same script: the bare registry reads the plan cannot avoid
(three GETs per target, no decision), so the ratio shows what planning adds.
Planned without the rescan of the published SBOMs (trivy per SBOM: measured
by bench/scan_bench.py's warm figures).
"""

from __future__ import annotations

import json
import secrets
import statistics
import sys
import tempfile
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from render_bench import synthetic_project  # noqa: E402  (bench/ is sys.path[0] when run as a script)
from timing import timed  # noqa: E402

from factory import pipeline  # noqa: E402
from factory.errors import FactoryError  # noqa: E402
from factory.oci import ACCEPT, RegistryClient  # noqa: E402
from factory.progress import Board, PlainSink  # noqa: E402
from factory.project import Project  # noqa: E402

REGISTRY = "127.0.0.1:5000"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"


def quiet_board() -> Board:
    return Board(PlainSink(open("/dev/null", "w")))


def request(method: str, path: str, body: bytes | None = None, content_type: str | None = None) -> bytes:
    headers = {"Accept": ACCEPT}
    if content_type:
        headers["Content-Type"] = content_type
    req = urllib.request.Request(f"http://{REGISTRY}{path}", data=body, method=method, headers=headers)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=30) as response:
        return bytes(response.read())


def source_index() -> tuple[str, str] | None:
    """(repository, tag) of a multi-platform index already in the registry, or None."""
    client = RegistryClient(REGISTRY)
    for repository in ("base/os", "factory-staging/os"):
        try:
            tags = json.loads(request("GET", f"/v2/{repository}/tags/list")).get("tags") or []
        except OSError:
            continue
        for tag in sorted(tags, reverse=True):
            if tag.startswith("sha256-"):
                continue
            try:
                _, _, body = client.get_manifest(repository, tag)
            except (FileNotFoundError, FactoryError):
                continue
            if body.get("manifests"):
                return repository, tag
    return None


def populate(namespace: str, root: Path, source: tuple[str, str]) -> int:
    """Put the source index under every synthetic target's final tag; the number of tags written."""
    repository, tag = source
    client = RegistryClient(REGISTRY)
    index_text = request("GET", f"/v2/{repository}/manifests/{tag}")
    index = json.loads(index_text)
    children = [(m["digest"], request("GET", f"/v2/{repository}/manifests/{m['digest']}")) for m in index["manifests"]]
    catalogue = Project(root).load()
    written = 0
    for image in sorted({t.image for t in catalogue.targets}):
        target_repo = f"{namespace}/{image}"
        for digest, text in children:
            manifest = json.loads(text)
            for blob in [manifest["config"], *manifest.get("layers", [])]:
                request("POST", f"/v2/{target_repo}/blobs/uploads/?mount={blob['digest']}&from={repository}", b"")
            request("PUT", f"/v2/{target_repo}/manifests/{digest}", text, manifest["mediaType"])
        for target in catalogue.targets:
            if target.image == image:
                request("PUT", f"/v2/{target_repo}/manifests/{target.tags[0]}", index_text, INDEX_TYPE)
                written += 1
    del client
    return written


def baseline_reads(namespace: str, root: Path) -> None:
    """The three reads per target that planning needs, and nothing else."""
    client = RegistryClient(REGISTRY)
    for target in Project(root).load().targets:
        path = f"{namespace}/{target.image}"
        _, _, index = client.get_manifest(path, target.tags[0])
        _, _, manifest = client.get_manifest(path, index["manifests"][0]["digest"])
        client.blob_json(path, manifest["config"]["digest"])


def plan_of(root: Path) -> tuple[int, int]:
    workspace = pipeline.Workspace.open(Project(root))
    result = pipeline.plan(workspace, quiet_board(), rescan=False)  # registry, keys, git, lifecycle
    return len(result.rebuild), len(result.unchanged)


def main() -> None:
    try:
        request("GET", "/v2/")
    except OSError as exc:
        print(f"no registry on {REGISTRY} ({exc}): run `factory engine up` first")
        return
    rebuild, unchanged = plan_of(REPO)
    times = timed(lambda: plan_of(REPO), 3)
    print(
        f"catalogue: {rebuild + unchanged} targets ({rebuild} to rebuild, {unchanged} unchanged): "
        f"median {statistics.median(times):.3f} s, best {min(times):.3f} s over {len(times)} runs"
    )
    source = source_index()
    if source is None:
        print("synthetic: no multi-platform image in the local registry to stand for the published ones: "
              "run `factory build os:trixie` (or `make run`) first")  # fmt: skip
        return
    with tempfile.TemporaryDirectory(prefix="factory-plan-bench-") as work:
        root = synthetic_project(Path(work))
        namespace = f"bench-plan-{secrets.token_hex(3)}"
        (root / "factory.yaml").write_text(f"publish: {{namespace: {namespace}}}\nstate_dir: {work}/state\n")
        workspace = pipeline.Workspace.open(Project(root))
        pipeline.write(workspace, pipeline.render(workspace))
        tags = populate(namespace, root, source)
        base = timed(lambda: baseline_reads(namespace, root), 3)
        rebuild, unchanged = plan_of(root)
        times = timed(lambda: plan_of(root), 3)
        median, floor = statistics.median(times), statistics.median(base)
        print(
            f"synthetic: {rebuild + unchanged} targets, {tags} real final tags (copies of {source[0]}:{source[1]}): "
            f"plan median {median:.3f} s (best {min(times):.3f}); the bare registry reads {floor:.3f} s; "
            f"ratio {median / floor:.1f}x; {median / (rebuild + unchanged) * 1000:.2f} ms per target"
        )


if __name__ == "__main__":
    main()
