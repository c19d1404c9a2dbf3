from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from factory import model, render, rendered
from factory.cli import main
from factory.errors import RenderError
from factory.project import Project
from tests.conftest import FIXTURES


def _files(root: Path) -> dict[str, str]:
    project = Project(root)
    return {f.path: f.content for f in render.Renderer(project.templates, project.load()).render_all()}


def _tree(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_golden_fixture_matches(update_golden: bool) -> None:
    """The golden fixture exercises every install method; its rendered/ is the golden output."""
    root = FIXTURES / "golden"
    files = _files(root)
    if update_golden:
        rendered.write(root / "rendered", [render.RenderedFile(p, c) for p, c in files.items()])
    on_disk = {k: v.decode() for k, v in _tree(root / "rendered").items()}
    assert on_disk == files


def test_rendering_is_byte_identical_across_processes(make_project: Callable[..., Path]) -> None:
    """Two fresh processes with different hash seeds (set and dict order) write the same bytes."""
    root = make_project("golden")
    factory = Path(sys.executable).parent / "factory"
    trees = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [str(factory), "--root", str(root), "render", "--no-lint"], env=env, capture_output=True, check=False
        )
        assert done.returncode == 0, done.stderr
        trees.append(_tree(root / "rendered"))
        shutil.rmtree(root / "rendered")
    assert trees[0] == trees[1]
    assert len(trees[0]) > 10


def test_failed_render_leaves_rendered_untouched(make_project: Callable[..., Path]) -> None:
    root = make_project()
    runner = CliRunner()
    assert runner.invoke(main, ["--root", str(root), "render"]).exit_code == 0
    before = _tree(root / "rendered")
    # A template error in a later target must not leave a half-written rendered/.
    (root / "templates" / "broken.Dockerfile.j2").write_text('{{ raise("deliberately broken") }}\n')
    (root / "stacks" / "zzz.yaml").write_text(
        "variants: {runtime: {template: broken}}\nversions: [{version: '1', tags: [z1]}]\n"
    )
    result = runner.invoke(main, ["--root", str(root), "render"])
    assert result.exit_code == 4
    assert "zzz:1-runtime: deliberately broken" in result.stderr
    assert _tree(root / "rendered") == before
    assert [p.name for p in root.iterdir() if p.name.startswith(".rendered")] == []


GEN = rendered.GENERATED + ". DO NOT EDIT.\n"


def test_write_failure_midway_keeps_old_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "rendered"
    rendered.write(out, [render.RenderedFile("a/Dockerfile", GEN + "old\n")])
    calls = {"n": 0}
    real = os.fsync

    def failing(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        real(fd)

    monkeypatch.setattr(os, "fsync", failing)
    new = [render.RenderedFile("a/Dockerfile", GEN + "new\n"), render.RenderedFile("b/Dockerfile", GEN)]
    with pytest.raises(RenderError, match=r"cannot write rendered/: No space left on device.*left as it was"):
        rendered.write(out, new)
    monkeypatch.undo()
    assert _tree(out) == {"a/Dockerfile": (GEN + "old\n").encode()}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rendered"]


def test_check_reports_drift_as_unified_diff(make_project: Callable[..., Path]) -> None:
    root = make_project()
    runner = CliRunner()
    assert runner.invoke(main, ["--root", str(root), "render"]).exit_code == 0
    ok = runner.invoke(main, ["--root", str(root), "render", "--check"])
    assert ok.exit_code == 0 and "up to date" in ok.output
    dockerfile = root / "rendered" / "tool" / "1.0" / "runtime" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("USER 10001:10001", "USER root"))
    (root / "rendered" / "stale" / "Dockerfile").parent.mkdir(parents=True)
    (root / "rendered" / "stale" / "Dockerfile").write_text(GEN + "FROM scratch\n")
    stale = runner.invoke(main, ["--root", str(root), "render", "--check"])
    assert stale.exit_code == 1
    assert "--- a/rendered/tool/1.0/runtime/Dockerfile" in stale.stdout
    assert "-USER root\n+USER 10001:10001\n" in stale.stdout
    assert "--- a/rendered/stale/Dockerfile\n+++ /dev/null" in stale.stdout
    assert "rendered/ is stale" in stale.stderr


def test_render_removes_files_of_deleted_targets(make_project: Callable[..., Path]) -> None:
    root = make_project()
    runner = CliRunner()
    runner.invoke(main, ["--root", str(root), "render"])
    (root / "rendered" / "gone" / "x").mkdir(parents=True)
    (root / "rendered" / "gone" / "x" / "Dockerfile").write_text(GEN + "old")
    result = runner.invoke(main, ["--root", str(root), "render"])
    assert "wrote rendered/gone/x/Dockerfile" in result.output
    assert not (root / "rendered" / "gone").exists()


def test_stack_scope_leaves_other_stacks_alone(make_project: Callable[..., Path]) -> None:
    root = make_project("golden")
    shutil.rmtree(root / "rendered")
    runner = CliRunner()
    assert runner.invoke(main, ["--root", str(root), "render", "--stack", "jdk"]).exit_code == 0
    assert sorted(p.name for p in (root / "rendered").iterdir()) == ["jdk"]
    assert runner.invoke(main, ["--root", str(root), "render", "--stack", "tool"]).exit_code == 0
    assert sorted(p.name for p in (root / "rendered").iterdir()) == ["jdk", "tool"]
    assert runner.invoke(main, ["--root", str(root), "render", "--check", "--stack", "tool"]).exit_code == 0
    assert runner.invoke(main, ["--root", str(root), "render", "--check"]).exit_code == 1  # os missing
    bad = runner.invoke(main, ["--root", str(root), "render", "--stack", "nope"])
    assert bad.exit_code == 2 and "unknown stack nope" in bad.output


def test_syntax_line_is_a_setting(make_project: Callable[..., Path]) -> None:
    root = make_project()
    assert all("# syntax=" not in c for c in _files(root).values())
    project = Project(root)
    files = render.Renderer(project.templates, project.load(), syntax_line="docker/dockerfile:1").render_all()
    dockerfile = next(f.content for f in files if f.path.endswith("runtime/Dockerfile"))
    assert dockerfile.startswith("# syntax=docker/dockerfile:1\n")


def test_base_is_pinned_or_placeholder(make_project: Callable[..., Path]) -> None:
    digest = "sha256:" + "d" * 64
    root = make_project(
        files={
            "stacks/tool.yaml": "variants:\n  runtime: {}\n  build: {from: runtime}\n"
            "versions: [{version: '1', tags: ['1']}]\n",
            "pins/images.yaml": "images:\n"
            f"  tool:1-runtime: {{reference: 127.0.0.1:5000/factory-staging/tool, digest: '{digest}'}}\n",
        }
    )
    files = _files(root)
    runtime, build = files["tool/1/runtime/Dockerfile"], files["tool/1/build/Dockerfile"]
    assert f"ARG BASE_IMAGE=factory.invalid/os:trixie@{model.PLACEHOLDER_DIGEST}\n" in runtime
    assert f"ARG BASE_IMAGE=127.0.0.1:5000/factory-staging/tool@{digest}\n" in build
    assert "#   pins/images.yaml\n" in build


def test_values_are_quoted_for_the_dockerfile(make_project: Callable[..., Path]) -> None:
    root = make_project(
        files={
            "stacks/tool.yaml": "env: {MSG: 'a \"quoted\" \\ value with $HOME'}\n"
            "labels: {org.example.note: 'x\" \\ y'}\n"
            "variants: {runtime: {}}\nversions: [{version: '1', tags: ['1']}]\n",
        }
    )
    dockerfile = _files(root)["tool/1/runtime/Dockerfile"]
    assert 'ENV MSG="a \\"quoted\\" \\\\ value with $HOME"\n' in dockerfile
    assert 'org.example.note="x\\" \\\\ y"' in dockerfile


def test_dq_refuses_newlines() -> None:
    with pytest.raises(RenderError):
        render._dq("a\nRUN id")


def test_one_environment_escapes_html_pages_only(tmp_path: Path) -> None:
    """The catalogue site's .html.j2 pages are autoescaped; Dockerfiles and scripts stay as written."""
    value = '<b>"x" & y</b>'
    for name in ("page.html.j2", "image.Dockerfile.j2", "script.sh.j2"):
        (tmp_path / name).write_text("{{ value }}")
    env = render.make_environment(tmp_path)
    assert env.get_template("page.html.j2").render(value=value) == "&lt;b&gt;&#34;x&#34; &amp; y&lt;/b&gt;"
    assert env.get_template("image.Dockerfile.j2").render(value=value) == value
    assert env.get_template("script.sh.j2").render(value=value) == value


def test_sources_in_header(make_project: Callable[..., Path]) -> None:
    dockerfile = _files(make_project("golden"))["jdk/21/runtime/Dockerfile"]
    header = dockerfile.split("\n\n", 1)[0]
    for source in (
        "stacks/jdk.yaml",
        "stacks/_defaults.yaml",
        "stacks/os.yaml",
        "pins/images.yaml",
        "templates/java.Dockerfile.j2",
        "templates/stack.Dockerfile.j2",
        "templates/macros.j2",
    ):
        assert f"#   {source}\n" in header + "\n"


def test_static_template_refuses_packages(make_project: Callable[..., Path]) -> None:
    root = make_project(
        files={
            "stacks/tool.yaml": "variants:\n  static:\n    versioned: false\n    from: scratch\n    template: static\n"
            "    tags: [static]\n    install: [{method: os-packages, packages: [curl]}]\n"
        }
    )
    with pytest.raises(RenderError, match="tool:static: a static image has no package manager"):
        _files(root)


def test_strict_undefined_catches_misspelled_variables(make_project: Callable[..., Path]) -> None:
    root = make_project()
    (root / "templates" / "stack.Dockerfile.j2").write_text("{{ target.verison }}\n")
    with pytest.raises(RenderError, match="has no attribute 'verison'"):
        _files(root)
