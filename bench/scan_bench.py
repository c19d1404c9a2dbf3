"""Scan benchmark on the real engine: the security gate over a build record, cold and warm.

Cold = no SBOM cached (trivy reads each platform image from the registry);
warm = the SBOMs and secret results of the same digests cached, the DB at
hand: what the scheduled pipeline's daily rescan of published images costs.
The DB is a planted one (tests/support/trivydb.py), as large as trivy's real
Debian bucket is in number of packages (advisories on every source package
of the images). Prints a table per image and platform and the warm/cold
ratio; asserts nothing.

    .venv/bin/python bench/scan_bench.py [--record .factory/builds/latest.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from factory import exceptions as excs  # noqa: E402
from factory import record as records  # noqa: E402
from factory import scan  # noqa: E402
from factory.site import ScanSettings  # noqa: E402
from tests.support.trivydb import Advisory, write_db  # noqa: E402


def _advisories(sources: set[str]) -> list[Advisory]:
    """Three advisories per source package: fixed (HIGH), unfixed (MEDIUM), fixed below the gate (LOW)."""
    out = []
    for number, source in enumerate(sorted(sources)):
        out += [
            Advisory(f"CVE-2099-{10000 + number * 3}", "debian 13", source, "999:1", "HIGH", f"{source} fixed"),
            Advisory(f"CVE-2099-{10001 + number * 3}", "debian 13", source, None, "MEDIUM", f"{source} unfixed"),
            Advisory(f"CVE-2099-{10002 + number * 3}", "debian 13", source, "999:1", "LOW", f"{source} low"),
        ]
    return out


def _sources(sbom: Path) -> set[str]:
    """Source package names of an SBOM (trivy records them as a property of each component)."""
    found = set()
    for component in json.loads(sbom.read_text()).get("components", []):
        for prop in component.get("properties", []):
            if prop.get("name") == "aquasecurity:trivy:SrcName":
                found.add(str(prop["value"]))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--record", type=Path, default=REPO / ".factory" / "builds" / "latest.json")
    args = parser.parse_args()
    record = records.read(args.record)
    images = [
        (t, p, t.images[p].digest) for t in record.targets if t.status == records.Status.BUILT for p in t.platforms
    ]
    work = Path(tempfile.mkdtemp(prefix="factory-scan-bench-"))
    today = dt.date.today()
    try:
        db_dir = work / "db"
        write_db(db_dir, [], next_update=dt.datetime(2999, 1, 1, tzinfo=dt.UTC), updated_at=dt.datetime.now(dt.UTC))
        settings = ScanSettings(db_cache=str(db_dir))
        cache = work / "cache"
        first = scan.Scanner(settings, scan.Database.of(settings, cache), cache, (), today)
        sources: set[str] = set()
        cold: dict[tuple[str, str], float] = {}
        for target, platform, digest in images:
            start = time.perf_counter()
            sbom = first.sbom(f"{target.repository}@{digest}", digest, platform)
            first.secrets(f"{target.repository}@{digest}", digest, platform)
            cold[(target.id, platform)] = time.perf_counter() - start
            sources |= _sources(sbom)
        advisories = _advisories(sources)
        write_db(
            db_dir, advisories, next_update=dt.datetime(2999, 1, 1, tzinfo=dt.UTC), updated_at=dt.datetime.now(dt.UTC)
        )
        scanner = scan.Scanner(settings, scan.Database.of(settings, cache), cache, excs.load(REPO, today), today)
        info = scanner.prepare_db()
        print(f"{len(images)} images, DB: {len(advisories)} advisories on {len(sources)} source packages")
        header = f"{'cold sbom+secrets s':>20} {'warm gate s':>12} {'findings':>9} {'ratio':>7}"
        print(f"{'image':<28} {'platform':<12} {header}")
        total_cold = total_warm = 0.0
        for target, platform, digest in images:
            start = time.perf_counter()
            reference = f"{target.repository}@{digest}"
            sbom = scanner.sbom(reference, digest, platform)
            result = scan.ImageScan(target.id, platform, digest, str(sbom), info)
            result.findings = scanner.vulnerabilities(sbom, target.id, [], None)
            result.secrets = scanner.secrets(reference, digest, platform)
            scanner.judge(result, 0.0)
            warm = time.perf_counter() - start
            seconds = cold[(target.id, platform)]
            total_cold += seconds
            total_warm += warm
            print(
                f"{target.id:<28} {platform:<12} {seconds:>20.2f} {warm:>12.2f} {len(result.findings):>9}"
                f" {warm / seconds:>7.2f}"
            )
        print(
            f"{'total':<41} {total_cold:>20.2f} {total_warm:>12.2f} {'':>9} {total_warm / total_cold:>7.2f}"
            f"   (warm: {total_warm / len(images):.2f} s per image and platform)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
