"""The GitHub workflows: valid against GitHub's workflow schema (vendored, offline), every factory command and
flag they run exists (`factory CMD --help`), and each does what it promises (one comment, one run at a time)."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from factory import preview
from factory import record as records
from factory.cli import main
from tests.conftest import REPO

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=[w.name for w in WORKFLOWS])
def test_workflow_matches_githubs_schema(workflow: Path) -> None:
    checker = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.github-workflows", str(workflow)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_runs_the_readme_test_command() -> None:
    ci = (REPO / ".ci" / "run").read_text()
    readme = (REPO / "README.md").read_text()
    assert "    make test " in readme and "\nmake test\n" in ci


# -- the factory commands the workflows run --------------------------------------------------------

EXPRESSION = re.compile(r"\$\{\{.*?\}\}", re.DOTALL)
COMMAND_START = {"|", "||", "&&", ";", "(", "&", "!", "then", "do", "else"}


def _workflow(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def _scripts(workflow: Path) -> list[str]:
    jobs = _workflow(workflow)["jobs"].values()
    return [step["run"] for job in jobs for step in job.get("steps", []) if "run" in step]


def factory_calls(script: str) -> list[list[str]]:
    """The words of each `factory ...` command a shell script runs (up to the next operator)."""
    text = EXPRESSION.sub("EXPR", script).replace("\\\n", " ")
    calls = []
    for line in text.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words = list(lexer)
        for index, word in enumerate(words):
            if word == "factory" and (index == 0 or words[index - 1] in COMMAND_START):
                call = []
                for following in words[index + 1 :]:
                    if set(following) <= set("();<>|&"):
                        break
                    call.append(following)
                calls.append(call)
    return calls


def test_factory_calls_are_found_in_shell() -> None:
    script = 'x=$(factory plan -o json | jq .) && factory report \\\n  --record "${{ a.b }}" >> "$S"\n# factory no\n'
    assert factory_calls(script) == [["plan", "-o", "json"], ["report", "--record", "EXPR"]]


def _help(path: list[str]) -> str | None:
    result = CliRunner().invoke(main, [*path, "--help"])
    return result.output if result.exit_code == 0 else None


def _options(help_text: str) -> dict[str, bool]:
    """Each option of a --help text -> whether it takes a value (`--base REF`, not `--no-tools`)."""
    found: dict[str, bool] = {}
    listed = False
    for line in help_text.splitlines():
        if line.strip() in ("Options:", "Commands:"):
            listed = line.strip() == "Options:"
            continue
        match = re.match(r"^  (-\S.*?)(?:\s{2,}|$)", line) if listed else None
        if match:
            parts = re.split(r", | / ", match.group(1))
            takes_value = " " in parts[-1]
            found.update({part.split(" ")[0]: takes_value for part in parts})
    return found


def check_call(words: list[str]) -> list[str]:
    """What is wrong with one `factory ...` call: an unknown command, an unknown flag, a stray argument."""
    path: list[str] = []
    rest = list(words)
    text = None
    while rest and not rest[0].startswith("-"):
        text = _help([*path, rest[0]])
        if text is None:
            return [f"no command `factory {' '.join([*path, rest[0]])}`"]
        path.append(rest.pop(0))
        if "\nCommands:\n" not in text:
            break
    if text is None:
        return [f"`factory {' '.join(words)}` names no command"]
    options, problems, positional = _options(text), [], []
    while rest:
        word = rest.pop(0)
        name = word.split("=", 1)[0] if word.startswith("--") else word[:2]
        if not word.startswith("-") or word == "-":
            positional.append(word)
        elif name not in options:
            problems.append(f"`factory {' '.join(path)}` has no option {name}")
        elif options[name] and not ("=" in word if word.startswith("--") else len(word) > 2):
            rest = rest[1:]  # its value, the next word (not `--name=value`, not `-ovalue`)
    usage = next(line for line in text.splitlines() if line.startswith("Usage:"))
    if positional and not re.search(r"\[OPTIONS\]\s+\S", usage):
        problems.append(f"`factory {' '.join(path)}` takes no arguments, given {positional}")
    return problems


def test_the_call_checker_sees_mistakes() -> None:
    assert check_call(["preview", "--base", "origin/main", "-o", "json", "--no-tools"]) == []
    assert check_call(["preview", "--base=x", "--failure-threshold", "error"]) == []
    assert check_call(["preview", "--bsae=x"]) == ["`factory preview` has no option --bsae"]
    assert check_call(["preview", "--base", "x", "stray"]) == ["`factory preview` takes no arguments, given ['stray']"]
    assert check_call(["engine", "up", "--refresh"]) == []
    assert check_call(["engine", "upp"]) == ["no command `factory engine upp`"]
    assert check_call(["nosuch"]) == ["no command `factory nosuch`"]


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=[w.name for w in WORKFLOWS])
def test_every_factory_command_and_flag_a_workflow_runs_exists(workflow: Path) -> None:
    problems = [p for script in _scripts(workflow) for call in factory_calls(script) for p in check_call(call)]
    assert problems == []


def test_the_workflows_run_the_preview_and_the_rebuild() -> None:
    calls = {w.name: [c[0] for s in _scripts(w) for c in factory_calls(s)] for w in WORKFLOWS}
    assert "preview" in calls["pr-preview.yml"]
    assert {"plan", "publish", "report", "site"} <= set(calls["rebuild.yml"])
    assert {"build", "verify", "scan"} <= set(calls["rebuild-wave.yml"])


# -- what each workflow promises -------------------------------------------------------------------


def _steps(workflow: str, job: str) -> list[dict[str, Any]]:
    steps = _workflow(REPO / ".github" / "workflows" / workflow)["jobs"][job]["steps"]
    assert isinstance(steps, list)
    return steps


def test_pr_preview_comments_once_then_fails_on_lint_errors_or_drift() -> None:
    steps = _steps("pr-preview.yml", "preview")
    assert steps[0]["uses"].startswith("actions/checkout@") and steps[0]["with"]["fetch-depth"] == 0
    names = [s.get("name", s.get("uses")) for s in steps]
    comment = steps[names.index("Create or update the preview comment")]
    assert comment["if"].startswith("always()") and preview.MARKER in comment["with"]["script"]
    assert "updateComment" in comment["with"]["script"] and "createComment" in comment["with"]["script"]
    run = steps[names.index("Preview against the base branch")]["run"]
    assert "--failure-threshold error" in run and "set +e" in run
    assert names[-1] == "Fail on lint errors or drift"  # after the comment and the artifacts
    uploads = [s["with"]["path"] for s in steps if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert "rendered/" in uploads and any("preview.md" in p for p in uploads)


def test_rebuild_runs_one_at_a_time_in_as_many_waves_as_the_plan_allows() -> None:
    workflow = _workflow(REPO / ".github" / "workflows" / "rebuild.yml")
    assert workflow["concurrency"] == {"group": "rebuild", "cancel-in-progress": False}
    assert set(workflow[True]) == {"schedule", "workflow_dispatch"}  # YAML 1.1 reads `on` as true
    assert "targets" in workflow[True]["workflow_dispatch"]["inputs"]
    waves = sorted(j for j in workflow["jobs"] if j.startswith("wave-"))
    plan_script = next(s["run"] for s in workflow["jobs"]["plan"]["steps"] if "github-matrix" in s.get("run", ""))
    limit = int(re.search(r"\(\.waves \| length\) <= (\d+)", plan_script).group(1))  # type: ignore[union-attr]
    assert len(waves) == limit
    for number, job in enumerate(waves, start=1):
        assert workflow["jobs"][job]["with"]["wave"] == number - 1
        assert number == 1 or f"wave-{number - 1}" in workflow["jobs"][job]["needs"]
    assert workflow["jobs"]["failure-issue"]["if"] == "failure()"


def test_rebuild_deploys_the_catalogue_site_to_github_pages() -> None:
    publish = _steps("rebuild.yml", "publish")
    site = next(i for i, step in enumerate(publish) if "factory site --out site" in step.get("run", ""))
    assert "cosign public-key" in publish[site]["run"]  # the pages' verify commands name cosign.pub
    uploads = [s for s in publish[site:] if s.get("uses", "").startswith("actions/upload-pages-artifact@")]
    assert [s["with"]["path"] for s in uploads] == ["site"]
    pages = _workflow(REPO / ".github" / "workflows" / "rebuild.yml")["jobs"]["pages"]
    assert pages["needs"] == "publish" and "needs.publish.result == 'success'" in pages["if"]
    assert pages["permissions"] == {"pages": "write", "id-token": "write"}
    assert pages["environment"]["name"] == "github-pages"
    assert [s["uses"].split("@")[0] for s in pages["steps"]] == ["actions/deploy-pages"]


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed (GitHub's runners have it)")
def test_merge_records_makes_one_record_per_image(tmp_path: Path) -> None:
    def record(platform: str, digest: str) -> records.BuildRecord:
        target = records.TargetResult(
            "tool:1.0-runtime", "tool", "1.0", "runtime", "tool/1.0/runtime/Dockerfile", "0" * 64, [platform], [],
            status=records.Status.BUILT, reference=f"r.example/s/tool:1.0-runtime-{platform[-5:]}", digest=digest,
            images={platform: records.PlatformResult(digest, 10, 2)},
            verdicts={"verify": {platform: records.Verdict(True, "ok", "t")}},
        )  # fmt: skip
        return records.BuildRecord(f"run-{platform[-5:]}", "t", "r.example", "abc", 0, "0.1.0", targets=[target])

    paths = []
    for platform, digest in (("linux/amd64", "sha256:" + "1" * 64), ("linux/arm64", "sha256:" + "2" * 64)):
        paths.append(tmp_path / f"{platform[-5:]}.json")
        paths[-1].write_text(json.dumps(record(platform, digest).to_json()))
    index = {"tool:1.0-runtime": {"reference": "r.example/s/tool:1.0-runtime-amd64", "digest": "sha256:" + "9" * 64}}
    (tmp_path / "indexes.json").write_text(json.dumps(index))
    done = subprocess.run(
        ["jq", "-s", "--slurpfile", "indexes", str(tmp_path / "indexes.json"), "-f", str(REPO / ".ci/merge-records.jq")]
        + [str(p) for p in paths],
        capture_output=True,
        text=True,
        check=True,
    )
    merged = records.BuildRecord.from_json(json.loads(done.stdout))
    (target,) = merged.targets
    assert target.platforms == ["linux/amd64", "linux/arm64"]
    assert set(target.images) == set(target.verdicts["verify"]) == {"linux/amd64", "linux/arm64"}
    assert (target.digest, target.reference) == ("sha256:" + "9" * 64, "r.example/s/tool:1.0-runtime-amd64")
    assert target.passed("verify") and merged.run_id == "run-amd64"
