from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from factory import catalogue, model
from factory.errors import DefinitionError
from factory.render import available_templates
from tests.conftest import REPO


def _load(root: Path) -> model.Catalogue:
    return catalogue.load(root, available_templates(root / "templates"))


def test_minimal_catalogue(make_project: Callable[..., Path]) -> None:
    cat = _load(make_project())
    assert cat.os.id == "os:trixie"
    assert cat.os.user == model.User("app", 10001, "app", 10001, "/home/app")
    os_target, target = cat.targets
    assert os_target.id == "os:trixie" and os_target.is_os and os_target.base == model.BaseRef(model.BaseKind.ROOTFS)
    assert os_target.dockerfile == "os/trixie/Dockerfile" and os_target.references == ("os:trixie",)
    assert target.id == "tool:1.0-runtime"
    assert target.tags == ("1.0", "1")
    assert target.references == ("tool:1.0", "tool:1")
    assert target.base == model.BaseRef(model.BaseKind.OS, "os:trixie")
    assert target.dockerfile == "tool/1.0/runtime/Dockerfile"
    assert target.labels == {"org.opencontainers.image.vendor": "Test"}  # from _defaults
    assert target.sources == ("stacks/tool.yaml", "stacks/_defaults.yaml")


def test_switching_release_is_one_value(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    shutil.copytree(REPO / "stacks", root / "stacks")
    shutil.copytree(REPO / "templates", root / "templates")
    trixie = {t.id for t in _load(root).targets}
    os_yaml = root / "stacks" / "os.yaml"
    os_yaml.write_text(os_yaml.read_text().replace("release: trixie", "release: bookworm"))
    with pytest.raises(DefinitionError) as ended:  # today, bookworm and some of its versions are past their end of life
        _load(root)
    assert [p.field for p in ended.value.problems] == ["versions[1].eol", "versions[1].eol", "releases.bookworm.eol"]
    assert [p.file for p in ended.value.problems] == ["stacks/go.yaml", "stacks/node.yaml", "stacks/os.yaml"]
    bookworm = catalogue.load(root, available_templates(root / "templates"), today=dt.date(2023, 7, 1))
    assert bookworm.os.id == "os:bookworm" and bookworm.os.version == "12"
    ids = {t.id for t in bookworm.targets}
    assert "python:3.11-runtime" in ids and "python:3.13-runtime" not in ids
    assert "java:17-build" in ids and "go:static" in ids
    assert {i.split(":")[0] for i in ids} == {i.split(":")[0] for i in trixie}


def test_extends_merges_mappings_and_replaces_lists(make_project: Callable[..., Path]) -> None:
    root = make_project(
        files={
            "stacks/_base.yaml": "platforms: [linux/amd64, linux/arm64]\nenv: {A: '1', B: '2'}\n"
            "labels: {org.example.team: base}\n",
            "stacks/child.yaml": "extends: _base\nplatforms: [linux/arm64]\nenv: {B: '3'}\n"
            "variants: {runtime: {}}\nversions: [{version: '1', tags: [c1]}]\n",
        }
    )
    target = _load(root).target("child:1-runtime")
    assert target.platforms == ("linux/arm64",)
    assert dict(target.env) == {"A": "1", "B": "3"}
    assert target.labels["org.example.team"] == "base"
    # _base names no parent, so it extends _defaults implicitly
    assert target.sources == ("stacks/child.yaml", "stacks/_base.yaml", "stacks/_defaults.yaml")


def test_parents_come_before_children(make_project: Callable[..., Path]) -> None:
    root = make_project(
        files={
            "stacks/tool.yaml": "variants:\n  build: {from: runtime}\n  runtime: {}\n"
            "versions: [{version: '1', tags: ['1']}]\n"
        }
    )
    cat = _load(root)
    assert [t.id for t in cat.targets] == ["os:trixie", "tool:1-runtime", "tool:1-build"]
    assert cat.target("tool:1-build").base == model.BaseRef(model.BaseKind.TARGET, "tool:1-runtime")
    assert cat.target("tool:1-build").tags == ("1-build",)


def test_version_selects_variants_and_narrows_platforms(make_project: Callable[..., Path]) -> None:
    root = make_project(
        files={
            "stacks/tool.yaml": """
variants:
  runtime: {env: {X: stack}}
  build: {from: runtime}
versions:
  - version: "2"
    tags: ["2"]
    platforms: [linux/amd64]
    variants:
      runtime: {env: {X: version}}
"""
        }
    )
    [_, target] = _load(root).targets
    assert target.id == "tool:2-runtime"
    assert target.platforms == ("linux/amd64",)
    assert target.env["X"] == "version"


def test_version_building_a_variant_without_its_parent(make_project: Callable[..., Path]) -> None:
    root = make_project(
        files={
            "stacks/tool.yaml": "variants:\n  runtime: {}\n  build: {from: runtime}\n"
            "versions: [{version: '1', tags: ['1'], variants: {build: {}}}]\n"
        }
    )
    with pytest.raises(DefinitionError, match="built from 'runtime', which this version does not build"):
        _load(root)


def test_platform_outside_os_base(make_project: Callable[..., Path]) -> None:
    root = make_project(files={"stacks/_defaults.yaml": "platforms: [linux/amd64, linux/s390x]\n"})
    with pytest.raises(DefinitionError) as info:
        _load(root)
    assert "linux/s390x not built by the OS base (stacks/os.yaml)" in str(info.value)


def test_unversioned_variant_needs_tags(make_project: Callable[..., Path]) -> None:
    root = make_project(
        files={"stacks/tool.yaml": "variants: {static: {versioned: false, from: scratch, template: static}}\n"}
    )
    with pytest.raises(DefinitionError) as info:
        _load(root)
    assert str(info.value) == "stacks/tool.yaml:1: variants.static.tags: an unversioned variant needs its own tags"


def test_all_problems_of_all_files_at_once(make_project: Callable[..., Path]) -> None:
    root = make_project(
        files={
            "stacks/a.yaml": "descripton: x\n",
            "stacks/b.yaml": "platforms: [linux/mips]\n",
        }
    )
    with pytest.raises(DefinitionError) as info:
        _load(root)
    lines = str(info.value).splitlines()
    assert lines[0] == "stacks/a.yaml:1: descripton: unknown field; did you mean 'description'?"
    assert lines[1].startswith("stacks/b.yaml:1: platforms[0]: expected one of linux/amd64")


def test_pins_are_read(make_project: Callable[..., Path]) -> None:
    digest = "sha256:" + "c" * 64
    root = make_project(
        files={
            "pins/images.yaml": f"images:\n  os:trixie: {{reference: 127.0.0.1:5000/f/os:trixie, digest: '{digest}'}}\n"
        }
    )
    cat = _load(root)
    assert cat.pinned_reference(cat.target("os:trixie")) == f"127.0.0.1:5000/f/os:trixie@{digest}"
    assert cat.pinned_reference(cat.target("tool:1.0-runtime")) == (
        "factory.invalid/tool:1.0@" + model.PLACEHOLDER_DIGEST
    )


def test_bad_pins_are_located(make_project: Callable[..., Path]) -> None:
    root = make_project(files={"pins/images.yaml": "images:\n  os:trixie: {reference: x, digest: md5:1}\n"})
    with pytest.raises(DefinitionError) as info:
        _load(root)
    assert "pins/images.yaml:2: images.os:trixie.digest: expected sha256:<64 hex>, got 'md5:1'" in str(info.value)


def test_an_artifact_runs_in_the_variants_it_names(make_project: Callable[..., Path]) -> None:
    root = make_project(
        files={
            "stacks/tool.yaml": """
variants:
  runtime: {}
  build:
    from: runtime
    artifact: {script: "make /artifact/x", run: [/artifact/x], run_in: [build, runtime, static]}
  static: {versioned: false, from: scratch, template: static, tags: [static]}
versions: [{version: "1", tags: ["1"]}]
"""
        }
    )
    artifact = _load(root).target("tool:1-build").artifact
    assert artifact == model.Artifact(
        "make /artifact/x", ("/artifact/x",), ("tool:1-build", "tool:1-runtime", "tool:static")
    )
    assert _load(root).target("tool:1-runtime").artifact is None


def test_an_artifact_naming_no_variant_is_located(make_project: Callable[..., Path]) -> None:
    root = make_project(
        files={
            "stacks/tool.yaml": "variants:\n  runtime:\n    artifact: {script: x, run: [x], run_in: [runtme]}\n"
            "versions: [{version: '1', tags: ['1']}]\n"
        }
    )
    with pytest.raises(DefinitionError) as info:
        _load(root)
    assert str(info.value) == (
        "stacks/tool.yaml:3: variants.runtime.artifact.run_in[0]: no variant 'runtme' in this stack;"
        " did you mean 'runtime'?"
    )
