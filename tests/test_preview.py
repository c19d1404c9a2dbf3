"""factory preview: the base ref rendered from a real git repository against the working tree.

Each test builds a small project (tests/fixtures/minimal with the repo's
templates) in a temporary git repository: a base commit, then the change a
pull request would make, and runs the command as CI does.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from factory import model, pipeline, preview, rendered
from factory.cli import main
from factory.lint.model import Severity
from factory.lint.runner import Report
from factory.project import Project
from tests.support.targets import make_target

TOOL = """description: A small stack for tests
variants:
  runtime:
    install:
      - method: os-packages
        packages: [curl]
    verify: [curl --version]
versions:
{versions}
"""
STACK_TEMPLATE = "templates/stack.Dockerfile.j2"
FINAL_FROM = "FROM ${BASE_IMAGE}\n"


def _tool(*versions: str) -> str:
    return TOOL.format(versions="".join(f'  - version: "{v}"\n    tags: ["{v}"]\n' for v in versions))


GIT_CONFIG = ("-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false")


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(root), *GIT_CONFIG, *args], capture_output=True, text=True, check=True)
    return done.stdout


def _render(root: Path) -> None:
    """What `factory render` writes, as the pull request commits it."""
    workspace = pipeline.Workspace.open(Project(root))
    rendered.write(root / "rendered", pipeline.render(workspace))


def _commit(root: Path, message: str) -> None:
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", message)


def _edit(root: Path, relative: str, old: str, new: str) -> None:
    path = root / relative
    text = path.read_text()
    assert old in text, f"{old!r} not in {relative}"
    path.write_text(text.replace(old, new, 1))


@pytest.fixture(autouse=True)
def _no_step_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)  # set in GitHub's CI: the tests write their own


@pytest.fixture
def repo(make_project: Callable[..., Path]) -> Path:
    """A git repository whose `base` branch has the tool versions 1.0 to 3.0 and the stack `gone`, rendered."""
    root = make_project(files={"stacks/tool.yaml": _tool("1.0", "2.0", "3.0"), "stacks/gone.yaml": _tool("1")})
    _git(root, "init", "-q", "-b", "base")
    _render(root)
    _commit(root, "base")
    return root


def _pull_request(root: Path) -> None:
    """A template change for every tool image, a new stack (fresh) and a removed one (gone), rendered."""
    _edit(root, STACK_TEMPLATE, FINAL_FROM, FINAL_FROM + "# reviewed: the final stage\n")
    (root / "stacks/gone.yaml").unlink()
    (root / "stacks/fresh.yaml").write_text(_tool("1"))
    _render(root)


def _preview(root: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, ["--root", str(root), "preview", "--base", "base", "--no-tools", *args], env=env)


def _worktrees(root: Path) -> list[str]:
    return [line for line in _git(root, "worktree", "list", "--porcelain").splitlines() if line.startswith("worktree ")]


def _leftovers() -> list[str]:
    return [p.name for p in Path(tempfile.gettempdir()).glob("factory-base-*")]


def test_markdown_has_every_section_in_order(repo: Path) -> None:
    _pull_request(repo)
    result = _preview(repo)
    assert result.exit_code == 0, result.output + result.stderr
    text = result.stdout
    assert text.splitlines()[0] == preview.MARKER
    assert text.count(preview.MARKER) == 1
    assert "**3 images changed, 1 new, 1 removed** against `base`" in text
    assert "Removed: `gone:1-runtime`." in text
    headings = [line for line in text.splitlines() if line.startswith("### ")]
    assert headings == ["### Plan", "### Image graph", "### Lint", "### Rendered files"]
    plan = text.split("### Plan")[1].split("###")[0]
    for version in ("1.0", "2.0", "3.0"):
        assert (
            f"| `tool:{version}-runtime` | linux/amd64, linux/arm64 | template changed: {STACK_TEMPLATE} | 1 |" in plan
        )
    assert "| `fresh:1-runtime` | linux/amd64, linux/arm64 | new image | 1 |" in plan
    assert "os:trixie" not in plan and "gone" not in plan
    graph = text.split("```mermaid\n")[1].split("```")[0]
    assert graph.startswith("graph TD\n")
    assert '  t0["os:trixie"]' in graph and "  t0 --> t1" in graph
    assert '  t1["fresh:1-runtime"]' in graph
    assert "class t2,t3,t4 changed" in graph and "class t1 new" in graph
    assert "classDef changed" in graph and "classDef new" in graph
    assert "`factory lint` of the rendered files: ok at warning (5 files" in text


def test_identical_diffs_are_grouped(repo: Path) -> None:
    _pull_request(repo)
    text = _preview(repo).stdout
    blocks = re.findall(r"<details><summary>(.*?)</summary>\n\n(.*?)</details>", text, re.DOTALL)
    assert len(blocks) == 2  # the new image; the template change once for three images
    summary, body = blocks[1]
    assert summary == (
        "<code>tool:1.0-runtime</code>, <code>tool:2.0-runtime</code>, <code>tool:3.0-runtime</code>:"
        f" template changed: {STACK_TEMPLATE}, applies to 3 images"
    )
    assert "+# reviewed: the final stage\n" in body
    assert body.count("--- a/rendered/tool/1.0/runtime/Dockerfile") == 1 and "2.0/runtime" not in body
    new_summary, new_body = blocks[0]
    assert new_summary == "<code>fresh:1-runtime</code>: new image"
    assert "--- /dev/null\n+++ b/rendered/fresh/1/runtime/Dockerfile" in new_body


def test_json_carries_the_same_data(repo: Path) -> None:
    _pull_request(repo)
    result = _preview(repo, "--output", "json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["ok"] is True
    assert doc["base"]["ref"] == "base" and re.fullmatch(r"[0-9a-f]{40}", doc["base"]["commit"])
    assert doc["summary"] == {
        "changed": ["tool:1.0-runtime", "tool:2.0-runtime", "tool:3.0-runtime"],
        "new": ["fresh:1-runtime"],
        "removed": ["gone:1-runtime"],
        "rebuild": 4,
        "waves": 1,
        "risky_edits": 0,
    }
    assert doc["stale"] == []
    assert doc["plan"][1] == {
        "target": "tool:1.0-runtime",
        "platforms": ["linux/amd64", "linux/arm64"],
        "reasons": [f"template changed: {STACK_TEMPLATE}"],
        "wave": 1,
    }
    assert ["os:trixie", "fresh:1-runtime"] in doc["graph"]["edges"]
    assert doc["groups"][1]["title"] == f"template changed: {STACK_TEMPLATE}, applies to 3 images"
    assert doc["lint"]["findings"] == []
    assert doc["markdown"]["truncated"] is False and doc["markdown"]["budget"] == preview.BUDGET


def test_the_base_is_rendered_from_git_not_from_its_rendered(repo: Path) -> None:
    """The base's committed rendered/ is stale on purpose: the preview must not read it."""
    (repo / "rendered/tool/1.0/runtime/Dockerfile").write_text(
        (repo / "rendered/tool/1.0/runtime/Dockerfile").read_text() + "# stale line of the base\n"
    )
    _commit(repo, "a stale rendered/ on the base")
    _git(repo, "checkout", "-q", "-b", "change")
    _render(repo)  # the pull request's own rendered/ is current
    _commit(repo, "render")
    result = _preview(repo)
    assert result.exit_code == 0, result.stderr
    assert "**0 images changed, 0 new, 0 removed**" in result.stdout
    assert "stale line" not in result.stdout


def test_a_template_change_rebuilds_the_children_in_waves(repo: Path) -> None:
    """The OS template changes: the OS base is rebuilt in wave 1, every child in wave 2 ("parent rebuilt")."""
    _edit(repo, "templates/os.Dockerfile.j2", "FROM scratch\n", "FROM scratch\n# reviewed\n")
    _render(repo)
    doc = json.loads(_preview(repo, "-o", "json").stdout)
    waves = {r["target"]: (r["wave"], r["reasons"]) for r in doc["plan"]}
    assert waves["os:trixie"] == (1, ["template changed: templates/os.Dockerfile.j2"])
    assert waves["tool:1.0-runtime"] == (2, ["parent rebuilt: os:trixie"])
    assert len(waves) == 5  # the OS and the four stack images
    assert doc["summary"]["changed"] == ["os:trixie"]


def test_a_user_change_is_flagged(repo: Path) -> None:
    _edit(repo, "stacks/os.yaml", "uid: 10001", "uid: 10002")
    _render(repo)
    text = _preview(repo).stdout
    flag = "USER changed: the image runs as `10002:10001` (was `10001:10001`)"
    risky = text.split("### Risky edits\n\n")[1].split("###")[0]
    assert risky.startswith(f"- {flag}: `os:trixie`, `gone:1-runtime`, `tool:1.0-runtime`, ")
    assert "definition changed: stacks/os.yaml ⚠️</summary>" in text
    assert "5 risky edits" in text  # the OS and its four children


def test_stale_rendered_fails_with_exit_1(repo: Path) -> None:
    """The pull request changes a definition but does not commit the render: drift."""
    (repo / "stacks/gone.yaml").unlink()
    result = _preview(repo)
    assert result.exit_code == 1
    assert "> **rendered/ is stale** (`rendered/gone/1/runtime/.dockerignore`" in result.stdout
    assert json.loads(_preview(repo, "-o", "json").stdout)["stale"][0] == "rendered/gone/1/runtime/.dockerignore"


def test_lint_findings_at_the_threshold_exit_6(repo: Path) -> None:
    """A download without checksum: a lint warning (exit 6 at the default threshold) and a risky edit."""
    _edit(repo, STACK_TEMPLATE, FINAL_FROM, FINAL_FROM + "RUN curl -fsS -o /tmp/x https://example.invalid/x\n")
    _render(repo)
    result = _preview(repo)
    assert result.exit_code == 6
    assert re.search(r"rendered/tool/1\.0/runtime/Dockerfile:\d+ FB041 warning: download with curl", result.stdout)
    assert "download without checksum (FB041): `RUN curl -fsS -o /tmp/x https://example.invalid/x`" in result.stdout
    assert _preview(repo, "--failure-threshold", "error").exit_code == 0


def test_a_bad_ref_is_a_usage_error_naming_it(repo: Path) -> None:
    result = CliRunner().invoke(main, ["--root", str(repo), "preview", "--base", "no-such-branch", "--no-tools"])
    assert result.exit_code == 2
    assert "no-such-branch" in result.stderr
    result = CliRunner().invoke(main, ["--root", str(repo), "preview", "--base", "nope", "-o", "json"])
    doc = json.loads(result.stdout)
    assert (doc["ok"], doc["exit_code"], doc["error"]) == (False, 2, "UsageProblem")
    assert "nope" in doc["message"]


def test_the_worktree_is_removed_afterwards_even_on_failure(repo: Path) -> None:
    before = _leftovers()
    assert _preview(repo).exit_code == 0
    (repo / "stacks/tool.yaml").write_text("versions: {}\n")  # the base branch gets an invalid definition
    _commit(repo, "broken")
    _git(repo, "checkout", "-q", "-b", "fixed", "HEAD~1")
    result = _preview(repo)
    assert result.exit_code == 3
    assert "base:stacks/tool.yaml" in result.stderr  # the problem is named in the base ref
    assert _worktrees(repo) == [f"worktree {repo.resolve()}"]
    assert _leftovers() == before


def test_a_base_without_a_catalogue_makes_every_image_new(make_project: Callable[..., Path]) -> None:
    root = make_project()
    _git(root, "init", "-q", "-b", "base")
    (root / "README").write_text("nothing yet\n")
    _git(root, "add", "README")
    _git(root, "commit", "-q", "-m", "no catalogue yet")  # the stacks stay uncommitted: the working tree
    _render(root)
    doc = json.loads(_preview(root, "-o", "json").stdout)
    assert doc["summary"]["new"] == ["os:trixie", "tool:1.0-runtime"]
    assert [r["wave"] for r in doc["plan"]] == [1, 2]


def test_past_the_budget_the_comment_is_truncated_and_the_whole_goes_elsewhere(repo: Path, tmp_path: Path) -> None:
    """600 lines that differ per image make each diff distinct: four diffs of ~25,000 characters."""
    filler = "{% for n in range(600) %}\n# {{ target.id }} filler line {{ n }}\n{% endfor %}\n"
    _edit(repo, STACK_TEMPLATE, FINAL_FROM, FINAL_FROM + filler)
    _render(repo)
    full, summary = tmp_path / "full.md", tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    result = _preview(repo, "--full", str(full), env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert result.exit_code == 0, result.stderr
    comment, whole = result.stdout, full.read_text()
    assert len(whole) > preview.BUDGET
    assert len(comment) <= preview.BUDGET
    assert comment.startswith(preview.MARKER + "\n") and "TRUNCATED" in comment
    assert f"of the preview's {len(whole):,} characters" in comment
    assert comment.count("<details>") == comment.count("</details>") >= 1  # cut between diffs, never inside one
    assert comment.count("```") % 2 == 0
    assert "TRUNCATED" not in whole and whole.count("<details>") == 4
    assert summary.read_text() == "earlier step\n" + whole
    assert json.loads(_preview(repo, "-o", "json").stdout)["markdown"]["truncated"] is True


# -- the parts, without git ------------------------------------------------------------------------

BASE = "127.0.0.1:5000/factory/os:trixie@sha256:" + "a" * 64
DOCKERFILE = f"""ARG BASE_IMAGE={BASE}
FROM ${{BASE_IMAGE}}
USER 0:0
RUN <<EOT
set -eux
apt-get install -y --no-install-recommends curl
curl --fail -o /tmp/tool https://example.invalid/tool
sha256sum -c /tmp/tool.sha256
EOT
USER 10001:10001
"""


def _risky(new: str) -> tuple[str, ...]:
    return preview.risky_edits({"t/Dockerfile": DOCKERFILE}, {"t/Dockerfile": new})


def test_risky_edits() -> None:
    assert _risky(DOCKERFILE) == ()
    assert _risky(DOCKERFILE.replace("USER 10001:10001", "USER 0")) == (
        "USER changed: the image runs as `0` (was `10001:10001`)",
    )
    assert _risky(DOCKERFILE.replace("USER 0:0", "USER root")) == (
        "USER changed in a build stage: `0:0, 10001:10001` -> `root, 10001:10001`",
    )
    assert _risky(DOCKERFILE.replace("a" * 64, "b" * 64)) == (
        "base digest moved: `os:trixie` sha256:aaaaaaaaaaaa -> sha256:bbbbbbbbbbbb",
    )
    assert _risky(DOCKERFILE.replace("sha256sum -c /tmp/tool.sha256\n", "")) == (
        "download without checksum (FB041): `curl --fail -o /tmp/tool https://example.invalid/tool`",
    )
    assert _risky(DOCKERFILE.replace(" --no-install-recommends", "")) == (
        "--no-install-recommends dropped (FB070): `apt-get install -y curl`",
    )
    added = DOCKERFILE.replace("USER 10001", "ADD https://example.invalid/x /x\nUSER 10001")
    assert _risky(added) == ("download without checksum (FB042): `ADD https://example.invalid/x /x`",)


def test_a_moved_line_is_no_new_risk() -> None:
    moved = DOCKERFILE.replace("set -eux\n", "set -eux\necho moved\n")
    assert _risky(moved) == ()


def _target(name: str, base: str | None) -> model.Target:
    kind = model.BaseKind.TARGET if base else model.BaseKind.ROOTFS
    return make_target(stack=name, version=None, variant="v", image=name, tags=("t",), base=model.BaseRef(kind, base))


def test_plan_waves_follow_the_parent_graph() -> None:
    """a <- b <- c, a <- d: a change to b rebuilds b (wave 1) and c (wave 2), never a or d."""
    targets = (_target("a", None), _target("b", "a:v"), _target("c", "b:v"), _target("d", "a:v"))
    os_base = model.OSBase(
        "os", "trixie", "13", "a", ("t",), None, None, "", (), (), (), "UTC",
        model.User("app", 1, "app", 1, "/h"), ("linux/amd64",), model.frozen_map(), model.frozen_map(), (), "",
    )  # fmt: skip
    catalogue = model.Catalogue(os_base, targets, {})
    found = preview.plan(catalogue, {"b:v": ["template changed: templates/x.j2"]})
    assert [(r.target, r.wave, r.reasons) for r in found] == [
        ("b:v", 1, ("template changed: templates/x.j2",)),
        ("c:v", 2, ("parent rebuilt: b:v",)),
    ]
    everything = preview.plan(catalogue, {"a:v": ["x"], "d:v": ["y"]})
    assert [(r.target, r.wave) for r in everything] == [("a:v", 1), ("b:v", 2), ("d:v", 2), ("c:v", 3)]
    assert everything[2].reasons == ("y", "parent rebuilt: a:v")


def test_markdown_budget_cuts_whole_items() -> None:
    catalogue = model.Catalogue(
        model.OSBase(
            "os", "trixie", "13", "a", ("t",), None, None, "", (), (), (), "UTC",
            model.User("app", 1, "app", 1, "/h"), ("linux/amd64",), model.frozen_map(), model.frozen_map(), (), "",
        ),
        (_target("a", None),),
        {},
    )  # fmt: skip
    changes = tuple(
        preview.Change(f"a{n}", preview.Status.NEW, ("new image",), (), ((f"a{n}/Dockerfile", f"+x{n}\n" * 500),))
        for n in range(10)
    )
    result = preview.Preview("main", "0" * 40, changes, (), catalogue, Report((), ()), ())
    whole = preview.markdown(result, Severity.WARNING, budget=None)
    cut = preview.markdown(result, Severity.WARNING, budget=5_000)
    assert len(whole) > 10_000 and len(cut) <= 5_000
    assert cut.count("<details>") == cut.count("</details>") == 2  # 2,000 characters each
    assert cut.endswith(" the job summary and in the run's artifacts.\n") and "**TRUNCATED**" in cut


def test_header_sources_are_read_from_the_generated_header() -> None:
    header = "# GENERATED by `factory render` for x. DO NOT EDIT.\n# Edit the sources below\n"
    text = header + "#   stacks/x.yaml\n#   templates/y.j2\n\nFROM a\n#   not/a/source\n"
    assert rendered.sources(text) == ("stacks/x.yaml", "templates/y.j2")
    assert rendered.sources("FROM a\n#   stacks/x.yaml\n") == ()


def test_expected_package_changes_come_from_the_two_sides_locks() -> None:
    from factory import preview as previewing

    def lock(versions: dict[str, str], wanted: list[str]) -> dict[str, object]:
        table = {name: {"source": name, "version": version} for name, version in versions.items()}
        return {
            "os": {"release": "trixie", "architectures": ["amd64"]},
            "packages": {"trixie": {"amd64": table}},
            "targets": {"os:trixie": {"from": None, "packages": {"amd64": ["base-files"]}},
                        "tool:1.0-runtime": {"from": "os:trixie", "packages": {"amd64": wanted}}},
        }  # fmt: skip

    base = lock({"base-files": "13.8", "curl": "8.14", "perl": "5.40"}, ["curl", "perl"])
    head = lock({"base-files": "13.8", "curl": "8.15", "git": "2.47"}, ["curl", "git"])
    (found,) = previewing.expected_packages(base, head, ["os:trixie", "tool:1.0-runtime"])
    target, arch, change = found
    assert (target, arch) == ("tool:1.0-runtime", "amd64")
    assert (change.added, change.removed, change.upgraded) == (
        {"git": "2.47"},
        {"perl": "5.40"},
        {"curl": ("8.14", "8.15")},
    )
    assert previewing.expected_packages(None, head, ["tool:1.0-runtime"]) == ()
