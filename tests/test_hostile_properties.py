"""Property: no string in any field of any data file can inject an instruction or a command.

Every string field and every free-form key of every schema (factory/schema.py:
a stack, os.yaml, pins, factory.yaml, the ignore file, the scan exceptions) is
set in a definition that uses them all, and each place gets, one at a time,
values that hypothesis makes of every character in the Unicode categories Cc,
Cf, Zl and Zp (every control, format and line or paragraph separator: what
Python, BuildKit or a shell may read as a break), shell and Dockerfile syntax
and `..` path segments, alone or around the valid value. Whatever the value,
loading and rendering end either in a located error (file, line, field; never
a traceback) or in files shaped exactly as the unmutated definition's: the
Dockerfiles parse (BuildKit's parser) into the same instructions, the same
USER last, and RUN scripts of as many shell commands; the OS customize script
that mmdebstrap runs as root on the build host reads as the same commands of
as many words, and dpkg.cfg has the same lines. Each place is a test of its
own, so every field is exercised on every run; a test proves that no string
field of the schemas is left out.
"""

from __future__ import annotations

import copy
import datetime as dt
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dockerfile
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factory import exceptions, model, render
from factory.errors import DefinitionError, RenderError
from factory.lint import ignores, shell
from factory.pipeline import Workspace
from factory.project import Project
from factory.schema import SCHEMAS
from tests.conftest import REPO

TEMPLATES = REPO / "templates"
DIGEST = "sha256:" + "5" * 64
SHA = "1" * 64
TODAY = dt.date(2026, 12, 1)
STEP_INSTALLS: list[dict[str, Any]] = [
    {"method": "os-packages", "packages": ["curl", "jq"]},
    {
        "method": "download",
        "name": "tool",
        "url": {"amd64": "http://127.0.0.1/tool-amd64", "arm64": "http://127.0.0.1/tool-arm64"},
        "sha256": {"amd64": SHA, "arm64": "2" * 64},
        "dest": "/usr/local/bin/tool",
        "mode": "0755",
    },
    {
        "method": "download",
        "name": "bundle",
        "url": {"amd64": "http://127.0.0.1/bundle-amd64.tgz", "arm64": "http://127.0.0.1/bundle-arm64.tgz"},
        "sha256": {"amd64": "3" * 64, "arm64": "4" * 64},
        "dest": "/opt/bundle",
        "archive": True,
        "strip_components": 1,
    },
    {"method": "copy-from", "image": f"127.0.0.1:5000/factory/jq:1@{DIGEST}", "src": "/usr/bin/jq", "dest": "/opt/jq"},
]
STACK: dict[str, Any] = {
    "extends": "_defaults",
    "description": "a tool",
    "image": "tool",
    "platforms": ["linux/amd64", "linux/arm64"],
    "env": {"TOOL_HOME": "/opt/tool"},
    "labels": {"org.example.team": "platform"},
    "variants": {
        "runtime": {
            "description": "runtime",
            "template": "stack",
            "platforms": ["linux/amd64", "linux/arm64"],
            "install": STEP_INSTALLS,
            "run": "tool --version\necho done",
            "env": {"MODE": "runtime"},
            "labels": {"org.example.role": "runtime"},
            "verify": ["tool --version", ["tool", "--help"]],
            "cmd": ["tool", "serve"],
        },
        "build": {
            "from": "runtime",
            "tag_suffix": "-dev",
            "install": [{"method": "os-packages", "packages": ["make"]}],
            "artifact": {
                "script": "make -C /src\ncp /src/tool /artifact/",
                "run": ["/artifact/tool"],
                "run_in": ["runtime"],
            },
        },
        "static": {
            "versioned": False,
            "from": "scratch",
            "template": "static",
            "tags": ["static"],
            "install": [
                {"method": "copy-from", "image": f"127.0.0.1:5000/mirror/app:2@{DIGEST}", "src": "/app", "dest": "/app"}
            ],
            "cmd": ["/app"],
        },
    },
    "versions": [
        {
            "version": "1.0",
            "releases": ["trixie"],
            "tags": ["1.0", "1"],
            # a lifecycle in force: far from its end, an override that is not needed yet but is checked
            "eol": dt.date(2099, 1, 1),
            "replaced_by": ["2.0"],
            "eol_override": {"reason": "kept for the review", "expires": dt.date.today() + dt.timedelta(days=30)},
            "platforms": ["linux/amd64", "linux/arm64"],
            "env": {"TOOL_VERSION": "1.0"},
            "labels": {"org.example.version": "one"},
            "variants": {
                "runtime": {
                    "install": [{"method": "os-packages", "packages": ["file"]}, *copy.deepcopy(STEP_INSTALLS[1::2])],
                    "run": "tool --check",
                    "env": {"EXTRA": "1"},
                    "labels": {"org.example.extra": "yes"},
                    "verify": ["tool --check", ["tool", "--check"]],
                    "cmd": ["tool", "check"],
                },
                "build": {},
            },
        }
    ],
}
_OS = yaml.safe_load((REPO / "stacks" / "os.yaml").read_text())
_OS["releases"]["trixie"]["eol_override"] = {
    "reason": "LTS on purpose",
    "expires": dt.date.today() + dt.timedelta(days=30),
}
OS: dict[str, Any] = {
    **_OS,
    "mirror": "http://127.0.0.1/debian",
    "snapshot": "20251120T000000Z",
    "setuid_allowed": ["/usr/bin/newgrp"],
    "verify": ["tini --version", ["test", "-w", "/home/app"]],
}
PINS: dict[str, Any] = {
    "images": {
        "os:trixie": {"reference": "127.0.0.1:5000/factory-staging/os", "digest": DIGEST},
        "tool:1.0-runtime": {"reference": "127.0.0.1:5000/factory/tool", "digest": DIGEST},
    }
}
SITE: dict[str, Any] = {
    "registry": {"address": "127.0.0.1:5000", "namespace": "factory", "staging_namespace": "factory-staging"},
    "platforms": ["linux/amd64", "linux/arm64"],
    "builders": {
        "linux/arm64": {
            "endpoint": "tcp://10.0.0.2:1234",
            "tls": {"ca": "certs/ca.pem", "cert": "certs/cert.pem", "key": "certs/key.pem"},
            "driver": "remote",
            "network": "host",
        }
    },
    "build": {
        "compression": "zstd",
        "ca_bundle": "certs/ca.pem",
        "network": "default",
        "syntax": "docker/dockerfile:1",
    },
    "os": {
        "mirror": "http://127.0.0.1/debian",
        "security_mirror": "http://127.0.0.1/debian-security",
        "snapshot": "20251120T000000Z",
        "snapshot_archive": "http://127.0.0.1/archive/debian/{snapshot}",
        "snapshot_security_archive": "http://127.0.0.1/archive/debian-security/{snapshot}",
    },
    "scan": {
        "fail_on": "HIGH",
        "unfixed": {"fail_on": "CRITICAL", "warn_on": "HIGH"},
        "db": {"repository": "127.0.0.1:5000/mirror/trivy-db", "cache_dir": ".cache/trivy"},
        "java_db": {"repository": "127.0.0.1:5000/mirror/trivy-java-db"},
        "exceptions": "security/exceptions.yaml",
    },
    "publish": {"registry": "127.0.0.1:5000", "namespace": "base", "signing_key": "keys/cosign.key"},
    "pins": {"allow": ["127.0.0.1:5000/mirror/*"]},
    "state_dir": ".factory/state",
    "cache_dir": ".factory/cache",
}
IGNORES: dict[str, Any] = {
    "ignores": [{"code": "DS-0026", "path": "rendered/*/Dockerfile", "reason": "health checks", "expires": TODAY}]
}
EXCEPTIONS: dict[str, Any] = {
    "exceptions": [
        {
            "id": "CVE-2026-0001",
            "packages": ["pkg:deb/debian/openssl"],
            "images": ["tool:*"],
            "kind": "accepted_risk",
            "statement": "not reachable",
            "owner": "platform",
            "expires": TODAY,
        }
    ]
}
# file -> (schema, document)
DOCUMENTS: dict[str, tuple[str, dict[str, Any]]] = {
    "stacks/tool.yaml": ("stack", STACK),
    "stacks/os.yaml": ("os", OS),
    "pins/images.yaml": ("pins", PINS),
    "factory.yaml": ("site", SITE),
    ignores.IGNORE_FILE: ("ignores", IGNORES),
    exceptions.EXCEPTIONS_FILE: ("exceptions", EXCEPTIONS),
}
DEFAULTS = "platforms: [linux/amd64, linux/arm64]\n"

# Every control (C0, DEL, C1 with U+0085), format (bidi, zero-width, BOM...) and line or paragraph separator.
BREAKING = st.characters(categories=["Cc", "Cf", "Zl", "Zp"])
SYNTAX = ["\n", "\r\n", "\t", "USER 0:0", "RUN id", "EOT", "$(id)", "`id`", ";", "&&", "|", "'", '"', "\\", "${HOME}"]
SYNTAX += ["#", " ", "*", "<(id)"]
PATHS = ["..", "/..", "../", "/../../etc/shadow", ".", "/", "/root/.ssh", "/etc/passwd"]
pieces = BREAKING | st.sampled_from(SYNTAX + PATHS) | st.text(alphabet="abcxyz019-._/:@", min_size=1, max_size=6)
hostile = st.lists(pieces, min_size=1, max_size=6).map("".join)
KNOWN = ["x\u2028USER 0:0", "a\nRUN id", "b\x85USER 0", "/../../etc", "EOT"]


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


PLACES = [(name, path, is_key) for name, (_, doc) in DOCUMENTS.items() for path, is_key in _places(doc)]


def _place_id(place: tuple[str, tuple[Any, ...], bool]) -> str:
    name, path, is_key = place
    return f"{name}:{'.'.join(map(str, path))}{'<key>' if is_key else ''}"


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


def _original(place: tuple[str, tuple[Any, ...], bool]) -> str:
    name, path, is_key = place
    value: Any = DOCUMENTS[name][1]
    for part in path[:-1] if is_key else path:
        value = value[part]
    return str(path[-1]) if is_key else str(value)


class _Renderer:
    """One Renderer for every example: compiling the templates is most of a render's time."""

    renderer: render.Renderer | None = None

    @classmethod
    def files(cls, catalogue: model.Catalogue) -> list[render.RenderedFile]:
        if cls.renderer is None:
            cls.renderer = render.Renderer(TEMPLATES, catalogue)
        cls.renderer.catalogue = catalogue
        return cls.renderer.render_all()


def _render(documents: Mapping[str, dict[str, Any]]) -> dict[str, str] | None:
    """What the build runs of a project made of `documents` (Dockerfiles, the OS bootstrap recipe), or None
    when a located error refused it."""
    root = Path(tempfile.mkdtemp(prefix="factory-prop-"))
    try:
        (root / "templates").symlink_to(TEMPLATES)
        (root / "stacks").mkdir()
        (root / "stacks" / "_defaults.yaml").write_text(DEFAULTS)
        for name, doc in documents.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(yaml.safe_dump(doc, allow_unicode=False), encoding="utf-8")
        try:
            workspace = Workspace.open(Project(root))  # factory.yaml, pins and the catalogue, problems of all
            ignores.load(root / ignores.IGNORE_FILE, ignores.IGNORE_FILE)
            exceptions.load(root, TODAY)
            files = _Renderer.files(workspace.catalogue)
        except DefinitionError as exc:
            assert exc.problems and all(p.file and p.message and "\n" not in str(p) for p in exc.problems)
            return None
        except RenderError as exc:
            assert str(exc)
            return None
        kept = ("/Dockerfile", *(f"/{name}" for name in render.OS_BOOTSTRAP.values()))
        return {f.path: f.content for f in files if f.path.endswith(kept)}
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


def _script_shape(text: str) -> list[tuple[str, int, str]]:
    """The OS customize script as the shell reads it: each command's program, number of words, separator."""
    return [(c.program, len(c.words), c.separator) for c in shell.commands(text)] + [("lines", text.count("\n"), "")]


def _config_shape(text: str) -> list[str]:
    """dpkg.cfg line by line: comments, and each setting's name."""
    return ["#" if line.startswith("#") else line.split("=", 1)[0] for line in text.split("\n")]


def _shapes(rendered: Mapping[str, str], count_commands: bool) -> dict[str, list[Any]]:
    """The shape of every rendered file, by kind of file (names move paths: versions, variants, images)."""
    shapes: dict[str, list[Any]] = {}
    for path, text in rendered.items():
        kind = path.rsplit("/", 1)[-1]
        shape: Any = (
            _shape(text, count_commands)
            if kind == "Dockerfile"
            else _script_shape(text)
            if kind == "customize.sh"
            else _config_shape(text)
        )
        shapes.setdefault(kind, []).append(shape)
    return {kind: sorted(found) for kind, found in shapes.items()}


BASELINE = _render({name: doc for name, (_, doc) in DOCUMENTS.items()})


def _check(place: tuple[str, tuple[Any, ...], bool], value: str) -> None:
    """`value` at `place`: a located error, or files of the baseline's shape (a `run` script may hold any
    commands, inside its heredoc)."""
    name, path, is_key = place
    documents = {n: doc for n, (_, doc) in DOCUMENTS.items()}
    documents[name] = _replace(documents[name], path, is_key, value)
    rendered = _render(documents)
    if rendered is None:
        return  # refused with a located error: fine
    assert BASELINE is not None
    script = not is_key and path[-1] == "run"
    assert _shapes(rendered, not script) == _shapes(BASELINE, not script), (name, path, value)
    if script:
        bodies = [h.content for f in rendered.values() for c in dockerfile.parse_string(f) for h in c.heredocs]
        # render trims trailing spaces and tabs on every line (README: "no trailing spaces")
        script_text = "\n".join(line.rstrip(" \t") for line in value.strip("\n").split("\n"))
        assert any(script_text in body for body in bodies), "the script is not inside one heredoc"


def test_the_baseline_renders() -> None:
    assert BASELINE is not None
    assert {"tool/1.0/runtime/Dockerfile", "tool/static/Dockerfile", "os/trixie/customize.sh"} <= set(BASELINE)


def _string_rules(rules: Mapping[str, Any], at: str) -> Iterator[str]:
    """Where a schema takes a string (a value, a key, a list item), as `field.sub<key>[]` paths."""
    types = rules.get("type")
    if types == "string" or (isinstance(types, list) and "string" in types):
        yield at
    for key, mark in (("keysrules", "<key>"), ("valuesrules", "<value>")):
        if isinstance(rules.get(key), Mapping):
            yield from _string_rules(rules[key], at + mark)
    sub = rules.get("schema")
    if isinstance(sub, Mapping):
        if types == "dict":
            for name, child in sub.items():
                yield from _string_rules(child, f"{at}.{name}")
        else:
            yield from _string_rules(sub, at + "[]")


def _rule_of(schema: Mapping[str, Any], path: tuple[Any, ...], is_key: bool) -> str | None:
    """The `_string_rules` path of one place of a document (None: a fixed key, not a free-form one)."""
    rules: Mapping[str, Any] = {"type": "dict", "schema": schema}
    at = ""
    for part in path[:-1] if is_key else path:
        if isinstance(part, int):
            rules, at = rules["schema"], at + "[]"
        elif rules.get("type") == "dict" and "schema" in rules:
            rules, at = rules["schema"][part], f"{at}.{part}" if at else str(part)
        else:
            rules, at = rules["valuesrules"], at + "<value>"
    if is_key:
        return at + "<key>" if "keysrules" in rules else None
    return at


def test_every_string_of_every_schema_has_a_place() -> None:
    covered = {
        (kind, _rule_of(SCHEMAS[kind], path, is_key)) for name, path, is_key in PLACES for kind in [DOCUMENTS[name][0]]
    }
    wanted = {
        (kind, at)
        for kind, schema in SCHEMAS.items()
        if kind not in NEVER_BUILT
        for name, rules in schema.items()
        for at in _string_rules(rules, name)
    }
    assert wanted - covered == set()


# Data that never reaches what the build runs: data/official-sizes.yaml only feeds the catalogue page,
# whose one Jinja environment escapes every value of an .html.j2 template (tests/test_site.py).
NEVER_BUILT = {"official_sizes"}


@pytest.mark.parametrize("place", PLACES, ids=[_place_id(p) for p in PLACES])
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(data=st.data())
def test_no_value_changes_what_the_build_runs(place: tuple[str, tuple[Any, ...], bool], data: st.DataObject) -> None:
    original = _original(place)
    value = data.draw(hostile | hostile.map(original.__add__) | hostile.map(lambda h: h + original), label="value")
    _check(place, value)


@pytest.mark.parametrize("place", PLACES, ids=[_place_id(p) for p in PLACES])
def test_known_injections_are_refused_everywhere(place: tuple[str, tuple[Any, ...], bool]) -> None:
    """The classic payloads, at every place: never a different file."""
    for value in KNOWN:
        _check(place, value)
