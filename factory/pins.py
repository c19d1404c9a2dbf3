"""pins/images.yaml: the digests every rendered FROM uses, read and written in one place.

Rendering reads only this file, so it stays offline and deterministic; after
`factory pin` a `factory render` moves each FROM from the placeholder (or an
older digest) to the exact image that was built and verified. A pin may only
name the factory's own repositories (staging and publish) or what factory.yaml
`pins.allow` adds, so a pull request cannot point a FROM at any registry.
`factory pin` validates the whole new file before it replaces the old one.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from pathlib import Path

import yaml

from factory import model, references
from factory import record as records
from factory.errors import DefinitionError, Problem
from factory.schema import validate
from factory.yamlmarks import Marked, load_file, load_text

PINS_FILE = "pins/images.yaml"
PINS_PATH = Path(PINS_FILE)
HEADER = """\
# Digests of the images every rendered FROM starts from, by target id.
# Written by `factory pin` from a build record; `factory render` reads it.
"""


def parse(marked: Marked, allowed: Sequence[str]) -> tuple[dict[str, model.Pin], list[Problem]]:
    """The pins of a loaded pins file and its problems (schema, then repositories outside `allowed`)."""
    problems = validate(marked, "pins")
    if problems:
        return {}, problems
    images = marked.data.get("images") or {}
    found = {key: model.Pin(v["reference"], v["digest"]) for key, v in images.items()}
    for key, pin in found.items():
        message = outside(pin.reference, allowed)
        if message is not None:
            problems.append(
                Problem(marked.file, marked.line(("images", key, "reference")), f"images.{key}.reference", message)
            )
    return found, problems


def outside(reference: str, allowed: Sequence[str]) -> str | None:
    """Why an image a definition names (a pin, a copy-from) is not one it may name, or None.

    `allowed` are fnmatch patterns over the repository: the factory's own and factory.yaml pins.allow;
    empty means any (nothing known to check against).
    """
    repository = references.parse(reference).repository
    if not allowed or any(fnmatch.fnmatchcase(repository, pattern) for pattern in allowed):
        return None
    return (
        f"{repository} is not one of the factory's repositories ({', '.join(allowed)});"
        " factory.yaml pins.allow can add others"
    )


def pins_from(record: records.BuildRecord) -> dict[str, dict[str, str]]:
    """target id -> {reference: repository, digest} for every built target of `record`."""
    found: dict[str, dict[str, str]] = {}
    for target in record.targets:
        if target.status == records.Status.BUILT and target.repository and target.digest:
            found[target.id] = {"reference": target.repository, "digest": target.digest}
    return dict(sorted(found.items()))


def write(root: Path, record: records.BuildRecord, allowed: Sequence[str]) -> tuple[Path, list[str]]:
    """Merge the record's digests into pins/images.yaml; return the file and the changed ids.

    The merged file is validated as a whole (schema and repositories) before
    it replaces the old one in one rename: a bad record changes nothing.
    """
    path = root / PINS_PATH
    current: dict[str, dict[str, str]] = {}
    if path.exists() or path.is_symlink():
        if path.is_symlink():
            raise DefinitionError([Problem(PINS_FILE, None, "", "must be a regular file (no symlinks)")])
        _, problems = parse(load_file(path, PINS_FILE), allowed)
        if problems:
            raise DefinitionError(problems)
        current = dict(load_file(path, PINS_FILE).data.get("images") or {})
    new = pins_from(record)
    changed = sorted(k for k, v in new.items() if current.get(k) != v)
    merged = dict(sorted({**current, **new}.items()))
    text = HEADER + yaml.safe_dump({"images": merged}, sort_keys=True, default_flow_style=False)
    _, problems = parse(load_text(text, f"{PINS_FILE} (as `factory pin` would write it)"), allowed)
    if problems:
        raise DefinitionError(problems)
    path.parent.mkdir(parents=True, exist_ok=True)
    records.atomic_write(path, text)
    return path, changed
