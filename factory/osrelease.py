"""/etc/os-release read in one place (the engine's host detection and the apt sources need it)."""

from __future__ import annotations

from pathlib import Path

OS_RELEASE = Path("/etc/os-release")


def read(path: Path = OS_RELEASE) -> dict[str, str]:
    """KEY=value pairs of an os-release file, quotes removed; {} when it cannot be read."""
    values: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return values
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.lstrip().startswith("#"):
            values[key.strip()] = value.strip().strip("\"'")
    return values
