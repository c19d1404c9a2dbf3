"""The build matrix as plain rows: what `factory list` prints and CI consumes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from factory import model


def rows(catalogue: model.Catalogue, stacks: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """One row per target in build order, the OS base first."""
    wanted = set(stacks) if stacks is not None else None
    os_base = catalogue.os
    out: list[dict[str, Any]] = []
    if wanted is None or "os" in wanted:
        out.append(
            {
                "id": os_base.id,
                "stack": "os",
                "version": os_base.release,
                "variant": "base",
                "image": os_base.image,
                "platforms": list(os_base.platforms),
                "tags": [f"{os_base.image}:{t}" for t in os_base.tags],
                "base": None,
                "dockerfile": f"os/{os_base.release}/Dockerfile",
            }
        )
    for target in catalogue.targets:
        if wanted is not None and target.stack not in wanted:
            continue
        out.append(
            {
                "id": target.id,
                "stack": target.stack,
                "version": target.version,
                "variant": target.variant,
                "image": target.image,
                "platforms": list(target.platforms),
                "tags": list(target.references),
                "base": target.base.target_id,
                "dockerfile": target.dockerfile,
            }
        )
    return out
