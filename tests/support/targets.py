"""A model.Target for unit tests: every field given a plain value, the test names what matters to it."""

from __future__ import annotations

from typing import Any

from factory import model


def make_target(**fields: Any) -> model.Target:
    """A runtime target `tool:1.0-runtime` on the OS base for linux/amd64, with `fields` overriding."""
    values: dict[str, Any] = {
        "stack": "tool",
        "version": "1.0",
        "variant": "runtime",
        "image": "tool",
        "tags": ("1.0",),
        "platforms": ("linux/amd64",),
        "base": model.BaseRef(model.BaseKind.OS, "os:trixie"),
        "template": "stack",
        "description": "",
        "install": (),
        "run": "",
        "env": model.frozen_map(),
        "labels": model.frozen_map(),
        "verify": (),
        "cmd": (),
    }
    return model.Target(**{**values, **fields})
