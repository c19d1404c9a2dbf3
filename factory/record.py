"""The build record: what a run built, from what, how it went, and what each later stage decided.

One JSON document per run under .factory/builds/<run-id>/record.json (and a
copy at .factory/builds/latest.json). Later stages (verify now; scan, sign,
publish and the rebuild plan next) read it instead of asking the engine again
and write their verdict per target and platform back into it.

Reading is strict: every field is checked for its type, a record written by
a newer factory (higher `schema`) is refused with a message saying so, and a
truncated or foreign file is a clear error, never a traceback.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import os
import tempfile
import types
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from factory import files, references
from factory.errors import EnvironmentProblem

# 2: per-stage verdicts per platform; status is one of Status; 3: publication; 4: a scan verdict names its
# SBOM, a verify verdict its checks, a publication its copies and note, a target the plan's reasons (an older factory
# would refuse those fields as unknown: the bump says why)
SCHEMA_VERSION = 4
MAX_RECORD_BYTES = 64 * 2**20  # records of thousands of targets stay under a few MiB


class Status(enum.StrEnum):
    """Where a target of a run stands."""

    PENDING = "pending"
    BUILDING = "building"
    BUILT = "built"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass
class PlatformResult:
    digest: str
    compressed_size: int
    layers: int


@dataclass
class Verdict:
    """What one stage decided about one platform of a target."""

    passed: bool
    summary: str  # one line: "7 checks passed", "failed: tini is PID 1"
    at: str  # when (UTC, RFC 3339)
    report: str | None = None  # the detailed report file
    sbom: str | None = None  # scan: the CycloneDX SBOM of the platform image (what publish attests)
    checks: dict[str, bool] | None = None  # verify: each check by name, passed or not


@dataclass
class Publication:
    """Where publish put a target: its final repository, digest, tags and signature."""

    repository: str
    digest: str
    tags: list[str]  # the rolling tags
    immutable_tag: str
    signature: str  # where cosign keeps the signature (the tag-schema fallback)
    writes: list[str]  # what this publish wrote, in order ([]: all was in place)
    at: str
    copies: list[str] = field(default_factory=list)  # the repositories it was copied to (`publish --to`)
    note: str | None = None  # the why-rebuilt note (JSON; the Markdown beside it)


@dataclass
class TargetResult:
    """One target's outcome in a run."""

    id: str
    stack: str
    version: str | None
    variant: str
    dockerfile: str
    dockerfile_sha256: str
    platforms: list[str]
    tags: list[str]
    status: Status = Status.PENDING
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
    verdicts: dict[str, dict[str, Verdict]] = field(default_factory=dict)  # stage -> platform -> verdict
    published: Publication | None = None
    build_key: str | None = None  # what decided the image (factory.buildinfo.build_key), also its label
    reasons: list[str] = field(default_factory=list)  # why the rebuild plan chose it ([]: asked for by name)

    @property
    def repository(self) -> str | None:
        """The staging repository, `reference` without its tag (a registry's `:port` stays)."""
        return references.parse(self.reference).repository if self.reference else None

    @property
    def pinned(self) -> str | None:
        """`reference@digest` once built."""
        if self.reference is None or self.digest is None:
            return None
        return f"{self.reference}@{self.digest}"

    def passed(self, stage: str) -> bool:
        """True when `stage` passed on every platform of this target."""
        verdicts = self.verdicts.get(stage, {})
        return bool(self.platforms) and all(p in verdicts and verdicts[p].passed for p in self.platforms)


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
        return [t for t in self.targets if t.status != Status.BUILT]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> BuildRecord:
        """A record from parsed JSON; RecordError names the first field that is missing or of a wrong type."""
        if not isinstance(data, dict):
            raise RecordError("not a JSON object")
        schema = data.get("schema", 1)
        if not isinstance(schema, int) or isinstance(schema, bool):
            raise RecordError(f"schema: expected an integer, got {schema!r}")
        if schema > SCHEMA_VERSION:
            raise RecordError(
                f"written by a newer factory (record schema {schema}; this factory reads up to {SCHEMA_VERSION}):"
                " upgrade the factory"
            )
        if schema < SCHEMA_VERSION:  # 1: no verdicts, 2: no publication, 3: no sbom/checks/copies: a subset
            data = {**data, "schema": SCHEMA_VERSION}
        built = _typed(cls, data, "")
        assert isinstance(built, BuildRecord)
        return built


class RecordError(ValueError):
    """A record file that this factory cannot read, and why."""


def now() -> str:
    """The current time as records write it (UTC, seconds)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
    """Read a record; a missing, truncated, foreign, newer, special or oversized file is a clear error.

    `--record` may name any path: only a regular file of at most MAX_RECORD_BYTES is read (a FIFO
    would block, /dev/zero never end), and JSON nested past Python's stack or holding an integer of
    thousands of digits is refused like any other foreign file, never a traceback.
    """
    try:
        data = files.read_regular(path, MAX_RECORD_BYTES)
    except FileNotFoundError as exc:
        raise EnvironmentProblem(f"{path}: no build record here: run `factory build` first") from exc
    except files.NotRegular as exc:
        raise EnvironmentProblem(f"{exc}: a build record is a file") from exc
    except OSError as exc:
        raise EnvironmentProblem(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if isinstance(data, int):
        raise EnvironmentProblem(
            f"{path}: {data} bytes: larger than any build record ({MAX_RECORD_BYTES // 2**20} MiB at most)"
        )
    try:
        return BuildRecord.from_json(json.loads(data.decode("utf-8")))
    except UnicodeDecodeError as exc:
        raise EnvironmentProblem(f"{path}: not a build record of this factory (not UTF-8 text)") from exc
    except json.JSONDecodeError as exc:
        raise EnvironmentProblem(f"{path}: not a build record of this factory (not JSON: {exc.msg})") from exc
    except RecursionError as exc:
        raise EnvironmentProblem(f"{path}: not a build record of this factory (JSON nested too deep)") from exc
    except RecordError as exc:
        raise EnvironmentProblem(f"{path}: not a build record this factory can read: {exc}") from exc
    except ValueError as exc:  # what json.loads raises for an integer of more than 4300 digits
        raise EnvironmentProblem(f"{path}: not a build record of this factory (a number too long to read)") from exc


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


# -- strict reading ------------------------------------------------------------------------


def _typed(kind: Any, value: Any, where: str) -> Any:
    """`value` checked against the annotation `kind` (dataclasses, enums, unions, lists, dicts)."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in typing.get_args(kind):
            try:
                return _typed(option, value, where)
            except RecordError as exc:
                errors.append(str(exc))
        raise RecordError(errors[0])
    if kind is type(None):
        if value is not None:
            raise RecordError(f"{where or 'record'}: expected null, got {_short(value)}")
        return None
    if dataclasses.is_dataclass(kind):
        return _dataclass(kind, value, where)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        try:
            return kind(value)
        except ValueError as exc:
            allowed = ", ".join(str(m.value) for m in kind)
            raise RecordError(f"{where}: expected one of {allowed}, got {_short(value)}") from exc
    if origin is list:
        if not isinstance(value, list):
            raise RecordError(f"{where}: expected a list, got {_short(value)}")
        (item,) = typing.get_args(kind)
        return [_typed(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise RecordError(f"{where}: expected an object, got {_short(value)}")
        _, item = typing.get_args(kind)
        return {str(k): _typed(item, v, f"{where}.{k}") for k, v in value.items()}
    expected = _SCALARS[kind]
    if not isinstance(value, expected) or (kind is not bool and isinstance(value, bool)):
        raise RecordError(f"{where}: expected {kind.__name__}, got {_short(value)}")
    if kind is float and isinstance(value, int):
        return float(value)
    return value


_SCALARS: dict[Any, type | tuple[type, ...]] = {str: str, int: int, float: (int, float), bool: bool}


def _dataclass(kind: Any, value: Any, where: str) -> Any:
    if not isinstance(value, dict):
        raise RecordError(f"{where or 'record'}: expected an object, got {_short(value)}")
    hints = typing.get_type_hints(kind)
    names = {f.name for f in dataclasses.fields(kind)}
    unknown = sorted(set(value) - names)
    if unknown:
        raise RecordError(f"{where or 'record'}: unknown field {unknown[0]!r}")
    given = {}
    for item in dataclasses.fields(kind):
        if item.name not in value:
            if item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING:
                raise RecordError(f"{where + '.' if where else ''}{item.name}: required field is missing")
            continue
        given[item.name] = _typed(hints[item.name], value[item.name], f"{where + '.' if where else ''}{item.name}")
    return kind(**given)


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:55] + "..."
