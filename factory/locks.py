"""One exclusive file lock, waited for with a message and given up on with a clear error.

`factory engine up/down` and `factory publish` each allow one run at a time
(per engine instance, per state directory); both wait here.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from factory.errors import EnvironmentProblem


@contextlib.contextmanager
def exclusive(path: Path, timeout: float, waiting: str, gave_up: str, say: Callable[[str], None]) -> Iterator[None]:
    """Hold an flock on `path`; say `waiting` once if another holder makes us wait; after `timeout` seconds
    raise EnvironmentProblem(`gave_up`). Released when the block ends (or the process dies)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        deadline = time.monotonic() + timeout
        told = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            if not told:
                say(waiting)
                told = True
            if time.monotonic() > deadline:
                raise EnvironmentProblem(gave_up)
            time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
