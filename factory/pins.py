"""Writes pins/images.yaml from a build record: the digests every rendered FROM uses.

Rendering reads only this file, so it stays offline and deterministic; after
`factory pin` a `factory render` moves each FROM from the placeholder (or an
older digest) to the exact image that was built and verified.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from factory import record as records
from factory.errors import DefinitionError
from factory.schema import validate
from factory.yamlmarks import load_file

PINS_PATH = Path("pins") / "images.yaml"
HEADER = """\
# Digests of the images every rendered FROM starts from, by target id.
# Written by `factory pin` from a build record; `factory render` reads it.
"""


def pins_from(record: records.BuildRecord) -> dict[str, dict[str, str]]:
    """target id -> {reference: repository, digest} for every built target of `record`."""
    pins: dict[str, dict[str, str]] = {}
    for target in record.targets:
        if target.status == "built" and target.repository and target.digest:
            pins[target.id] = {"reference": target.repository, "digest": target.digest}
    return dict(sorted(pins.items()))


def write(root: Path, record: records.BuildRecord) -> tuple[Path, list[str]]:
    """Merge the record's digests into pins/images.yaml atomically; return the file and changed ids."""
    path = root / PINS_PATH
    current: dict[str, dict[str, str]] = {}
    if path.exists():
        marked = load_file(path, str(PINS_PATH))
        problems = validate(marked, "pins")
        if problems:
            raise DefinitionError(problems)
        current = dict(marked.data.get("images") or {})
    new = pins_from(record)
    changed = sorted(k for k, v in new.items() if current.get(k) != v)
    merged = dict(sorted({**current, **new}.items()))
    text = HEADER + yaml.safe_dump({"images": merged}, sort_keys=True, default_flow_style=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    records.atomic_write(path, text)
    return path, changed
