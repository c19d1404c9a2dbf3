"""Property: no string in any field of any data file can inject an instruction or a command.

Hypothesis puts strings made of every Unicode line break and control
character, shell and Dockerfile syntax and `..` path segments into one string
field (or key) at a time of a stack, os.yaml, pins and factory.yaml. Whatever
the value, loading and rendering end either in a located error (file, line,
field; never a traceback) or in Dockerfiles whose parse by BuildKit has
exactly the instructions of the same definition with a harmless value there:
the same keywords in the same order, the same USER last, and RUN scripts that
parse into the same number of shell commands.
"""

from __future__ import annotations

import copy
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dockerfile
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factory import render, site
from factory.errors import DefinitionError, RenderError
from factory.lint import shell
from factory.project import Project
from tests.conftest import REPO

DIGEST = "sha256:" + "5" * 64
STACK: dict[str, Any] = {
    "description": "a tool",
    "image": "tool",
    "env": {"TOOL_HOME": "/opt/tool"},
    "labels": {"org.example.team": "platform"},
    "variants": {
        "runtime": {
            "description": "runtime",
            "install": [
                {"method": "os-packages", "packages": ["curl", "jq"]},
                {
                    "method": "download",
                    "name": "tool",
                    "url": {"amd64": "http://127.0.0.1/tool-amd64", "arm64": "http://127.0.0.1/tool-arm64"},
                    "sha256": {"amd64": "1" * 64, "arm64": "2" * 64},
                    "dest": "/usr/local/bin/tool",
                    "mode": "0755",
                },
                {
                    "method": "copy-from",
                    "image": f"127.0.0.1:5000/factory/jq:1@{DIGEST}",
                    "src": "/usr/bin/jq",
                    "dest": "/opt/jq",
                },
            ],
            "run": "tool --version\necho done",
            "env": {"MODE": "runtime"},
            "verify": ["tool --version", ["tool", "--help"]],
            "cmd": ["tool", "serve"],
        },
        "build": {
            "from": "runtime",
            "tag_suffix": "-dev",
            "install": [{"method": "os-packages", "packages": ["make"]}],
        },
    },
    "versions": [{"version": "1.0", "releases": ["trixie"], "tags": ["1.0", "1"]}],
}
OS: dict[str, Any] = yaml.safe_load((REPO / "stacks" / "os.yaml").read_text())
PINS: dict[str, Any] = {"images": {"os:trixie": {"reference": "127.0.0.1:5000/factory-staging/os", "digest": DIGEST}}}
SITE: dict[str, Any] = {
    "registry": {"address": "127.0.0.1:5000", "namespace": "factory", "staging_namespace": "factory-staging"},
    "build": {"syntax": "docker/dockerfile:1", "ca_bundle": "certs/ca.pem"},
    "os": {"mirror": "http://127.0.0.1/debian"},
}
DOCUMENTS = {"stacks/tool.yaml": STACK, "stacks/os.yaml": OS, "pins/images.yaml": PINS, "factory.yaml": SITE}

# Characters Python, BuildKit or a shell may read as a line break or a control, and syntax that means something.
BREAKS = ["\n", "\r", "\r\n", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "\x00", "\t", "\x1b"]
SYNTAX = ["USER 0:0", "RUN id", "EOT", "$(id)", "`id`", ";", "&&", "|", "'", '"', "\\", "${HOME}", "#", " ", "*"]
PATHS = ["..", "/..", "../", "/../../etc/shadow", ".", "/"]
pieces = st.sampled_from(BREAKS + SYNTAX + PATHS) | st.text(alphabet="abcxyz019-._/:@", min_size=1, max_size=6)
hostile = st.lists(pieces, min_size=1, max_size=6).map("".join)


def _places(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], bool]]:
    """(path, is_key) of every string value and every mapping key in a document."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*path, key), True
            yield from _places(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _places(item, (*path, index))
    elif isinstance(value, str):
        yield path, False


PLACES = [(name, path, is_key) for name, doc in DOCUMENTS.items() for path, is_key in _places(doc)]


def _replace(doc: Any, path: tuple[Any, ...], is_key: bool, new: str) -> Any:
    out = copy.deepcopy(doc)
    parent = out
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if is_key:
        parent[new] = parent.pop(last)
    else:
        parent[last] = new
    return out


def _render(documents: dict[str, Any]) -> dict[str, str] | None:
    """The rendered Dockerfiles of a project made of `documents`, or None when a located error refused it."""
    root = Path(tempfile.mkdtemp(prefix="factory-prop-"))
    try:
        shutil.copytree(REPO / "templates", root / "templates")
        (root / "stacks").mkdir()
        (root / "stacks" / "_defaults.yaml").write_text("platforms: [linux/amd64, linux/arm64]\n")
        for name, doc in documents.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(yaml.safe_dump(doc, allow_unicode=False), encoding="utf-8")
        try:
            site.load(root)
            project = Project(root)
            files = render.Renderer(project.templates, project.load()).render_all()
        except DefinitionError as exc:
            assert exc.problems and all(p.file and p.message and "\n" not in str(p) for p in exc.problems)
            return None
        except RenderError as exc:
            assert str(exc)
            return None
        return {f.path: f.content for f in files if f.path.endswith("Dockerfile")}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _shape(text: str, count_commands: bool = True) -> list[tuple[str, int]]:
    """Each instruction's keyword, with the number of shell commands of a RUN script; the last USER."""
    shape: list[tuple[str, int]] = []
    for command in dockerfile.parse_string(text):
        scripts = [h.content for h in command.heredocs] if command.cmd.upper() == "RUN" and count_commands else []
        shape.append((command.cmd.upper(), sum(len(shell.commands(s)) for s in scripts)))
    users = [c.value for c in dockerfile.parse_string(text) if c.cmd.upper() == "USER"]
    shape.append(("LAST USER " + " ".join(users[-1]), 0))
    return shape


BASELINE = _render(DOCUMENTS)


def _same_instructions(place: tuple[str, tuple[Any, ...], bool], value: str, rendered: dict[str, str]) -> None:
    """The rendered files have the baseline's instructions; a `run` script may hold any commands, in its heredoc."""
    name, path, is_key = place
    script = not is_key and path[-1] == "run"
    assert BASELINE is not None
    # Names (versions, variants, images) move file paths; the set of Dockerfile shapes must not change.
    shapes = sorted(_shape(text, not script) for text in rendered.values())
    assert shapes == sorted(_shape(text, not script) for text in BASELINE.values()), (name, path, value)
    if script:
        bodies = [h.content for f in rendered.values() for c in dockerfile.parse_string(f) for h in c.heredocs]
        # render trims trailing spaces and tabs on every line (README: "no trailing spaces")
        script_text = "\n".join(line.rstrip(" \t") for line in value.strip("\n").split("\n"))
        assert any(script_text in body for body in bodies), "the script is not inside one heredoc"


def test_the_baseline_renders() -> None:
    assert BASELINE is not None and "tool/1.0/runtime/Dockerfile" in BASELINE


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(place=st.sampled_from(PLACES), value=hostile)
def test_no_value_changes_the_instructions(place: tuple[str, tuple[Any, ...], bool], value: str) -> None:
    name, path, is_key = place
    documents = {**DOCUMENTS, name: _replace(DOCUMENTS[name], path, is_key, value)}
    rendered = _render(documents)
    if rendered is not None:  # else refused with a located error: fine
        _same_instructions(place, value, rendered)


@pytest.mark.parametrize("value", ["x\u2028USER 0:0", "a\nRUN id", "b\x85USER 0", "/../../etc", "EOT"])
def test_known_injections_are_refused_everywhere(value: str) -> None:
    """The classic payloads, in every place at once: never a different Dockerfile."""
    for name, path, is_key in PLACES:
        documents = {**DOCUMENTS, name: _replace(DOCUMENTS[name], path, is_key, value)}
        rendered = _render(documents)
        if rendered is not None:
            _same_instructions((name, path, is_key), value, rendered)
