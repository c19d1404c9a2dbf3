"""Reading the files a lint is given, which may come from an untrusted pull request.

Only regular files (or links to them) are read: a FIFO, socket or device
given as a path would block the lint or feed it without end. The check is
made on the open descriptor (opened non-blocking, so opening a FIFO returns
at once), so a path swapped for a FIFO after an earlier check still fails
cleanly; a file over the size limit is not read at all.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from factory.errors import UsageProblem

_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFDIR: "a directory",
}


def _refuse(path: Path, mode: int) -> UsageProblem:
    kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
    return UsageProblem(f"{path}: {kind}, not a regular file: only Dockerfiles (or links to them) can be linted")


def require_regular(path: Path) -> None:
    """Raise UsageProblem unless `path` is (a link to) a regular file; never opens it."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise UsageProblem(f"{path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        raise _refuse(path, mode)


def read_regular(path: Path, limit: int) -> bytes | int:
    """The bytes of the regular file at `path`, or its size when that is over `limit` (then nothing is read).

    Raises UsageProblem for anything but (a link to) a regular file, or when it cannot be opened.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        require_regular(path)  # a socket cannot be opened at all: say what it is
        raise UsageProblem(f"{path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _refuse(path, info.st_mode)
        if info.st_size > limit:
            return info.st_size
        data = file.read(limit + 1)  # a file growing while it is read is still cut at the limit
    return len(data) if len(data) > limit else data
