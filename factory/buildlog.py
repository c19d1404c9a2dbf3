"""Reading BuildKit's plain-progress log while a build runs and after: the current step, the cache hits."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path

Progress = Callable[[str], None]

_STEP = re.compile(r"^#(\d+) \[(?:[^\]]*? )?\d+/\d+\] ")
_CACHED = re.compile(r"^#(\d+) CACHED\s*$")


class Heartbeat:
    """While a build runs, say every minute which step it is on (long emulated steps look hung otherwise)."""

    def __init__(self, what: str, log: Path, note: Progress, every: float = 60.0) -> None:
        self.what, self.log, self.note, self.every = what, log, note, every
        self.stopped = threading.Event()
        self._thread = threading.Thread(target=self.beat, daemon=True)

    def __enter__(self) -> None:
        self._thread.start()

    def __exit__(self, *_: object) -> None:
        self.stopped.set()
        self._thread.join()

    def beat(self, wait: Callable[[float], bool] | None = None) -> None:
        """Note the current step each time `wait` (default: the stop event's) returns without a stop."""
        wait = wait or self.stopped.wait
        while not wait(self.every):
            self.note(f"{self.what}: still building: {current_step(self.log)}")


def current_step(log: Path) -> str:
    """The last step BuildKit announced in a plain-progress log, e.g. `[linux/arm64 2/3] RUN <<EOT`."""
    last = "starting"
    try:
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            if _STEP.match(line):
                last = line.split(" ", 1)[1][:100]
    except OSError:
        pass
    return last


def cache_stats(log: Path) -> tuple[int, int]:
    """(build steps, steps answered from cache) counted in a plain-progress log."""
    steps: set[str] = set()
    cached: set[str] = set()
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if match := _STEP.match(line):
            steps.add(match.group(1))
        elif match := _CACHED.match(line):
            cached.add(match.group(1))
    return len(steps), len(steps & cached)
