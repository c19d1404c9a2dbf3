"""Build benchmark on the real engine: cold and warm build time per target and
platform, the emulated (arm64 under qemu) vs native (amd64) ratio, and image
sizes against the OS base. Prints a table; asserts nothing.

Cold = every build step run again (`--no-cache`; per platform, the busy
seconds of its build steps from the log); the OS root filesystem
bootstrap is cached separately and timed only with --bootstrap. Warm = the
same build again with nothing changed (registry + BuildKit cache).

The benchmark builds a copy of the project under its own registry namespaces
(factory-bench*), so the catalogue's staging images and registry cache stay as
they were. BuildKit's local cache is shared: cold rebuilds there can make the
next real build of the benchmarked targets' children miss their cache once.

    .venv/bin/python bench/build_bench.py [--targets ID ...] [--bootstrap]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cold_bench import step_seconds

REPO = Path(__file__).resolve().parent.parent
FACTORY = Path(sys.executable).parent / "factory"
PROJECT = REPO  # replaced by a copy with its own registry namespaces in main()
DEFAULT_TARGETS = ["python:3.13-runtime", "node:20-runtime", "go:static"]
PLATFORMS = ["linux/amd64", "linux/arm64"]


def factory(*args: str) -> dict[str, object]:
    result = subprocess.run(
        [str(FACTORY), "--root", str(REPO), *args, "--output", "json"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.exit(f"factory {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-2000:]}")
    return dict(json.loads(result.stdout))


def durations(record: dict[str, object]) -> dict[str, dict[str, object]]:
    return {str(t["id"]): t for t in record["targets"]}  # type: ignore[index, union-attr]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", nargs="*", default=DEFAULT_TARGETS)
    parser.add_argument("--bootstrap", action="store_true", help="also time a fresh OS bootstrap per platform")
    args = parser.parse_args()
    global PROJECT
    scratch = Path(tempfile.mkdtemp(prefix="factory-bench-"))
    PROJECT = scratch / "project"
    shutil.copytree(REPO, PROJECT, ignore=shutil.ignore_patterns(".venv", ".factory", ".git", "*.egg-info"))
    (PROJECT / "factory.yaml").write_text(
        "registry: {namespace: factory-bench, staging_namespace: factory-bench-staging}\n"
    )

    if args.bootstrap:
        for platform in PLATFORMS:
            start = time.monotonic()
            factory("os", "bootstrap", "--platform", platform, "--refresh")
            print(f"OS bootstrap {platform}: {time.monotonic() - start:.0f} s")

    cold: dict[tuple[str, str], float] = {}
    sizes: dict[tuple[str, str], int] = {}
    # Both platforms in one build, as the factory builds them (a base built for arm64 alone would
    # move the package stages of its children into emulation); per platform: busy step seconds.
    record = durations(factory("build", *args.targets, "--no-cache"))
    for target_id, target in record.items():
        for platform, seconds in step_seconds(Path(str(target["log"]))).items():
            cold[(target_id, platform)] = seconds
    warm_record = durations(factory("build", *args.targets))  # both platforms, nothing changed
    start = time.monotonic()
    warm_record = durations(factory("build", *args.targets))
    warm_total = time.monotonic() - start
    for target_id, target in warm_record.items():
        for platform, image in target["images"].items():  # type: ignore[union-attr]
            sizes[(target_id, platform)] = int(image["compressed_size"])

    os_id = next(t for t in warm_record if t.startswith("os:"))
    print(f"{'target':<24} {'platform':<12} {'cold s':>8} {'warm s':>7} {'arm64/amd64':>12} {'MB (gz)':>8} {'x OS':>6}")
    for target_id, target in warm_record.items():
        for platform in PLATFORMS:
            c = cold.get((target_id, platform), float("nan"))
            ratio = cold.get((target_id, "linux/arm64"), 0) / max(cold.get((target_id, "linux/amd64"), 0), 1e-9)
            size = sizes.get((target_id, platform), 0)
            base = sizes.get((os_id, platform), 1)
            print(
                f"{target_id:<24} {platform:<12} {c:>8.1f} {float(target['duration_s']):>7.1f} "  # type: ignore[arg-type]
                f"{ratio if platform.endswith('arm64') else 1.0:>12.1f} {size / 1e6:>8.1f} {size / base:>6.2f}"
            )
    print(f"warm rebuild of {len(warm_record)} images, both platforms, nothing changed: {warm_total:.1f} s")
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
