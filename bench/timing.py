"""Timing helper shared by the benchmarks (they run as scripts, so this is imported from bench/)."""

from __future__ import annotations

import time
from collections.abc import Callable


def timed(func: Callable[[], object], repeat: int) -> list[float]:
    """Wall-clock seconds of `repeat` calls of `func`."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return times
