"""The build record: what a run built, from what, how long it took, and where it went.

One JSON document per run under .factory/builds/<run-id>/record.json (and a
copy at .factory/builds/latest.json). Later stages (verify, scan, sign,
promote, the rebuild plan) read it instead of asking the engine again.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from factory.errors import EnvironmentProblem

SCHEMA_VERSION = 1


@dataclass
class PlatformResult:
    digest: str
    compressed_size: int
    layers: int


@dataclass
class TargetResult:
    """One target's outcome; `status` is built, failed or skipped."""

    id: str
    stack: str
    version: str | None
    variant: str
    dockerfile: str
    dockerfile_sha256: str
    platforms: list[str]
    tags: list[str]
    status: str = "pending"
    reason: str | None = None
    base_id: str | None = None
    base_reference: str | None = None
    reference: str | None = None  # staging name:tag
    digest: str | None = None  # index digest
    base_pin: str | None = None  # repository@digest, what children are built FROM
    images: dict[str, PlatformResult] = field(default_factory=dict)
    duration_s: float = 0.0
    steps: int = 0
    cached_steps: int = 0
    log: str | None = None
    builders: dict[str, str] = field(default_factory=dict)  # platform -> builder

    @property
    def repository(self) -> str | None:
        """The staging repository, `reference` without its tag."""
        return self.reference.rsplit(":", 1)[0] if self.reference else None

    @property
    def pinned(self) -> str | None:
        """`reference@digest` once built."""
        if self.reference is None or self.digest is None:
            return None
        return f"{self.reference}@{self.digest}"


@dataclass
class BuildRecord:
    run_id: str
    started: str
    registry: str
    vcs_ref: str
    source_date_epoch: int
    factory_version: str
    finished: str | None = None
    duration_s: float = 0.0
    targets: list[TargetResult] = field(default_factory=list)
    schema: int = SCHEMA_VERSION

    def result(self, target_id: str) -> TargetResult:
        for result in self.targets:
            if result.id == target_id:
                return result
        raise KeyError(target_id)

    @property
    def failed(self) -> list[TargetResult]:
        return [t for t in self.targets if t.status != "built"]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BuildRecord:
        targets = []
        for raw in data.get("targets", []):
            images = {p: PlatformResult(**v) for p, v in raw.pop("images", {}).items()}
            targets.append(TargetResult(**raw, images=images))
        fields = {k: v for k, v in data.items() if k != "targets"}
        return cls(**fields, targets=targets)


def write(record: BuildRecord, directory: Path, *, latest: bool = True) -> Path:
    """Write record.json atomically into `directory`; with `latest`, also ../latest.json.

    A run in progress updates only its own record.json, so `latest.json` always
    describes a finished run.
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "record.json"
    text = json.dumps(record.to_json(), indent=2, sort_keys=True) + "\n"
    atomic_write(path, text)
    if latest:
        atomic_write(directory.parent / "latest.json", text)
    return path


def read(path: Path) -> BuildRecord:
    """Read a record; a missing, truncated or foreign file is a clear error, not a traceback."""
    try:
        return BuildRecord.from_json(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError as exc:
        raise EnvironmentProblem(f"{path}: no build record here: run `factory build` first") from exc
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise EnvironmentProblem(f"{path}: not a build record of this factory ({exc})") from exc


def atomic_write(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file and one rename (mode 0644)."""
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temp, 0o644)  # mkstemp's 0600 would hide the record from other users
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
