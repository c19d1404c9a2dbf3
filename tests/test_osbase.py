from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from factory import aptsources, osbase, site
from factory.cli import main
from factory.errors import FactoryError
from factory.project import Project


def _rendered(make_project: Callable[..., Path]) -> tuple[Project, osbase.Recipe]:
    root = make_project()
    assert CliRunner().invoke(main, ["--root", str(root), "render"]).exit_code == 0
    project = Project(root)
    return project, osbase.Recipe.rendered(root / "rendered" / "os" / "trixie")


def test_command(make_project: Callable[..., Path], tmp_path: Path) -> None:
    project, recipe = _rendered(make_project)
    os_base = project.load().os
    argv = osbase.command(os_base, "arm64", tmp_path / "s", recipe, tmp_path / "out.tar")
    assert argv[:4] == ["mmdebstrap", "--mode=root", "--variant=minbase", "--architectures=arm64"]
    assert "--include=ca-certificates,tini" in argv
    assert f"--dpkgopt={recipe.dpkg_cfg}" in argv
    assert f'--customize-hook=sh {recipe.customize} "$1"' in argv
    assert argv[-3:] == ["trixie", str(tmp_path / "out.tar"), str(tmp_path / "s")]


def test_recipe_contents(make_project: Callable[..., Path]) -> None:
    _, recipe = _rendered(make_project)
    hook = recipe.customize.read_text()
    assert 'chroot "$r" useradd --uid 10001 --gid 10001 --no-log-init' in hook
    assert "ln -sfn /usr/share/zoneinfo/UTC" in hook
    assert hook.startswith("# GENERATED")


def test_inputs_key_changes_with_inputs(make_project: Callable[..., Path]) -> None:
    project, recipe = _rendered(make_project)
    os_base = project.load().os
    key = osbase.inputs_key(os_base, "amd64", "sources A", recipe)
    assert key == osbase.inputs_key(os_base, "amd64", "sources A", recipe)
    assert key != osbase.inputs_key(os_base, "arm64", "sources A", recipe)
    assert key != osbase.inputs_key(os_base, "amd64", "sources B", recipe)


def test_missing_recipe_says_render(tmp_path: Path) -> None:
    with pytest.raises(FactoryError, match="run `factory render`"):
        osbase.Recipe.rendered(tmp_path)


def test_cached_rootfs_is_reused(make_project: Callable[..., Path], tmp_path: Path) -> None:
    project, recipe = _rendered(make_project)
    etc = tmp_path / "apt"
    (etc / "sources.list.d").mkdir(parents=True)
    codename = aptsources.host_codename() or "bookworm"
    (etc / "sources.list").write_text(f"deb http://mirror.test/debian {codename} main\n")
    config = site.Site(cache_dir=tmp_path / "cache")
    boot = osbase.Bootstrapper(project.load().os, config, recipe, etc_apt=etc)
    assert "URIs: http://mirror.test/debian\nSuites: trixie trixie-updates" in boot.sources_text
    key = osbase.inputs_key(project.load().os, "amd64", boot.sources_text, recipe)
    cached = tmp_path / "cache" / "rootfs" / f"rootfs-trixie-amd64-{key}.tar"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"tar")
    import json
    import time

    cached.with_suffix(".json").write_text(json.dumps({"built": time.time(), "epoch": 86400 * 2, "key": key}))
    messages: list[str] = []
    rootfs = boot.rootfs("amd64", messages.append)
    assert rootfs.cached and rootfs.path == cached and rootfs.epoch == 86400 * 2
    assert messages[0].startswith("rootfs amd64: cached")


def test_snapshot_needs_an_archive_and_freezes_the_sources(make_project: Callable[..., Path]) -> None:
    from factory.errors import EnvironmentProblem

    project, _ = _rendered(make_project)
    os_base = project.load().os
    pinned = site.Site(os=site.OSSource(snapshot="20251120T000000Z"))
    with pytest.raises(EnvironmentProblem, match=r"no os\.snapshot_archive"):
        osbase.sources_for(os_base, pinned, [])
    archive = "http://snapshots.test/archive/debian/{snapshot}"
    text = osbase.sources_for(
        os_base, site.Site(os=site.OSSource(snapshot="20251120T000000Z", snapshot_archive=archive)), []
    )
    assert text.startswith("Types: deb\nURIs: http://snapshots.test/archive/debian/20251120T000000Z\n")
    assert "Check-Valid-Until: no" in text


def test_configured_mirror_wins(make_project: Callable[..., Path]) -> None:
    project, _ = _rendered(make_project)
    text = osbase.sources_for(project.load().os, site.Site(os=site.OSSource(mirror="http://internal.test/debian")), [])
    assert "URIs: http://internal.test/debian\nSuites: trixie trixie-updates" in text
