"""Structural checks of a rendered Dockerfile, shared by the catalogue and golden tests.

These are the best practices the templates promise by construction; each check
returns problems as strings so a failing test names every violation at once.
"""

from __future__ import annotations

import re
from pathlib import Path

import dockerfile

from factory.lint.parse import PLATFORM_ARGS as PREDEFINED_ARGS

_VAR = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
_PROXY = re.compile(r"(?i)^(https?|ftp|no|all)_proxy$")


def problems(path: Path) -> list[str]:
    """Every violated practice in the Dockerfile at `path` (empty when clean)."""
    text = path.read_text(encoding="utf-8")
    found: list[str] = []
    commands = dockerfile.parse_string(text)
    lines = text.splitlines()
    if not (path.parent / ".dockerignore").is_file():
        found.append("no .dockerignore beside the Dockerfile")
    if not lines[0].startswith("# GENERATED"):
        found.append("no GENERATED header")
    if any(line.startswith("# syntax=") for line in lines):
        found.append("a # syntax= line (pulls a frontend image)")
    global_args: dict[str, str | None] = {}
    stage_vars: set[str] = set()
    stages = 0
    users: list[str] = []
    entrypoint: tuple[str, ...] | None = None
    labels: set[str] = set()
    updates_in_stage = 0
    for cmd in commands:
        if cmd.cmd == "ARG" and stages == 0:
            name, _, default = cmd.value[0].partition("=")
            global_args[name] = default or None
            continue
        if cmd.cmd == "FROM":
            stages += 1
            stage_vars = set()
            users = []
            image = cmd.value[0]
            if image not in ("scratch", "${BASE_IMAGE}"):
                found.append(f"line {cmd.start_line}: FROM {image} is neither scratch nor the pinned BASE_IMAGE")
            continue
        if cmd.cmd == "ARG":
            stage_vars.add(cmd.value[0].split("=", 1)[0])
        elif cmd.cmd == "ENV":
            for key in cmd.value[::2]:
                if _PROXY.match(key):
                    found.append(f"line {cmd.start_line}: proxy {key} in ENV")
                stage_vars.add(key)
        elif cmd.cmd == "USER":
            users.append(cmd.value[0])
        elif cmd.cmd == "ENTRYPOINT":
            entrypoint = tuple(cmd.value)
        elif cmd.cmd == "LABEL":
            labels.update(cmd.value[::2])
        elif cmd.cmd == "RUN":
            found.extend(_run_problems(cmd, lines))
            if cmd.heredocs and "apt-get update" in cmd.heredocs[0].content:
                updates_in_stage = stages
        # ARG scoping: a variable expanded by the Dockerfile must be declared in this stage.
        if cmd.cmd in ("ENV", "LABEL", "ADD", "COPY", "WORKDIR", "USER"):
            for name in _VAR.findall(" ".join(cmd.value) + " " + " ".join(cmd.flags)):
                if name not in stage_vars and name not in PREDEFINED_ARGS | {"PATH"}:
                    found.append(f"line {cmd.start_line}: ${{{name}}} used but not declared in this stage")
                if name in PREDEFINED_ARGS and name not in stage_vars:
                    found.append(f"line {cmd.start_line}: ${{{name}}} needs ARG {name} in this stage")
    if stages and updates_in_stage == stages:
        found.append("the final stage runs apt-get update (its packages come from a `packages` stage)")
    base = global_args.get("BASE_IMAGE")
    if "BASE_IMAGE" in global_args and (base is None or not re.search(r"@sha256:[0-9a-f]{64}$", base)):
        found.append(f"BASE_IMAGE default {base!r} is not pinned by digest")
    if not users or not re.fullmatch(r"[1-9][0-9]*:[1-9][0-9]*", users[-1]):
        found.append(f"last USER {users[-1] if users else None!r} is not a numeric non-root uid:gid")
    if entrypoint != ("/usr/bin/tini", "--"):
        found.append(f"ENTRYPOINT {entrypoint} does not run tini as PID 1")
    for label in (
        "org.opencontainers.image.title",
        "org.opencontainers.image.version",
        "org.opencontainers.image.revision",
        "org.opencontainers.image.created",
    ):
        if label not in labels:
            found.append(f"missing label {label}")
    return found


def _run_problems(cmd: dockerfile.Command, lines: list[str]) -> list[str]:
    found: list[str] = []
    if not cmd.heredocs:
        return [f"line {cmd.start_line}: RUN without a heredoc"]
    body = cmd.heredocs[0].content
    if not body.startswith("set -eux\n"):
        found.append(f"line {cmd.start_line}: heredoc RUN does not start with set -eux")
    if cmd.end_line < len(lines) and lines[cmd.end_line].strip() != "":
        found.append(f"line {cmd.end_line}: no blank line after the heredoc terminator")
    cached = " ".join(cmd.flags)
    if "apt-get install" in body:
        if "--no-install-recommends" not in body:
            found.append(f"line {cmd.start_line}: apt-get install without --no-install-recommends")
        if "rm -rf /var/lib/apt/lists/*" not in body and "type=cache" not in cached:
            found.append(f"line {cmd.start_line}: apt lists not removed in the same layer")
    if "apt-get update" in body:  # the index is kept out of every layer: a cache mount, or removed
        if "target=/var/lib/apt/lists" not in cached and "rm -rf /var/lib/apt/lists/*" not in body:
            found.append(f"line {cmd.start_line}: apt-get update leaves its index in the layer")
        if "--download-only" in body and "target=/var/cache/apt/archives" not in cached:
            found.append(f"line {cmd.start_line}: downloaded packages are not in a cache mount")
    if re.search(r"\b(curl|wget)\b", body) and "sha256sum -c" not in body:
        found.append(f"line {cmd.start_line}: download without checksum verification")
    if re.search(r"\bcurl\b(?![^\n]*--fail)", body.replace("apt-get install -y --no-install-recommends curl", "")):
        found.append(f"line {cmd.start_line}: curl without --fail")
    return found
