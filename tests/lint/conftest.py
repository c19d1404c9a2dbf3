"""Helpers for the lint tests: Dockerfiles from lines, a default policy."""

from __future__ import annotations

from pathlib import Path

from factory.lint.parse import Dockerfile, parse_file
from factory.lint.policy import Policy

DIGEST = "sha256:" + "0" * 64
BASE = f"factory.invalid/os:trixie@{DIGEST}"
HEAD_LINES = [f"ARG BASE_IMAGE={BASE}", "FROM ${BASE_IMAGE}"]  # lines 1-2: a pinned, allowed base
POLICY = Policy(
    allowed_images=("factory.invalid/*", "registry.example/base/*"),
    allowed_source="the test catalogue",
    contract_images=("factory.invalid/*",),
)


def write(directory: Path, lines: list[str], *, dockerignore: bool = True, name: str = "Dockerfile") -> Path:
    """A Dockerfile made of `lines` (line N of the file is lines[N-1]), with a .dockerignore beside it."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if dockerignore:
        (directory / ".dockerignore").write_text("*\n", encoding="utf-8")
    return path


def parsed(directory: Path, lines: list[str], **kwargs: bool) -> Dockerfile:
    path = write(directory, lines, **kwargs)
    return parse_file(path, "Dockerfile")
