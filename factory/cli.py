"""The `factory` command: the only place that prints or exits.

Exit codes (also in README.md): 0 ok, 1 check failed (drift), 2 usage,
3 invalid definitions, 4 render failed, 5 environment, 6 lint findings at or
above the failure threshold, 70 internal error.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from factory import __version__
from factory.errors import DefinitionError, ExitCode, FactoryError
from factory.project import Project

if TYPE_CHECKING:  # the lint modules are imported lazily: `validate` and `list` stay fast
    from factory.lint.engine import Report
    from factory.lint.ignores import IgnoreFile
    from factory.lint.model import Severity
    from factory.lint.policy import Policy

F = TypeVar("F", bound=Callable[..., Any])
LINT_TOOLS = ("hadolint", "shellcheck", "trivy")

OUTPUT = click.option(
    "--output",
    "-o",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format; json is stable and meant for scripts and CI.",
)

FAILURE_THRESHOLD = click.option(
    "--failure-threshold",
    type=click.Choice(["error", "warning", "info", "style"]),
    default="warning",
    show_default=True,
    help="Exit 6 when a lint finding is at or above this severity (error > warning > info > style).",
)


def _errors_to_exit_codes(func: F) -> F:
    """The error boundary: FactoryError -> its message and exit code, no traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except FactoryError as exc:
            output = click.get_current_context().params.get("output", "text")
            if output == "json":
                click.echo(json.dumps(_error_json(exc), indent=2))
            else:
                click.echo(
                    click.style("error: ", fg="red", bold=True) + exc.show().replace("\n", "\nerror: "), err=True
                )
            sys.exit(int(exc.exit_code))
        except (click.ClickException, click.exceptions.Exit, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:  # a bug: say so plainly, with the traceback only on request
            if os.environ.get("FACTORY_DEBUG"):
                raise
            click.echo(f"internal error: {type(exc).__name__}: {exc} (set FACTORY_DEBUG=1 for a traceback)", err=True)
            sys.exit(int(ExitCode.INTERNAL))

    return wrapper  # type: ignore[return-value]


def _error_json(exc: FactoryError) -> dict[str, Any]:
    result: dict[str, Any] = {"ok": False, "exit_code": int(exc.exit_code), "error": type(exc).__name__}
    if isinstance(exc, DefinitionError):
        result["problems"] = [
            {"file": p.file, "line": p.line, "field": p.field, "message": p.message} for p in exc.problems
        ]
    else:
        result["message"] = exc.show()
    return result


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="factory")
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Project directory (default: nearest directory with stacks/, or $FACTORY_ROOT).",
)
@click.pass_context
def main(ctx: click.Context, root: Path | None) -> None:
    """Base-image factory: stack definitions in, linted multi-arch base images out.

    \b
    Exit codes:
      0  success
      1  a check found a difference (render --check: rendered/ is stale)
      2  usage error
      3  invalid definitions (stacks/*.yaml, pins/images.yaml)
      4  a template failed to render (rendered/ left untouched)
      5  a required tool or service is missing
      6  lint findings at or above the failure threshold
      7  a build failed (independent targets still finished)
      70 internal error (a bug: please report it)
    """
    ctx.obj = root


def _project(ctx: click.Context) -> Project:
    root = ctx.find_root().obj
    return Project(root.resolve()) if root is not None else Project.find()


@main.command()
@OUTPUT
@click.pass_context
@_errors_to_exit_codes
def validate(ctx: click.Context, output: str) -> None:
    """Validate stacks/*.yaml and pins; report every problem as file:line: field: message."""
    project = _project(ctx)
    cat = project.load()
    stacks = sorted({t.stack for t in cat.targets})
    if output == "json":
        click.echo(json.dumps({"ok": True, "os": cat.os.id, "stacks": stacks, "targets": len(cat.targets)}, indent=2))
    else:
        click.echo(f"ok: {cat.os.id} and {len(stacks)} stacks, {len(cat.targets)} targets are valid")


@main.command(name="list")
@OUTPUT
@click.option("--stack", "stacks", multiple=True, help="Only these stacks (repeatable).")
@click.pass_context
@_errors_to_exit_codes
def list_targets(ctx: click.Context, output: str, stacks: tuple[str, ...]) -> None:
    """Print the build matrix: one row per target, in build order (usable as a CI matrix)."""
    from factory import matrix

    project = _project(ctx)
    cat = project.load()
    rows = matrix.rows(cat, stacks or None)
    if output == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(
            f"{row['id']:<28} {','.join(row['platforms']):<24} {' '.join(row['tags']):<28} rendered/{row['dockerfile']}"
        )


@main.command()
@OUTPUT
@click.option("--stack", "stacks", multiple=True, help="Only these stacks (repeatable; 'os' is the OS base).")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 with a unified diff if rendered/ is stale.")
@click.option(
    "--syntax",
    "syntax_line",
    default=None,
    metavar="IMAGE",
    help="Emit a `# syntax=IMAGE` line (off by default: it makes BuildKit pull a frontend image).",
)
@click.option("--no-lint", is_flag=True, help="Do not lint what was rendered (lint runs by default after writing).")
@FAILURE_THRESHOLD
@click.pass_context
@_errors_to_exit_codes
def render(
    ctx: click.Context,
    output: str,
    stacks: tuple[str, ...],
    check: bool,
    syntax_line: str | None,
    no_lint: bool,
    failure_threshold: str,
) -> None:
    """Render every target's Dockerfile and .dockerignore into rendered/ (atomically), then lint them.

    The lint (own rules, hadolint, shellcheck, trivy) runs on the rendered
    Dockerfiles in scope; rendered/ is written either way, and the command
    exits 6 when findings reach --failure-threshold. `--check` only compares.
    """
    from factory import render as rendering

    project = _project(ctx)
    cat = project.load()
    scope = _scope(cat, stacks)
    files = rendering.Renderer(project.templates, cat, syntax_line=syntax_line).render_all(scope)
    if check:
        difference = rendering.diff(project.rendered, files, scope)
        if output == "json":
            click.echo(json.dumps({"ok": not difference, "stale": bool(difference), "diff": difference}, indent=2))
        elif difference:
            click.echo(difference, nl=False)
            click.echo("error: rendered/ is stale: run `factory render` and commit the result", err=True)
        else:
            click.echo(f"ok: rendered/ is up to date ({len(files)} files)")
        sys.exit(int(ExitCode.CHECK_FAILED) if difference else 0)
    changed = rendering.write(project.rendered, files, scope)
    report = None
    if not no_lint:
        from factory.lint import lint_paths, policy

        dockerfiles = [project.rendered / f.path for f in files if f.path.endswith("/Dockerfile")]
        report = lint_paths(dockerfiles, policy=policy.for_catalogue(cat), ignore_file=_ignore_file(project.root, None))
    threshold = _severity(failure_threshold)
    failed = report is not None and report.failed(threshold)
    if output == "json":
        result: dict[str, Any] = {"ok": not failed, "files": len(files), "changed": changed}
        if report is not None:
            from factory.lint import report as lint_report

            result["lint"] = lint_report.as_json(report, threshold)
        click.echo(json.dumps(result, indent=2))
    else:
        for path in changed:
            click.echo(f"wrote rendered/{path}")
        click.echo(f"ok: {len(files)} files rendered, {len(changed)} changed")
        if report is not None:
            _print_lint(report, threshold)
    if failed:
        sys.exit(int(ExitCode.LINT_FAILED))


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--output",
    "-o",
    type=click.Choice(["text", "json", "sarif"]),
    default="text",
    show_default=True,
    help="text: `file:line CODE severity: message`; json: stable, for scripts; sarif: SARIF 2.1.0 for code scanning.",
)
@FAILURE_THRESHOLD
@click.option(
    "--tools",
    "tool_list",
    default=",".join(LINT_TOOLS),
    show_default=True,
    metavar="LIST",
    help="Comma-separated external linters to run beside the own rules.",
)
@click.option("--no-tools", is_flag=True, help="Own rules only (fast; no hadolint, shellcheck or trivy).")
@click.option(
    "--ignore-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Project ignore file (default: .factory-ignore.yaml in the project, or in the working directory).",
)
@click.option(
    "--allow-image",
    "allow_images",
    multiple=True,
    metavar="PATTERN",
    help="Also allow base images whose repository matches this glob (repeatable), e.g. 'registry.example/base/*'.",
)
@click.option(
    "--require-digest/--no-require-digest",
    default=True,
    show_default=True,
    help="Require base images to be pinned by digest, not only a tag.",
)
@click.pass_context
@_errors_to_exit_codes
def lint(
    ctx: click.Context,
    paths: tuple[Path, ...],
    output: str,
    failure_threshold: str,
    tool_list: str,
    no_tools: bool,
    ignore_file: Path | None,
    allow_images: tuple[str, ...],
    require_digest: bool,
) -> None:
    """Lint Dockerfiles: the own rule catalogue (FB codes) plus hadolint, shellcheck and trivy.

    PATHS are Dockerfiles or directories to search (default: every
    rendered/**/Dockerfile of the project). Base images must be the unified OS
    or another catalogue image (plus --allow-image). Findings print as
    `file:line CODE severity: message`; the exit code is 6 when one is at or
    above --failure-threshold.

    \b
    Ignores always carry a reason:
      # factory ignore=CODE[,CODE] reason    (comment above the instruction)
      .factory-ignore.yaml                   (code, path glob, reason, expires)
    """
    import dataclasses

    from factory.lint import lint_paths
    from factory.lint import report as lint_report

    selected = () if no_tools else _tools(tool_list)
    project = _optional_project(ctx, required=not paths)
    policy = _lint_policy(project, allow_images)
    policy = dataclasses.replace(policy, require_digest=require_digest)
    if not paths:
        assert project is not None
        paths = tuple(sorted(project.rendered.rglob("Dockerfile")))
    root = project.root if project is not None else None
    report = lint_paths(paths, policy=policy, tools_selected=selected, ignore_file=_ignore_file(root, ignore_file))
    threshold = _severity(failure_threshold)
    if output == "json":
        click.echo(lint_report.json_text(report, threshold), nl=False)
    elif output == "sarif":
        click.echo(lint_report.sarif_text(report), nl=False)
    else:
        _print_lint(report, threshold)
    if report.failed(threshold):
        sys.exit(int(ExitCode.LINT_FAILED))


def _severity(label: str) -> Severity:
    from factory.lint.model import Severity

    return Severity.parse(label)


def _tools(tool_list: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(n.strip() for n in tool_list.split(",") if n.strip()))
    unknown = sorted(set(names) - set(LINT_TOOLS))
    if unknown:
        raise click.BadParameter(
            f"unknown tool {', '.join(unknown)} (known: {', '.join(LINT_TOOLS)})", param_hint="--tools"
        )
    return names


def _optional_project(ctx: click.Context, *, required: bool) -> Project | None:
    """The project, when there is one; linting explicit paths needs none."""
    try:
        return _project(ctx)
    except DefinitionError:
        if required or ctx.find_root().obj is not None:
            raise
        return None


def _lint_policy(project: Project | None, allow_images: tuple[str, ...]) -> Policy:
    from factory.lint import policy

    if project is None:
        return policy.Policy(allowed_images=allow_images, allowed_source="--allow-image")
    return policy.for_catalogue(project.load(), extra_allowed=allow_images)


def _ignore_file(root: Path | None, explicit: Path | None) -> IgnoreFile | None:
    """The ignore file to apply: the explicit one, else the project's, else one in the working directory."""
    from factory.lint import ignores

    if explicit is not None:
        return ignores.load(explicit, str(explicit))
    for directory in (root, Path.cwd()):
        if directory is not None and (directory / ignores.IGNORE_FILE).is_file():
            candidate = directory / ignores.IGNORE_FILE
            return ignores.load(candidate, _shown(candidate))
    return None


def _shown(path: Path) -> str:
    from factory.lint.engine import display_name

    return display_name(path)


def _print_lint(report: Report, threshold: Severity) -> None:
    from factory.lint import report as lint_report

    click.echo(lint_report.text(report), nl=False)
    verdict = lint_report.summary(report, threshold)
    colour = "red" if report.failed(threshold) else "green"
    click.echo(click.style(verdict.split(" ", 1)[0], fg=colour) + " " + verdict.split(" ", 1)[1], err=True)


def _scope(cat: Any, stacks: tuple[str, ...]) -> list[str] | None:
    if not stacks:
        return None
    known = {t.stack for t in cat.targets} | {"os"}
    unknown = sorted(set(stacks) - known)
    if unknown:
        raise click.BadParameter(
            f"unknown stack {', '.join(unknown)} (known: {', '.join(sorted(known))})", param_hint="--stack"
        )
    return sorted(set(stacks))
