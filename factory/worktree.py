"""Another commit of the project's own git repository, checked out beside it for as long as it is needed.

The PR preview renders the base ref from git itself, never from the base's
committed rendered/ (which may be stale): `git worktree add --detach` of that
commit into a temporary directory, removed again when the block ends, on
failure too. The checkout leaves the working tree, the index and HEAD alone.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from factory.errors import UsageProblem
from factory.process import Runner

GIT_TIMEOUT = 300.0


@dataclass(frozen=True)
class Checkout:
    """A temporary checkout of one commit: where it is, which commit, and where the project sits in it."""

    root: Path  # the top of the checkout
    commit: str
    project: Path  # the directory that corresponds to the project directory it was made for


@contextlib.contextmanager
def checkout(directory: Path, ref: str, runner: Runner | None = None) -> Iterator[Checkout]:
    """Check out `ref` of the repository holding `directory` into a temporary worktree, for the block's length.

    A ref that names no commit (or a directory outside any git checkout) is a
    usage error naming it; the worktree and its temporary directory are
    removed when the block ends, however it ends.
    """
    runner = runner or Runner()
    if not ref or ref.startswith("-"):
        raise UsageProblem(f"--base {ref!r}: not a git ref")
    top = _git(runner, directory, "rev-parse", "--show-toplevel")
    if top is None:
        raise UsageProblem(f"--base {ref}: {directory} is not in a git checkout")
    commit = _git(runner, directory, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if commit is None:
        raise UsageProblem(f"--base {ref}: no such commit in {top} (fetch it first, e.g. git fetch origin)")
    top_dir = Path(top).resolve()
    parent = Path(tempfile.mkdtemp(prefix="factory-base-"))
    place = parent / "checkout"
    try:
        runner.run(["git", "-C", str(top_dir), "worktree", "add", "--detach", "--quiet", str(place), commit])
        yield Checkout(place, commit, place / directory.resolve().relative_to(top_dir))
    finally:
        runner.run(["git", "-C", str(top_dir), "worktree", "remove", "--force", str(place)], check=False)
        shutil.rmtree(parent, ignore_errors=True)
        runner.run(["git", "-C", str(top_dir), "worktree", "prune"], check=False)


def _git(runner: Runner, directory: Path, *args: str) -> str | None:
    """The output of a read-only git command in `directory` (None when git says no)."""
    done = runner.run(["git", "-C", str(directory), *args], check=False, timeout=GIT_TIMEOUT)
    return done.stdout.strip() if done.ok and done.stdout.strip() else None
