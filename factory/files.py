"""Reading a file that may come from an untrusted pull request or a shared state directory.

Only regular files (or links to them) are read: a FIFO, socket or device would
block the reader or feed it without end. The check is made on the open
descriptor (opened non-blocking, so opening a FIFO returns at once), so a path
swapped for a FIFO after an earlier check still fails cleanly; a file over the
size limit is not read at all. Callers turn NotRegular and OSError into their
own error (a usage error for the lint's paths, an environment problem for a
build record).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFDIR: "a directory",
}


class NotRegular(Exception):
    """The path is (a link to) something other than a regular file; `kind` says what ("a FIFO")."""

    def __init__(self, path: Path, mode: int) -> None:
        self.path = path
        self.kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
        super().__init__(f"{path}: {self.kind}, not a regular file")


def require_regular(path: Path) -> None:
    """Raise NotRegular unless `path` is (a link to) a regular file, OSError when it cannot be looked at."""
    mode = path.stat().st_mode
    if not stat.S_ISREG(mode):
        raise NotRegular(path, mode)


def read_regular(path: Path, limit: int) -> bytes | int:
    """The bytes of the regular file at `path`, or its size when that is over `limit` (then nothing is read).

    Raises NotRegular for anything but (a link to) a regular file, OSError when it cannot be opened.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        require_regular(path)  # a socket cannot be opened at all: say what it is
        raise
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegular(path, info.st_mode)
        if info.st_size > limit:
            return info.st_size
        data = file.read(limit + 1)  # a file growing while it is read is still cut at the limit
    return len(data) if len(data) > limit else data
