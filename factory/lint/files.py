"""Reading the files a lint is given, which may come from an untrusted pull request.

factory.files reads only regular files, bounded; here its refusals become
usage errors that say what can be linted.
"""

from __future__ import annotations

from pathlib import Path

from factory import files
from factory.errors import UsageProblem


def _refuse(error: files.NotRegular) -> UsageProblem:
    return UsageProblem(f"{error}: only Dockerfiles (or links to them) can be linted")


def require_regular(path: Path) -> None:
    """Raise UsageProblem unless `path` is (a link to) a regular file; never opens it."""
    try:
        files.require_regular(path)
    except files.NotRegular as exc:
        raise _refuse(exc) from None
    except OSError as exc:
        raise UsageProblem(f"{path}: {exc.strerror or exc}") from None


def read_regular(path: Path, limit: int) -> bytes | int:
    """The bytes of the regular file at `path`, or its size when that is over `limit` (then nothing is read).

    Raises UsageProblem for anything but (a link to) a regular file, or when it cannot be opened.
    """
    try:
        return files.read_regular(path, limit)
    except files.NotRegular as exc:
        raise _refuse(exc) from None
    except OSError as exc:
        raise UsageProblem(f"{path}: {exc.strerror or exc}") from None
