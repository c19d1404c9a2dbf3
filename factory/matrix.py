"""The build matrix as plain rows: what `factory list` prints and CI consumes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from factory import model
from factory.site import PublishSettings


def rows(
    catalogue: model.Catalogue, stacks: Iterable[str] | None = None, publish: PublishSettings | None = None
) -> list[dict[str, Any]]:
    """One row per target in build order (the OS base, itself a target of the stack `os`, first), each with the
    references its final tags have (factory.yaml `publish:`), for CI and consumers to read."""
    wanted = set(stacks) if stacks is not None else None
    publish = publish or PublishSettings()
    return [_row(t, publish) for t in catalogue.targets if wanted is None or t.stack in wanted]


def _row(target: model.Target, publish: PublishSettings) -> dict[str, Any]:
    return {
        "id": target.id,
        "stack": target.stack,
        "version": target.version,
        "variant": target.variant,
        "image": target.image,
        "platforms": list(target.platforms),
        "tags": list(target.references),
        "base": target.base.target_id,
        "dockerfile": target.dockerfile,
        "published": [f"{publish.repository(target.image)}:{tag}" for tag in target.tags],
    }
