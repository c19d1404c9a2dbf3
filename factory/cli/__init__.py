"""The `factory` command: argument parsing and the one error boundary; nothing else.

The commands live by what they are about (catalogue, engine, images,
release; what they share in common), and are registered on `main` here and
nowhere else. What each command does lives in factory.pipeline (the stages),
what it shows in factory.present. FactoryGroup.main is the only place that turns errors into
exit codes: every FactoryError, every click usage error and every bug, in the
command's output format (`--output json` gets a JSON document even for a
misspelt option; `lint --output sarif` gets a SARIF log).

Exit codes (also in README.md): 0 ok, 1 check failed (drift), 2 usage,
3 invalid definitions, 4 render failed, 5 environment, 6 lint findings at or
above the failure threshold, 7 build failed, 8 verification failed, 9 the
security gate failed, 10 not published, 70 internal error.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import click

from factory import __version__, present
from factory.cli import catalogue, engine, images, release
from factory.errors import ExitCode, FactoryError

EXIT_CODES_HELP = """
\b
Exit codes:
  0  success
  1  a check found a difference (render --check: rendered/ is stale; lock --check)
  2  usage error
  3  invalid definitions (stacks/*.yaml, pins/images.yaml, factory.yaml)
  4  a template failed to render (rendered/ left untouched)
  5  a required tool or service is missing
  6  lint findings at or above the failure threshold
  7  a build failed (independent targets still finished)
  8  a built image failed verification
  9  the security gate failed (a fixable finding at the threshold, a secret)
  10 a selected target was not published (it did not pass every stage)
  70 internal error (a bug: please report it)
"""


class FactoryGroup(click.Group):
    """The command group whose `main` is the error boundary of every command."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> NoReturn:
        argv = list(sys.argv[1:] if args is None else args)
        output = _output_format(argv)
        try:
            returned = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        except FactoryError as exc:
            present.error(exc, int(exc.exit_code), exc.show(), output)
            sys.exit(int(exc.exit_code))
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            code = exc.exit_code if exc.exit_code != 1 else int(ExitCode.USAGE)
            if output in ("json", "sarif"):
                present.error(exc, code, exc.format_message(), output)
            else:
                exc.show()
            sys.exit(code)
        except click.exceptions.Abort:
            present.error(None, 130, "interrupted", output)
            sys.exit(130)
        except KeyboardInterrupt:
            present.error(None, 130, "interrupted", output)
            sys.exit(130)
        except SystemExit:
            raise
        except Exception as exc:  # a bug: say so plainly, with the traceback only on request
            if os.environ.get("FACTORY_DEBUG"):
                raise
            present.error(None, int(ExitCode.INTERNAL), present.internal(exc), output)
            sys.exit(int(ExitCode.INTERNAL))
        sys.exit(returned if isinstance(returned, int) else 0)  # click returns the code of --help, --version


def _output_format(argv: list[str]) -> str:
    """The --output/-o value of a command line, read before click parses it (for errors click raises)."""
    for index, word in enumerate(argv):
        if word in ("--output", "-o") and index + 1 < len(argv):
            return argv[index + 1]
        if word.startswith("--output="):
            return word.split("=", 1)[1]
        if word.startswith("-o") and len(word) > 2:
            return word[2:]
    return "text"


@click.group(cls=FactoryGroup, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES_HELP)
@click.version_option(__version__, prog_name="factory")
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Project directory (default: nearest directory with stacks/, or $FACTORY_ROOT).",
)
@click.pass_context
def main(ctx: click.Context, root: Path | None) -> None:
    """Base-image factory: stack definitions in, linted, built and verified multi-arch base images out."""
    ctx.obj = root


# The commands, registered here and only here (in the order `factory --help` lists them).
main.add_command(catalogue.validate)
main.add_command(catalogue.list_targets)
main.add_command(catalogue.render)
main.add_command(catalogue.lock)
main.add_command(catalogue.lint)
main.add_command(catalogue.preview)
main.add_command(engine.engine_group)
main.add_command(images.os_group)
main.add_command(images.build)
main.add_command(images.verify)
main.add_command(images.scan)
main.add_command(images.plan)
main.add_command(images.status)
main.add_command(images.pin)
main.add_command(release.publish)
main.add_command(release.prune)
main.add_command(release.changelog)
main.add_command(release.keys_group)
main.add_command(release.report)
main.add_command(release.site_pages)
main.add_command(release.run_main_job)
