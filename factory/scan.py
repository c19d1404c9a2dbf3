"""The security gate: SBOM, vulnerabilities and secrets of every image and platform, judged by the factory.

Per platform digest of a build record (never a tag), trivy makes a CycloneDX
SBOM once, straight from the registry (cached by digest: a rescan with a
newer DB needs no pull), scans that SBOM for vulnerabilities (`trivy sbom`)
and the image's files for secrets. Trivy always reports everything (all
severities, fixed and unfixed); the policy of factory.yaml `scan:` alone
decides, so the report is never filtered by the gate. Exceptions reach trivy
in its own formats (factory.exceptions) and come back as suppressed findings
with their statements; the factory adds their state. Each finding says where
it comes from (`origin`: the base image's layers or the image's own) and what
fixes it (`remedy`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from factory import exceptions as excs
from factory import record as records
from factory.errors import CommandFailed, EnvironmentProblem
from factory.lint.tools import locate
from factory.process import Runner
from factory.schema import SEVERITIES
from factory.site import ScanSettings

TRIVY_FLAGS = ("--skip-version-check", "--disable-telemetry", "--quiet")
IMAGE_CONFIG = "(image config and history)"  # where a secret found outside the files is
JAR_PATTERNS = ("**/*.jar", "**/*.war", "**/*.ear")  # what trivy needs its Java index for
TIMEOUT = 900.0  # one trivy call; an SBOM of a large image under load takes a while, a hang must end


def rank(severity: str | None) -> int:
    """Severity order (UNKNOWN lowest); None ranks above everything (a threshold that is off)."""
    return len(SEVERITIES) if severity is None else SEVERITIES.index(severity) if severity in SEVERITIES else 0


@dataclass(frozen=True)
class DbInfo:
    """The vulnerability DB a scan used: results change when it changes, so every report names it."""

    version: int
    updated_at: str
    next_update: str

    def age_days(self, now: dt.datetime) -> float:
        updated = dt.datetime.fromisoformat(self.updated_at.replace("Z", "+00:00"))
        return round((now - updated).total_seconds() / 86400, 1)


@dataclass(frozen=True)
class Database:
    """Where trivy finds its vulnerability DB: a given cache dir (offline), a repository (a mirror), or trivy's own."""

    cache_dir: Path
    repository: str | None = None
    offline: bool = False

    def args(self, *, offline: bool = False) -> list[str]:
        """trivy's DB flags; `offline` once prepare_db has the DB in place (no second download check)."""
        out = ["--cache-dir", str(self.cache_dir)]
        if self.offline or offline:
            out.append("--skip-db-update")
        elif self.repository:
            out += ["--db-repository", self.repository]
        return out

    def info(self) -> DbInfo | None:
        """The metadata of the DB in the cache dir, or None when there is none."""
        try:
            data = json.loads((self.cache_dir / "db" / "metadata.json").read_text())
        except (OSError, ValueError):
            return None
        if not (self.cache_dir / "db" / "trivy.db").is_file():
            return None
        return DbInfo(int(data.get("Version", 0)), str(data.get("UpdatedAt", "")), str(data.get("NextUpdate", "")))

    @classmethod
    def of(cls, settings: ScanSettings, cache_root: Path) -> Database:
        if settings.db_cache:
            return cls(Path(settings.db_cache), settings.db_repository, offline=True)
        return cls(cache_root / "trivy-db", settings.db_repository)


@dataclass(frozen=True)
class Finding:
    """One vulnerability of one package in one image, with where it comes from and what fixes it."""

    id: str
    package: str
    purl: str
    installed: str
    fixed: str | None
    severity: str
    title: str
    layer: str | None  # the layer's diff id
    origin: str  # "base": in the parent's layers; "own": added by this image
    remedy: str  # "none" or what to do: upgrade a package, rebuild on a newer base (see _finding)
    suppressed: str | None = None  # how an exception suppressed it: "ignored", "not_affected"
    statement: str | None = None
    expires: str | None = None  # a suppressed finding: the day its exception expires (ISO date)


@dataclass(frozen=True)
class Secret:
    rule: str
    category: str
    severity: str
    title: str
    file: str
    line: int


@dataclass
class ImageScan:
    """Everything the gate found and decided about one image on one platform."""

    target: str
    platform: str
    digest: str
    sbom: str
    db: DbInfo
    dockerfile: str = ""  # the rendered Dockerfile the image was built from (where SARIF points)
    findings: list[Finding] = field(default_factory=list)
    violations: list[Finding] = field(default_factory=list)  # the findings that fail the gate
    secrets: list[Secret] = field(default_factory=list)
    failing: list[str] = field(default_factory=list)  # why the gate fails, one line each
    warnings: list[str] = field(default_factory=list)
    exceptions: dict[str, str] = field(default_factory=dict)  # exception id -> its state for this image

    @property
    def passed(self) -> bool:
        return not self.failing

    @property
    def summary(self) -> str:
        """One line: the first reason it fails, or how much it found."""
        if self.failing:
            return f"{len(self.failing)} failing: {self.failing[0]}"
        shown = [f for f in self.findings if not f.suppressed]
        return f"passed: {len(shown)} findings, {len(self.warnings)} warnings"

    def verdict(self, at: str, report: str) -> records.Verdict:
        """The record's verdict, naming the SBOM it was judged on."""
        return records.Verdict(self.passed, self.summary, at, report, sbom=self.sbom)

    def counts(self) -> dict[str, dict[str, int]]:
        """severity x (fixable|unfixed) x origin, unsuppressed findings only."""
        table: dict[str, dict[str, int]] = {}
        for finding in self.findings:
            if finding.suppressed:
                continue
            key = f"{'fixable' if finding.fixed else 'unfixed'}/{finding.origin}"
            row = table.setdefault(finding.severity, {})
            row[key] = row.get(key, 0) + 1
        return table


class Scanner:
    """Runs trivy for the images of a record and judges what it reports."""

    def __init__(
        self,
        settings: ScanSettings,
        database: Database,
        cache_root: Path,
        exceptions: Sequence[excs.Exception_],
        today: dt.date,
        *,
        runner: Runner | None = None,
        trivy: str | None = None,
    ) -> None:
        self.settings = settings
        self.database = database
        self.cache_root = cache_root
        self.exceptions = tuple(exceptions)
        self.today = today
        self.runner = runner or Runner({**os.environ, "NO_COLOR": "1"})
        found = trivy or locate("trivy")
        if found is None:
            raise EnvironmentProblem("trivy is not installed (a dependency of the factory: `pip install .` brings it)")
        self.trivy = found

    # -- the DB ------------------------------------------------------------------------------------

    def prepare_db(self) -> DbInfo:
        """Make sure a DB is at hand (downloading it from the repository if one is set); no DB is an error."""
        if not self.database.offline:
            self.database.cache_dir.mkdir(parents=True, exist_ok=True)
            try:
                self._trivy(["image", "--download-db-only", *self.database.args()], "downloading the vulnerability DB")
            except CommandFailed as exc:
                source = self.database.repository or "trivy's default repositories"
                raise EnvironmentProblem(
                    f"the vulnerability DB could not be downloaded from {source} ({_last_line(exc.output)}): set"
                    " scan.db.repository (a mirror of trivy's DB) or scan.db.cache_dir (a DB fetched elsewhere)"
                    " in factory.yaml; never '0 vulnerabilities' without a DB"
                ) from exc
        info = self.database.info()
        if info is None:
            where = self.database.cache_dir / "db"
            raise EnvironmentProblem(
                f"no vulnerability DB in {where}: set scan.db.repository (a mirror of trivy's DB) or"
                " scan.db.cache_dir (a directory holding db/trivy.db and db/metadata.json) in factory.yaml;"
                " never '0 vulnerabilities' without a DB"
            )
        return info

    # -- one image ---------------------------------------------------------------------------------

    def sbom_path(self, digest: str) -> Path:
        """Where the SBOM of a digest is cached."""
        suffix = ".nojar" if self._skips_jars else ""  # a Java index set later makes a new, full one
        return self.cache_root / "sbom" / f"{digest.replace(':', '-')}{suffix}.cdx.json"

    def sbom(self, reference: str, digest: str, platform: str) -> Path:
        """The CycloneDX SBOM of a platform image, made once per digest and cached."""
        java = self._java_db()
        path = self.sbom_path(digest)
        if path.is_file():
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=path.parent) as work:
            out = Path(work) / "sbom.json"
            self._trivy(
                ["image", "--image-src", "remote", "--platform", platform, "--format", "cyclonedx", "--scanners", "",
                 *self._layer_cache(), *java, "--output", str(out), reference],
                f"making the SBOM of {reference}",
            )  # fmt: skip
            os.replace(out, path)
        return path

    def secrets(self, reference: str, digest: str, platform: str) -> list[Secret]:
        """Secrets in the image's files (cached by digest: they do not change with the DB)."""
        path = self.cache_root / "secrets" / f"{digest.replace(':', '-')}.json"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            result = self._trivy(
                ["image", "--image-src", "remote", "--platform", platform, "--scanners", "secret", "--format", "json",
                 *self._layer_cache(), reference],
                f"scanning {reference} for secrets",
            )  # fmt: skip
            records.atomic_write(path, result)
        data = json.loads(path.read_text())
        found = []
        for item in data.get("Results") or []:
            target = str(item.get("Target", ""))
            # A file's path, or the image itself: its config and history (a RUN line that wrote a token)
            where = IMAGE_CONFIG if not target.startswith("/") else target
            for secret in item.get("Secrets") or []:
                found.append(
                    Secret(
                        str(secret.get("RuleID", "")),
                        str(secret.get("Category", "")),
                        str(secret.get("Severity", "UNKNOWN")),
                        str(secret.get("Title", "")),
                        where,
                        int(secret.get("StartLine") or 0),
                    )
                )
        return found

    def vulnerabilities(
        self, sbom: Path, target_id: str, parent_layers: Iterable[str], parent_id: str | None
    ) -> list[Finding]:
        """Every finding trivy reports on the SBOM (suppressed ones included, marked), with origin and remedy."""
        applying = excs.for_image(self.exceptions, target_id)
        products = purls(sbom)
        with tempfile.TemporaryDirectory(prefix="factory-scan-") as work:
            ignore = Path(work) / "trivyignore.yaml"
            ignore.write_text(excs.trivyignore(applying))
            vex = Path(work) / "exceptions.openvex.json"
            vex.write_text(excs.openvex(applying, products, self.today, f"{self.today.isoformat()}T00:00:00Z"))
            report = self._trivy(
                ["sbom", "--format", "json", "--scanners", "vuln", *self.database.args(offline=True),
                 "--ignorefile", str(ignore), "--vex", str(vex), "--show-suppressed", str(sbom)],
                f"scanning {sbom.name}",
            )  # fmt: skip
        found = _findings(json.loads(report), set(parent_layers), parent_id)
        return [_with_expiry(f, applying) if f.suppressed else f for f in found]

    def judge(self, scan: ImageScan, db_age_days: float) -> None:
        """Apply the policy: what fails the gate, what is a warning, and each exception's state here."""
        policy = self.settings
        for finding in scan.findings:
            if finding.suppressed:
                continue
            what = f"{finding.id} {finding.package} {finding.installed} ({finding.severity}"
            if finding.fixed and rank(finding.severity) >= rank(policy.fail_on):
                scan.violations.append(finding)
                scan.failing.append(f"{what}, fixed in {finding.fixed}): {finding.remedy}")
            elif not finding.fixed and rank(finding.severity) >= rank(policy.unfixed_fail_on):
                scan.violations.append(finding)
                scan.failing.append(f"{what}, no fix yet)")
            elif not finding.fixed and rank(finding.severity) >= rank(policy.unfixed_warn_on):
                scan.warnings.append(f"{what}, no fix yet)")
        for secret in scan.secrets:
            scan.failing.append(f"secret {secret.rule} ({secret.title}) in {secret.file}:{secret.line}")
        if db_age_days > policy.db_max_age_days:
            scan.warnings.append(
                f"the vulnerability DB is {db_age_days} days old (updated {scan.db.updated_at};"
                f" scan.db.max_age_days is {policy.db_max_age_days})"
            )
        suppressed = {f.id for f in scan.findings if f.suppressed}
        reported = {f.id for f in scan.findings if not f.suppressed}
        for item in excs.for_image(self.exceptions, scan.target):
            state = item.state(self.today, matched=item.id in suppressed or item.id in reported)
            scan.exceptions[item.id] = str(state)
            if state is excs.State.EXPIRED and item.id in reported:
                scan.warnings.append(
                    f"{item.id} counts again: its exception ({self.settings.exceptions}:{item.line}) expired on"
                    f" {item.expires}"
                )

    # -- trivy -------------------------------------------------------------------------------------

    def _java_db(self) -> list[str]:
        """trivy identifies jar files with its Java index, downloaded on first use: from scan.java_db.repository
        when set; offline (scan.db.cache_dir) without one, jar, war and ear files are left out of the SBOM
        (the OS packages, the JDK's included, come from dpkg and are all there) instead of failing."""
        if self.settings.java_db_repository:
            return ["--java-db-repository", self.settings.java_db_repository]
        if self._skips_jars:
            return [arg for pattern in JAR_PATTERNS for arg in ("--skip-files", pattern)]
        return []

    @property
    def _skips_jars(self) -> bool:
        """Offline with no Java index to read: jar files stay out of the SBOM."""
        return self.database.offline and not self.settings.java_db_repository

    def _layer_cache(self) -> list[str]:
        return ["--cache-dir", str(self.cache_root / "trivy")]

    def _trivy(self, args: list[str], what: str) -> str:
        argv = [self.trivy, *args, *TRIVY_FLAGS]
        return self.runner.run(argv, timeout=TIMEOUT, hint=what).stdout


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else "no output"


def purls(sbom: Path) -> list[str]:
    """Every package URL an SBOM names (the products a VEX statement can cover)."""
    data = json.loads(sbom.read_text())
    return sorted({str(c["purl"]) for c in data.get("components", []) if c.get("purl")})


def sbom_layers(sbom: Path) -> list[str]:
    """The layer diff ids of the image an SBOM describes (trivy records them per component)."""
    data = json.loads(sbom.read_text())
    layers: list[str] = []
    for component in data.get("components", []):
        for prop in component.get("properties", []):
            if prop.get("name") == "aquasecurity:trivy:LayerDiffID" and prop.get("value") not in layers:
                layers.append(str(prop["value"]))
    return layers


def _findings(report: dict[str, Any], parent_layers: set[str], parent_id: str | None) -> list[Finding]:
    found: list[Finding] = []
    for result in report.get("Results") or []:
        for item in result.get("Vulnerabilities") or []:
            found.append(_finding(item, parent_layers, parent_id))
        for modified in result.get("ExperimentalModifiedFindings") or []:
            if modified.get("Type") == "vulnerability":
                found.append(
                    _finding(
                        modified.get("Finding") or {},
                        parent_layers,
                        parent_id,
                        suppressed=str(modified.get("Status", "suppressed")),
                        statement=str(modified.get("Statement", "")),
                    )
                )
    return sorted(found, key=lambda f: (-rank(f.severity), f.id, f.package))


def _with_expiry(finding: Finding, exceptions: Sequence[excs.Exception_]) -> Finding:
    """A suppressed finding with the expiry of the exception that covers it (trivy reports only the statement)."""
    covering = excs.covering(exceptions, finding.id, finding.purl)
    return replace(finding, expires=covering.expires.isoformat()) if covering else finding


def _finding(
    item: dict[str, Any],
    parent_layers: set[str],
    parent_id: str | None,
    *,
    suppressed: str | None = None,
    statement: str | None = None,
) -> Finding:
    layer = (item.get("Layer") or {}).get("DiffID")
    origin = "base" if layer and layer in parent_layers else "own"
    fixed = item.get("FixedVersion") or None
    package = str(item.get("PkgName", ""))
    # The remedy comes from trivy's advisory alone: "upgrade" means the advisory names a fixed version, not
    # that the archive the build installs from has it yet; with an OS snapshot (os.yaml / factory.yaml
    # `snapshot`) a rebuild installs the snapshot's versions and gets the fix only once the snapshot moves.
    if not fixed:
        remedy = "none (no fixed version yet)"
    elif origin == "base" and parent_id:
        remedy = f"rebuild on a newer {parent_id}"
    else:
        remedy = f"upgrade {package} to {fixed}: rebuild the image"
    return Finding(
        id=str(item.get("VulnerabilityID", "")),
        package=package,
        purl=str((item.get("PkgIdentifier") or {}).get("PURL", "")),
        installed=str(item.get("InstalledVersion", "")),
        fixed=fixed,
        severity=str(item.get("Severity", "UNKNOWN")),
        title=str(item.get("Title", "")),
        layer=layer,
        origin=origin,
        remedy=remedy,
        suppressed=suppressed,
        statement=statement,
    )


def as_json(scans: Sequence[ImageScan], db: DbInfo, exception_states: dict[str, str]) -> dict[str, Any]:
    """The scan report: a stable document (README documents its keys)."""
    return {
        "schema": 1,
        "passed": all(s.passed for s in scans) and bool(scans),
        "db": asdict(db),
        "exceptions": exception_states,
        "images": [{**asdict(s), "passed": s.passed, "counts": s.counts()} for s in scans],
    }
