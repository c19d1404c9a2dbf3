"""Rendering benchmark: the real catalogue and a synthetic 500-target one,
in one process and as a fresh `factory` process. Prints figures; asserts nothing.

Baseline for the fresh-process figures: a bare interpreter start in the same
script, so the ratio shows what the factory adds on top of Python itself.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from timing import timed  # noqa: E402  (bench/ is sys.path[0] when run as a script)

from factory import render  # noqa: E402
from factory.project import Project  # noqa: E402

FACTORY = Path(sys.executable).parent / "factory"
SYNTHETIC_STACKS = 50  # x 5 versions x 2 variants = 500 targets


def synthetic_project(directory: Path) -> Path:
    """A catalogue of SYNTHETIC_STACKS stacks, each 5 versions x (runtime, build)."""
    root = directory / "synthetic"
    (root / "stacks").mkdir(parents=True)
    shutil.copytree(REPO / "templates", root / "templates")
    shutil.copy(REPO / "stacks" / "os.yaml", root / "stacks" / "os.yaml")
    shutil.copy(REPO / "stacks" / "_defaults.yaml", root / "stacks" / "_defaults.yaml")
    for n in range(SYNTHETIC_STACKS):
        versions = "\n".join(f'  - version: "{v}.0"\n    tags: ["{v}.0", "{v}"]' for v in range(1, 6))
        (root / "stacks" / f"lang{n:03d}.yaml").write_text(
            f"""description: synthetic stack {n}
env: {{LANG_HOME: /opt/lang{n}}}
variants:
  runtime:
    install:
      - method: os-packages
        packages: [ca-certificates, libssl3t64, zlib1g]
      - method: download
        name: tool{n}
        url: {{amd64: "http://127.0.0.1:1/t-amd64", arm64: "http://127.0.0.1:1/t-arm64"}}
        sha256: {{amd64: "{"a" * 64}", arm64: "{"b" * 64}"}}
        dest: /usr/local/bin/tool{n}
    verify: [tool{n} --version]
  build:
    from: runtime
    install:
      - method: os-packages
        packages: [build-essential, pkg-config]
versions:
{versions}
""",
            encoding="utf-8",
        )
    return root


def in_process(root: Path) -> tuple[int, list[float]]:
    project = Project(root)

    def once() -> int:
        catalogue = project.load()
        return len(render.Renderer(project.templates, catalogue).render_all())

    count = once() // 2  # Dockerfile + .dockerignore per image
    return count, timed(once, 5)


def fresh_process(root: Path, args: list[str]) -> list[float]:
    return timed(lambda: subprocess.run([str(FACTORY), "--root", str(root), *args], check=True, capture_output=True), 5)


def row(label: str, images: int, times: list[float]) -> None:
    best, median = min(times), statistics.median(times)
    print(f"{label:<44} {images:>6} {best * 1000:>9.1f} {median * 1000:>9.1f} {median / images * 1000:>10.3f}")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        synthetic = synthetic_project(Path(tmp))
        baseline = timed(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), 5)
        imports = timed(lambda: subprocess.run([sys.executable, "-c", "import factory.cli"], check=True), 5)
        print(f"{'':<44} {'images':>6} {'best ms':>9} {'median ms':>9} {'ms/image':>10}")
        n, t = in_process(REPO)
        row("catalogue, in process (load+render)", n, t)
        fresh = fresh_process(REPO, ["render", "--check"])
        row("catalogue, fresh process (render --check)", n, fresh)
        n_syn, t_syn = in_process(synthetic)
        row("synthetic, in process (load+render)", n_syn, t_syn)
        fresh_syn = fresh_process(synthetic, ["render", "--no-lint"])  # rendering alone; lint_bench times the lint
        row("synthetic, fresh process (render --no-lint)", n_syn, fresh_syn)
        print()
        print(f"baseline: bare interpreter start   {statistics.median(baseline) * 1000:8.1f} ms")
        print(f"          `import factory.cli`     {statistics.median(imports) * 1000:8.1f} ms")
        ratio = statistics.median(fresh) / statistics.median(baseline)
        print(f"catalogue fresh render / bare interpreter start: {ratio:.1f}x")
        ratio_syn = statistics.median(fresh_syn) / statistics.median(baseline)
        print(f"synthetic fresh render / bare interpreter start: {ratio_syn:.1f}x")
        goal = "met" if statistics.median(fresh) < 1.0 else "NOT met"
        print(f"goal (whole catalogue, process start included, well under 1 s): {goal}")


if __name__ == "__main__":
    main()
