"""What the commands share: the options they take and the way they find the project and read settings."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from factory import present
from factory.errors import DefinitionError, ExitCode
from factory.project import Project

if TYPE_CHECKING:  # engine, lint and build modules load lazily: `validate` and `list` stay fast
    from factory.lint.ignores import IgnoreFile
    from factory.lint.model import Severity
    from factory.lint.runner import Report
    from factory.pipeline import Workspace

F = TypeVar("F", bound=Callable[..., Any])


LINT_TOOLS = ("hadolint", "shellcheck", "trivy")


OUTPUT = click.option(
    "--output",
    "-o",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format; json is stable and meant for scripts and CI (errors too).",
)


FAILURE_THRESHOLD = click.option(
    "--failure-threshold",
    type=click.Choice(["error", "warning", "info", "style"]),
    default="warning",
    show_default=True,
    help="Exit 6 when a lint finding is at or above this severity (error > warning > info > style).",
)


def _project(ctx: click.Context) -> Project:
    root = ctx.find_root().obj
    return Project(root.resolve()) if root is not None else Project.find()


def _workspace(ctx: click.Context) -> Workspace:
    from factory.pipeline import Workspace

    return Workspace.open(_project(ctx))


def _exit_for_lint(report: Report, threshold: Severity) -> None:
    """Exit 5 when a linter is not installed (the report is already shown: stdout stays one document), 6 when
    findings reach the threshold, else return."""
    from factory.lint import tools

    problem = tools.missing(report.findings)
    if problem is not None:
        present.error(problem, int(problem.exit_code), problem.show(), "text")
        sys.exit(int(problem.exit_code))
    if report.failed(threshold):
        sys.exit(int(ExitCode.LINT_FAILED))


def _lint_workspace(ctx: click.Context, *, explicit: bool) -> tuple[Workspace | None, bool]:
    """The project for linting, and whether its catalogue is invalid; with explicit paths an invalid or
    missing project is no obstacle (an invalid one makes the policy fail closed)."""
    try:
        project = _project(ctx)
    except DefinitionError:
        if not explicit or ctx.find_root().obj is not None:
            raise
        return None, False
    try:
        return _workspace(ctx), False
    except DefinitionError as exc:
        if not explicit:
            raise
        click.echo(
            f"warning: the catalogue of {project.root} is invalid ({len(exc.problems)} problems; see `factory"
            " validate`): base images are checked against --allow-image only, and any other is an error",
            err=True,
        )
        return None, True


def _root_or_none(ctx: click.Context) -> Path | None:
    try:
        return _project(ctx).root
    except DefinitionError:
        return None


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


def _ignore_file(root: Path | None, explicit: Path | None) -> IgnoreFile | None:
    """The ignore file to apply: the explicit one, else the project's, else one in the working directory."""
    from factory.lint import ignores
    from factory.lint.runner import display_name

    if explicit is not None:
        return ignores.load(explicit, str(explicit))
    for directory in (root, Path.cwd()):
        if directory is not None and (directory / ignores.IGNORE_FILE).is_file():
            candidate = directory / ignores.IGNORE_FILE
            return ignores.load(candidate, display_name(candidate))
    return None


def _syntax(option: str | None, workspace: Workspace) -> str | None:
    """The `# syntax=` frontend: --syntax, else factory.yaml build.syntax; validated like a reference."""
    from factory.values import KINDS

    value = option if option is not None else workspace.site.build.syntax
    if value is not None and KINDS["frontend"].problem(value) is not None:
        raise click.BadParameter(f"{value!r} is not an image reference", param_hint="--syntax")
    return value


def _bases(given: tuple[str, ...]) -> dict[str, str]:
    """--base ID=REPOSITORY@DIGEST options as a mapping (a malformed one is a usage error)."""
    found = {}
    for item in given:
        target_id, sep, pinned = item.partition("=")
        if not sep or not target_id or "@sha256:" not in pinned:
            raise click.BadParameter(f"{item!r}: expected ID=REPOSITORY@sha256:DIGEST", param_hint="--base")
        found[target_id] = pinned
    return found


ALLOW_REMOVAL = click.option(
    "--allow-removal",
    is_flag=True,
    help="Publish even when packages disappeared against the image the tag named before (else refused, exit 10).",
)


def _record_option(func: F) -> F:
    """--record FILE, shared by the commands that read a build record."""
    option = click.option(
        "--record",
        "record_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Build record to use (default: .factory/builds/latest.json, the last finished run).",
    )
    return option(func)
