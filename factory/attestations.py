"""What publish attests beside the signature, each a predicate file and the manifest it is about.

Per platform manifest: the CycloneDX SBOM the gate made and the gate's result
for that image (cosign's `vuln` predicate). On the index: the OpenVEX document
of the exceptions that apply to the target, SLSA provenance v1 (the definition
files and their commit, the rendered Dockerfile, the parent digest, the build
args by name) and the rebuild reasons. All are signed with the publishing key,
so a consumer finds and checks each with `cosign verify-attestation --type T`.
BuildKit's own attestations are unsigned and invisible to cosign, so none of
this relies on them.

An SBOM larger than `publish.large_sbom_bytes` is not put in a DSSE envelope:
it is attached as an OCI referrer (oras; the tag-schema fallback on registries
without the referrers API) and the `cyclonedx` attestation is a small BOM whose
external reference names that referrer by digest and the document by sha256.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from factory import exceptions as excs
from factory import notes, references, rendered, scan_reports
from factory import record as records
from factory.errors import EnvironmentProblem
from factory.scan import purls

SBOM = "cyclonedx"
SCAN = "vuln"  # cosign's vulnerability-scan predicate (https://cosign.sigstore.dev/attestation/vuln/v1)
VEX = "openvex"
PROVENANCE = "slsaprovenance1"  # https://slsa.dev/provenance/v1
REASONS = "urn:factory:rebuild-reasons:v1"
SBOM_MEDIA_TYPE = "application/vnd.cyclonedx+json"
NOTE_MEDIA_TYPE = "text/markdown"
BUILD_TYPE = "urn:factory:build:buildx:v1"
BUILDER_ID = "urn:factory:builder:buildkit"
_ARG = re.compile(r"^\s*ARG\s+([A-Za-z_][A-Za-z0-9_]*)", re.MULTILINE)


@dataclass(frozen=True)
class Attestation:
    """One signed statement to make: its type, the platform manifest it is about (None: the index), the file."""

    kind: str
    platform: str | None
    predicate: Path
    attach: Path | None = None  # a document attached as an OCI referrer of the subject first
    attach_type: str | None = None  # its artifact type
    pointer: bool = False  # the document is too large to attest: the predicate names the referrer instead

    @property
    def referrer(self) -> Path | None:
        """The document that goes as a referrer instead of into the predicate (a large SBOM)."""
        return self.attach if self.pointer else None

    def describe(self) -> str:
        where = self.platform or "index"
        return f"{self.kind} ({where})" + (" as a referrer" if self.pointer else "")


@dataclass(frozen=True)
class Inputs:
    """What the predicates of one target are made from, all read from the record and the files it names."""

    record: records.BuildRecord
    target: records.TargetResult
    project_root: Path
    scan_images: Mapping[str, Mapping[str, Any]]  # platform -> the scan report's entry for it
    exceptions: Sequence[excs.Exception_]
    today: dt.date
    large_sbom_bytes: int
    note: notes.Note | None = None  # the why-rebuilt note: the reasons predicate, its Markdown attached


def scan_images(target: records.TargetResult) -> dict[str, dict[str, Any]]:
    """Per platform, the scan report's entry for this target (read from the report each verdict names)."""
    verdicts = target.verdicts.get("scan", {})
    found = scan_reports.entries([v.report for v in verdicts.values() if v.report], strict=True)
    out: dict[str, dict[str, Any]] = {}
    for platform in verdicts:
        image = found.get((target.id, platform))
        if image is None:
            continue
        sbom = image.get("sbom")
        if not sbom or not Path(sbom).is_file():
            raise EnvironmentProblem(f"the SBOM {sbom} of {target.id} is gone: run `factory scan` again")
        out[platform] = image
    return out


def prepare(inputs: Inputs, directory: Path) -> list[Attestation]:
    """Write every predicate of one target into `directory`; the attestations to make, platforms first."""
    directory.mkdir(parents=True, exist_ok=True)
    target = inputs.target
    made: list[Attestation] = []
    for platform, image in sorted(inputs.scan_images.items()):
        slug = platform.replace("/", "-")
        sbom = Path(image["sbom"])
        if sbom.stat().st_size > inputs.large_sbom_bytes:
            pointer = directory / f"sbom-{slug}.pointer.json"
            made.append(Attestation(SBOM, platform, pointer, attach=sbom, attach_type=SBOM_MEDIA_TYPE, pointer=True))
        else:
            made.append(Attestation(SBOM, platform, sbom))
        scanned = target.verdicts["scan"][platform].at
        predicate = scan_predicate(image, scanned)
        made.append(Attestation(SCAN, platform, _write(directory / f"scan-{slug}.json", predicate)))
    products = sorted({p for image in inputs.scan_images.values() for p in purls(Path(image["sbom"]))})
    applying = excs.for_image(inputs.exceptions, target.id)
    timestamp = inputs.record.finished or inputs.record.started
    vex = excs.openvex(applying, products, inputs.today, timestamp)
    (directory / "exceptions.openvex.json").write_text(vex)
    made.append(Attestation(VEX, None, directory / "exceptions.openvex.json"))
    made.append(Attestation(PROVENANCE, None, _write(directory / "provenance.json", provenance(inputs))))
    if inputs.note is None:
        made.append(Attestation(REASONS, None, _write(directory / "reasons.json", reasons(inputs.record, target))))
    else:
        document = _write(directory / "note.json", {"run": inputs.record.run_id, **inputs.note.to_json()})
        (directory / "note.md").write_text(notes.markdown(inputs.note))
        made.append(Attestation(REASONS, None, document, attach=directory / "note.md", attach_type=NOTE_MEDIA_TYPE))
    return made


def sbom_pointer(document: Path, referrer: str, digest: str) -> dict[str, Any]:
    """A CycloneDX BOM that names a large SBOM by the digest of the referrer holding it (and its own sha256)."""
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "metadata": {"properties": [{"name": "factory:sbom:referrer", "value": f"{referrer}@{digest}"}]},
        "externalReferences": [
            {
                "type": "bom",
                "url": f"oci://{referrer}@{digest}",
                "comment": f"the full SBOM ({SBOM_MEDIA_TYPE}, {document.stat().st_size} bytes), attached as a "
                "referrer of this image because it is too large to attest",
                "hashes": [{"alg": "SHA-256", "content": _sha256(document)}],
            }
        ],
    }


def scan_predicate(image: Mapping[str, Any], scanned_at: str) -> dict[str, Any]:
    """cosign's vuln predicate: the scanner, its DB, and the gate's whole result for one image.

    cosign parses the predicate and wants RFC 3339 times: the gate's verdict time stands for both.
    """
    db = image.get("db") or {}
    return {
        "invocation": {"uri": "urn:factory:scan", "event_id": "", "builder.id": BUILDER_ID, "parameters": None},
        "scanner": {
            "uri": "pkg:golang/github.com/aquasecurity/trivy",
            "version": "",
            "db": {"uri": "trivy-db", "version": f"{db.get('version', '')} updated {db.get('updated_at', '')}"},
            "result": {key: image[key] for key in sorted(image) if key not in ("db", "sbom")},
        },
        "metadata": {"scanStartedOn": scanned_at, "scanFinishedOn": scanned_at},
    }


def provenance(inputs: Inputs) -> dict[str, Any]:
    """SLSA provenance v1: what decided the image, each input named with its digest."""
    record, target = inputs.record, inputs.target
    dockerfile = inputs.project_root / target.dockerfile
    text = _read(dockerfile)
    if _sha256(dockerfile) != target.dockerfile_sha256:
        raise EnvironmentProblem(
            f"{dockerfile} changed since run {record.run_id} built {target.id}: publish from the checkout that "
            "built it, or build again"
        )
    dependencies: list[dict[str, Any]] = []
    for source in rendered.sources(text):
        path = inputs.project_root / source
        if path.is_file():
            digest = {"sha256": _sha256(path), "gitCommit": record.vcs_ref}
            dependencies.append({"uri": f"git+file:{source}", "digest": digest})
    dependencies.append({"uri": f"git+file:{target.dockerfile}", "digest": {"sha256": target.dockerfile_sha256}})
    parent = references.parse(target.base_reference) if target.base_reference else None
    if parent is not None and parent.digest:
        dependencies.append({"uri": f"oci://{parent.repository}", "digest": {"sha256": parent.digest.split(":")[1]}})
    return {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {
                "target": target.id,
                "platforms": sorted(target.platforms),
                "dockerfile": target.dockerfile,
                "source": {"commit": record.vcs_ref},
            },
            "internalParameters": {
                "build_args": sorted(set(_ARG.findall(text))),
                "build_key": target.build_key,
                "factory_version": record.factory_version,
                "source_date_epoch": record.source_date_epoch,
            },
            "resolvedDependencies": dependencies,
        },
        "runDetails": {
            "builder": {"id": BUILDER_ID},
            # cosign re-encodes the predicate through in-toto-golang, whose field is `invocationID`
            "metadata": {"invocationID": record.run_id, "startedOn": record.started, "finishedOn": record.finished},
            "byproducts": [
                {"name": platform, "digest": {"sha256": image.digest.removeprefix("sha256:")}}
                for platform, image in sorted(target.images.items())
            ],
        },
    }


def reasons(record: records.BuildRecord, target: records.TargetResult) -> dict[str, Any]:
    """Why this image was built: the rebuild plan's reasons, or that someone asked for it by name."""
    split = (line.partition(":") for line in target.reasons)
    given = [{"reason": kind.strip(), "evidence": evidence.strip()} for kind, _, evidence in split]
    if not given:
        given = [{"reason": "requested", "evidence": f"selected by `factory build` (run {record.run_id})"}]
    return {"target": target.id, "run": record.run_id, "built": record.finished, "reasons": given}


def _write(path: Path, data: Mapping[str, Any]) -> Path:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EnvironmentProblem(f"cannot read {path}: {exc}") from exc


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
