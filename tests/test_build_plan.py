from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from factory import build, builders, buildinfo, buildlog, buildplan, model
from factory import record as records
from factory.docker import Docker
from factory.errors import FactoryError, UsageProblem
from factory.progress import Board, Phase, Row, Snapshot
from factory.project import Project
from tests.conftest import REPO


class RecordingSink:
    """A board sink that keeps every change."""

    def __init__(self) -> None:
        self.changes: list[Row] = []

    def changed(self, row: Row, board: Snapshot) -> None:
        self.changes.append(row)

    def noted(self, message: str, board: Snapshot) -> None:
        pass


def _plan(selection: list[str], platforms: list[str] | None = None) -> list[buildplan.Step]:
    project = Project(REPO)
    return buildplan.plan(project.load(), project, selection, platforms)


def test_whole_catalogue_os_first_parents_before_children() -> None:
    steps = _plan([])
    ids = [s.id for s in steps]
    assert ids[0] == "os:trixie" and steps[0].is_os
    for step in steps:
        if step.base_id:
            assert ids.index(step.base_id) < ids.index(step.id)
    assert len(ids) == len(Project(REPO).load().targets)


def test_selection_pulls_in_ancestors() -> None:
    assert [s.id for s in _plan(["python:3.13-build"])] == ["os:trixie", "python:3.13-runtime", "python:3.13-build"]
    go = _plan(["go"])
    assert [s.id for s in go] == ["os:trixie", "go:1.24-build", "go:static"]
    assert go[2].base_id == "os:trixie"  # FROM scratch, but its rootfs stage uses the OS base


def test_platform_filter() -> None:
    steps = _plan(["node:20-runtime"], ["linux/arm64"])
    assert all(s.platforms == ("linux/arm64",) for s in steps)


def test_unknown_selection() -> None:
    with pytest.raises(FactoryError, match="unknown target or stack 'ruby'"):
        _plan(["ruby"])


def test_cache_stats(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text(
        "#5 [linux/amd64 1/3] FROM 127.0.0.1:5000/x@sha256:1\n#5 CACHED\n"
        "#6 [linux/arm64 2/3] RUN <<EOT (set -eux...)\n#6 CACHED\n"
        "#7 [fetch 1/2] RUN <<EOT\n#7 DONE 3.1s\n#8 [internal] load .dockerignore\n#8 CACHED\n"
    )
    assert buildlog.cache_stats(log) == (3, 2)


def test_ca_bundle_setting(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("x")
    assert build._ca_bundle("none", {}) is None
    assert build._ca_bundle(str(bundle), {}) == bundle
    assert build._ca_bundle("auto", {"SSL_CERT_FILE": str(bundle)}) == bundle
    with pytest.raises(FactoryError, match="no such file"):
        build._ca_bundle(str(tmp_path / "missing.pem"), {})


def _branches(make_project: Callable[..., Path]) -> tuple[Project, model.Catalogue]:
    """A rendered project with two branches on the OS: a:1-runtime <- a:1-build, and b:1-runtime (and tool)."""
    from factory import render, rendered

    root = make_project(
        files={
            "stacks/a.yaml": "variants:\n  runtime: {}\n  build: {from: runtime}\n"
            "versions: [{version: '1', tags: [a1]}]\n",
            "stacks/b.yaml": "variants:\n  runtime: {}\nversions: [{version: '1', tags: [b1]}]\n",
        }
    )
    project = Project(root)
    cat = project.load()
    rendered.write(project.rendered, render.Renderer(project.templates, cat).render_all())
    return project, cat


def _built(step: buildplan.Step, result: records.TargetResult) -> records.TargetResult:
    """What a successful fake build leaves in a result."""
    result.status, result.digest, result.reference = (
        records.Status.BUILT,
        "sha256:" + "0" * 64,
        f"r/{step.image}:t",
    )
    result.base_pin = f"r/{step.image}@{result.digest}"
    return result


def test_failed_base_skips_children_and_keeps_others(make_project: Callable[..., Path], tmp_path: Path) -> None:
    """Scheduling with a fake builder: the failure of one branch never stops another."""
    from factory import site

    project, cat = _branches(make_project)
    config = site.Site(state_dir=tmp_path / "state")

    class Run(build.BuildRun):
        def _build(
            self, step: buildplan.Step, result: records.TargetResult, base: records.TargetResult | None
        ) -> records.TargetResult:
            result.log = f"/logs/{step.id}.log"
            if step.id == "a:1-runtime":
                raise FactoryError("buildx exited 1")
            return _built(step, result)

    sink = RecordingSink()
    board = Board(sink)
    run = Run(project, config, Docker("docker", {}), prepare_os=lambda *_: None, board=board)
    record = run.execute(buildplan.plan(cat, project))
    status = {t.id: (t.status, t.reason) for t in record.targets}
    assert status == {
        "os:trixie": ("built", None),
        "a:1-runtime": ("failed", "buildx exited 1"),
        "a:1-build": ("skipped", "base a:1-runtime failed"),
        "b:1-runtime": ("built", None),
        "tool:1.0-runtime": ("built", None),
    }
    assert (tmp_path / "state" / "builds" / run.run_id / "record.json").is_file()
    assert record.result("a:1-runtime").log == "/logs/a:1-runtime.log"  # what the failed worker had set
    assert {(r.target, r.platform, r.phase, r.detail) for r in board.rows() if r.target.startswith("a:")} == {
        ("a:1-runtime", "linux/amd64", Phase.FAILED, "buildx exited 1"),
        ("a:1-runtime", "linux/arm64", Phase.FAILED, "buildx exited 1"),
        ("a:1-build", "linux/amd64", Phase.SKIPPED, "base a:1-runtime failed"),
        ("a:1-build", "linux/arm64", Phase.SKIPPED, "base a:1-runtime failed"),
    }
    assert ("a:1-build", Phase.SKIPPED) in [(row.target, row.phase) for row in sink.changes]


def test_independent_targets_build_at_the_same_time_with_the_default_concurrency(
    make_project: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two siblings of the OS overlap: each build waits, inside its worker, until the other has started."""
    from factory import site

    monkeypatch.setattr(site.os, "sched_getaffinity", lambda _pid: {0, 1}, raising=False)  # a two-core machine
    config = site.Site(state_dir=tmp_path / "state")
    assert config.build.concurrency == 2  # the default: the usable cores
    project, cat = _branches(make_project)
    started = {"a:1-runtime": threading.Event(), "b:1-runtime": threading.Event()}
    overlapped: dict[str, bool] = {}

    class Run(build.BuildRun):
        def _build(
            self, step: buildplan.Step, result: records.TargetResult, base: records.TargetResult | None
        ) -> records.TargetResult:
            if step.id in started:
                started[step.id].set()
                (other,) = set(started) - {step.id}
                overlapped[step.id] = started[other].wait(timeout=10)  # sequential builds would wait in vain
            return _built(step, result)

    run = Run(project, config, Docker("docker", {}), prepare_os=lambda *_: None, board=Board(RecordingSink()))
    record = run.execute(buildplan.plan(cat, project, ["a:1-runtime", "b:1-runtime"]))
    assert overlapped == {"a:1-runtime": True, "b:1-runtime": True}
    assert [(t.id, t.status) for t in record.targets] == [
        ("os:trixie", "built"),
        ("a:1-runtime", "built"),
        ("b:1-runtime", "built"),
    ]


def test_builder_commands_per_driver() -> None:
    from factory.site import Builder

    assert builders.builder_commands(Builder("linux/arm64", "unix:///run/n.sock"), "factory-linux-arm64") == [
        ["docker", "context", "create", "factory-linux-arm64", "--docker", "host=unix:///run/n.sock"]
    ]
    tls = {"ca": "ca.pem", "cert": "c.pem", "key": "k.pem"}
    assert builders.builder_commands(Builder("linux/arm64", "tcp://n:2376", tls=tls), "b")[0][-1] == (
        "host=tcp://n:2376,ca=ca.pem,cert=c.pem,key=k.pem"
    )
    assert builders.builder_commands(Builder("linux/arm64", "kubernetes://builds", "kubernetes"), "b") == [[
        "docker", "buildx", "create", "--name", "b", "--driver", "kubernetes", "--platform", "linux/arm64",
        "--driver-opt", "namespace=builds,nodeselector=kubernetes.io/arch=arm64",
    ]]  # fmt: skip
    remote = builders.builder_commands(Builder("linux/arm64", "tcp://n:1234", "remote", tls), "b")[0]
    assert remote[-3:] == ["--driver-opt", "cacert=ca.pem,cert=c.pem,key=k.pem", "tcp://n:1234"]


def test_heartbeat_names_the_current_step(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("#1 [internal] load\n#6 [linux/arm64 2/3] RUN <<EOT (set -eux...)\n#6 12.0 Unpacking x\n")
    messages: list[str] = []
    beats = iter([False, False, True])  # two periods pass, then the build ends
    buildlog.Heartbeat("python:3.13-runtime", log, messages.append).beat(lambda _: next(beats))
    assert messages == ["python:3.13-runtime: still building: [linux/arm64 2/3] RUN <<EOT (set -eux...)"] * 2


HELPER_DOCKERFILE = "ARG BASE_IMAGE=os@sha256:00\nARG HELPER_PLATFORM=${BUILDPLATFORM}\nFROM ${BASE_IMAGE}\n"


def test_helper_stages_stay_on_the_build_platform_when_the_base_has_it() -> None:
    both = {"linux/amd64", "linux/arm64"}
    assert buildinfo.helper_platform("t", HELPER_DOCKERFILE, both, ["linux/arm64"], "linux/amd64") is None
    assert buildinfo.helper_platform("t", HELPER_DOCKERFILE, None, ["linux/arm64"], "linux/amd64") is None  # no parent
    assert buildinfo.helper_platform("t", "FROM os\n", {"linux/arm64"}, ["linux/arm64"], "linux/amd64") is None


def test_helper_stages_follow_a_single_target_platform_the_base_was_built_for_alone() -> None:
    arm = {"linux/arm64"}
    assert buildinfo.helper_platform("t", HELPER_DOCKERFILE, arm, ["linux/arm64"], "linux/amd64") == "linux/arm64"
    assert buildinfo.helper_platform("t", HELPER_DOCKERFILE, arm, ["linux/arm64"], None) == "linux/arm64"


def test_helper_stages_cannot_follow_several_target_platforms_in_one_build() -> None:
    with pytest.raises(UsageProblem, match=r"t: its base has no image for the build platform linux/amd64"):
        buildinfo.helper_platform(
            "t", HELPER_DOCKERFILE, {"linux/arm64", "linux/riscv64"}, ["linux/arm64", "linux/riscv64"], "linux/amd64"
        )


def test_the_host_platform_is_named_as_buildkit_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    for machine, expected in (("x86_64", "linux/amd64"), ("aarch64", "linux/arm64"), ("s390x", None)):
        monkeypatch.setattr(buildinfo.platform_module, "machine", lambda machine=machine: machine)
        assert buildinfo.host_platform() == expected


def test_the_build_key_follows_what_shapes_the_image_and_nothing_else(tmp_path: Path) -> None:
    from factory.buildinfo import build_key

    (tmp_path / "Dockerfile").write_text("FROM x\n")
    (tmp_path / ".dockerignore").write_text("*\n")
    args = {"BASE_IMAGE": "r/os@sha256:" + "1" * 64, "VCS_REF": "abc", "BUILD_DATE": "2026-12-01T00:00:00Z"}
    key = build_key(tmp_path, args, ["linux/amd64", "linux/arm64"])
    assert key.startswith("sha256:") and len(key) == 71
    # when and from which commit: not part of it; the platform order neither
    later = {**args, "VCS_REF": "def", "BUILD_DATE": "2026-12-02T00:00:00Z"}
    assert build_key(tmp_path, later, ["linux/arm64", "linux/amd64"]) == key
    assert build_key(tmp_path, {**args, "BASE_IMAGE": "r/os@sha256:" + "2" * 64}, ["linux/amd64", "linux/arm64"]) != key
    # the parent by its digest: from the staging or the final repository, the same image
    final = {**args, "BASE_IMAGE": "127.0.0.1:5000/base/os@sha256:" + "1" * 64}
    assert build_key(tmp_path, final, ["linux/amd64", "linux/arm64"]) == key
    assert build_key(tmp_path, args, ["linux/amd64"]) != key
    (tmp_path / ".dockerignore").write_text("*\n!x\n")
    assert build_key(tmp_path, args, ["linux/amd64", "linux/arm64"]) != key
