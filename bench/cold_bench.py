"""Cold-build benchmark on the real engine: the catalogue (or some targets) built
cold with the templates of a baseline revision, one target at a time, as the
factory built before the cold-build work, and then cold with the current
templates and the default concurrency. Prints per target the wall time of each
run and the ratio, per platform the busy seconds of the build steps (BuildKit's
DONE times, from the build logs) and the arm64/amd64 ratio; asserts nothing.

Cold means: `--no-cache` (every step runs again) and, before the current run,
BuildKit's cache mounts pruned (apt's index and downloads are fetched again).
The OS root filesystem bootstrap stays cached (bench/build_bench.py
--bootstrap times it). Both runs build a copy of the project under their own
registry namespaces, so the catalogue's staging images stay as they were; the
engine's cache mounts are shared, so a later real build fetches apt's files once.

    .venv/bin/python bench/cold_bench.py [--targets ID ...] [--baseline REV] [--current-only]
    .venv/bin/python bench/cold_bench.py --record .factory/builds/latest.json   # analyse a record only
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FACTORY = Path(sys.executable).parent / "factory"
BASELINE = "b68a63e"  # the last commit before packages were resolved and fetched on the build platform
STEP = re.compile(r"^#(\d+) \[(linux/[a-z0-9]+)(?:->([a-z0-9]+))? ")
DONE = re.compile(r"^#(\d+) DONE ([0-9.]+)s")


def factory(root: Path, *args: str) -> dict[str, object]:
    result = subprocess.run(
        [str(FACTORY), "--root", str(root), *args, "--output", "json"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.exit(f"factory {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return dict(json.loads(result.stdout))


def step_seconds(log: Path) -> dict[str, float]:
    """Busy seconds of the build steps per target platform (`linux/amd64->arm64` counts for arm64)."""
    platform_of: dict[str, str] = {}
    totals: dict[str, float] = defaultdict(float)
    for line in log.read_text(errors="replace").splitlines():
        if match := STEP.match(line):
            step, platform, cross = match.groups()
            platform_of[step] = f"linux/{cross}" if cross else platform
        elif (match := DONE.match(line)) and match.group(1) in platform_of:
            totals[platform_of[match.group(1)]] += float(match.group(2))
    return dict(totals)


def analyse(record: dict[str, object]) -> dict[str, dict[str, object]]:
    """Per target: wall seconds and busy step seconds per platform."""
    found: dict[str, dict[str, object]] = {}
    for target in record["targets"]:  # type: ignore[attr-defined]
        log = Path(target["log"]) if target.get("log") else None
        found[target["id"]] = {
            "wall": float(target["duration_s"]),
            "platforms": step_seconds(log) if log and log.is_file() else {},
        }
    return found


def copy_project(scratch: Path, name: str, baseline: str | None, concurrency: int | None) -> Path:
    project = scratch / name
    shutil.copytree(REPO, project, ignore=shutil.ignore_patterns(".venv", ".factory", ".git", "*.egg-info"))
    if baseline is not None:  # the baseline's templates, rendered by today's factory
        shutil.rmtree(project / "templates")
        (project / "templates").mkdir()
        names = subprocess.run(
            ["git", "-C", str(REPO), "ls-tree", "--name-only", baseline, "templates/"],
            capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
        for path in names:
            text = subprocess.run(
                ["git", "-C", str(REPO), "show", f"{baseline}:{path}"], capture_output=True, check=True
            )
            (project / path).write_bytes(text.stdout)
    build = f"build: {{concurrency: {concurrency}}}\n" if concurrency else ""
    (project / "factory.yaml").write_text(
        f"registry: {{namespace: factory-bench-{name}, staging_namespace: factory-bench-{name}-staging}}\n{build}"
    )
    factory(project, "render", "--no-lint")
    return project


def prune_cache_mounts() -> None:
    docker = shutil.which("docker", path=f"/opt/factory-engine/bin:{os.environ.get('PATH', '')}") or "docker"
    subprocess.run([docker, "buildx", "prune", "--force", "--filter", "type=exec.cachemount"], check=True,
                   capture_output=True)  # fmt: skip


def show(runs: dict[str, dict[str, dict[str, object]]]) -> None:
    names = list(runs)
    targets = list(runs[names[-1]])
    header = "".join(f"{n + ' s':>12}" for n in names)
    ratio_head = f"{'x faster':>9}" if len(names) == 2 else ""
    print(f"{'target':<22}{header}{ratio_head}   busy s per platform (amd64 / arm64, arm64/amd64) per run")
    totals = dict.fromkeys(names, 0.0)
    for target in targets:
        row = f"{target:<22}"
        cells = []
        for name in names:
            found = runs[name].get(target)
            wall = float(found["wall"]) if found else float("nan")  # type: ignore[arg-type]
            totals[name] += 0 if found is None else wall
            row += f"{wall:>12.0f}"
            platforms: dict[str, float] = found["platforms"] if found else {}  # type: ignore[assignment]
            amd, arm = platforms.get("linux/amd64", 0.0), platforms.get("linux/arm64", 0.0)
            cells.append(f"{name}: {amd:.0f} / {arm:.0f}, {arm / amd if amd else float('nan'):.1f}x")
        if len(names) == 2:
            before, after = (runs[n].get(target) for n in names)
            speed = float(before["wall"]) / max(float(after["wall"]), 1e-9) if before and after else float("nan")  # type: ignore[arg-type]
            row += f"{speed:>9.1f}"
        print(f"{row}   {'; '.join(cells)}")
    print("sum of per-target wall times (targets overlap when built in parallel):", end="")
    print("".join(f"  {n} {totals[n]:.0f} s" for n in names))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", nargs="*", default=[], help="target ids or stacks (default: the whole catalogue)")
    parser.add_argument("--baseline", default=BASELINE, help=f"revision whose templates are the baseline ({BASELINE})")
    parser.add_argument("--current-only", action="store_true", help="skip the baseline run")
    parser.add_argument("--record", type=Path, help="only analyse this build record (no builds)")
    args = parser.parse_args()
    if args.record:
        show({"record": analyse(json.loads(args.record.read_text()))})
        return
    scratch = Path(tempfile.mkdtemp(prefix="factory-cold-bench-"))
    runs: dict[str, dict[str, dict[str, object]]] = {}
    wall: dict[str, float] = {}
    variants = (
        [("current", None, None)] if args.current_only else [("before", args.baseline, 1), ("current", None, None)]
    )
    for name, baseline, concurrency in variants:
        project = copy_project(scratch, name, baseline, concurrency)
        if name == "current":
            prune_cache_mounts()
        record = factory(project, "build", *args.targets, "--no-cache")
        runs[name] = analyse(record)
        wall[name] = float(record["duration_s"])  # type: ignore[arg-type]
    show(runs)
    print("whole build, wall:", "  ".join(f"{n} {s:.0f} s" for n, s in wall.items()), end="")
    if len(wall) == 2:
        print(f"  ({wall['before'] / max(wall['current'], 1e-9):.2f}x faster)")
    else:
        print()
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
