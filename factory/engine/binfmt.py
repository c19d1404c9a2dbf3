"""qemu arm64 emulation through binfmt_misc, with the F (fix-binary) flag.

Without F the kernel opens the interpreter lazily, by path, inside each
container, where /usr/libexec/qemu-binfmt does not exist: every foreign binary
then fails. Debian's packages describe the rule; this module adds F, and
replaces a registration that lacks it or names another interpreter.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from pathlib import Path

from factory.errors import EnvironmentProblem
from factory.process import Runner

NAME = "qemu-aarch64"
BINFMTS = Path("/usr/share/binfmts") / NAME  # Debian 12: binfmt-support's format
BINFMT_D = (Path("/usr/share/qemu/binfmt.d") / f"{NAME}.conf", Path("/usr/lib/binfmt.d") / f"{NAME}.conf")


@dataclass(frozen=True)
class Rule:
    """One binfmt_misc registration (the fields of a `register` line)."""

    name: str
    offset: str
    magic: str
    mask: str
    interpreter: str
    flags: str

    def line(self) -> str:
        """`:name:M:offset:magic:mask:interpreter:flags`, as written to binfmt_misc/register."""
        return f":{self.name}:M:{self.offset}:{self.magic}:{self.mask}:{self.interpreter}:{self.flags}"


def with_fix_binary(flags: str) -> str:
    return flags if "F" in flags else flags + "F"


def from_binfmts(text: str, name: str = NAME) -> Rule:
    """A rule from binfmt-support's description (`key value` lines), with F added."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        if key:
            fields[key] = value.strip()
    if not fields.get("interpreter") or not fields.get("magic"):
        raise EnvironmentProblem(f"binfmt description for {name} has no interpreter or magic")
    flags = ("P" if fields.get("preserve") == "yes" else "") + ("OC" if fields.get("credentials") == "yes" else "")
    offset = fields.get("offset", "")
    return Rule(
        name=name,
        offset="" if offset == "0" else offset,
        # A literal colon would end the field early; the kernel decodes \x escapes.
        magic=fields["magic"].replace(":", "\\x3a"),
        mask=fields.get("mask", "").replace(":", "\\x3a"),
        interpreter=fields["interpreter"],
        flags=with_fix_binary(flags),
    )


def from_binfmt_d(text: str, name: str = NAME) -> Rule:
    """A rule from a systemd binfmt.d line (`:name:M:offset:magic:mask:interpreter:flags`), with F added."""
    for line in text.splitlines():
        parts = line.strip().split(":")
        if len(parts) >= 8 and parts[0] == "" and parts[1] == name:
            return Rule(name, parts[3], parts[4], parts[5], parts[6], with_fix_binary(parts[7]))
    raise EnvironmentProblem(f"no {name} line in the binfmt.d description")


def packaged_rule(binfmts: Path = BINFMTS, binfmt_d: tuple[Path, ...] = BINFMT_D) -> Rule:
    """The rule as the installed qemu package describes it (Debian 12 or 13 layout), with F."""
    if binfmts.is_file():
        return from_binfmts(binfmts.read_text())
    for conf in binfmt_d:
        if conf.is_file():
            return from_binfmt_d(conf.read_text())
    raise EnvironmentProblem(
        f"no {NAME} binfmt description ({binfmts} or {binfmt_d[0]}): is qemu-user-static (Debian 12) "
        "or qemu-user (Debian 13) installed?"
    )


@dataclass(frozen=True)
class Entry:
    """What the kernel has registered under binfmt_misc/NAME."""

    enabled: bool
    interpreter: str
    flags: str

    @classmethod
    def parse(cls, text: str) -> Entry:
        lines = text.splitlines()
        values: dict[str, str] = {}
        for line in lines[1:]:  # "interpreter /path", "flags: PF", "offset 0", ...
            key, _, value = line.partition(" ")
            values[key.rstrip(":")] = value
        return cls(
            enabled=bool(lines) and lines[0].strip() == "enabled",
            interpreter=values.get("interpreter", "").strip(),
            flags=values.get("flags", "").strip(),
        )

    @property
    def state(self) -> str:
        if not self.enabled:
            return "disabled"
        return "ok" if "F" in self.flags else "no-F-flag"


class Action(enum.Enum):
    KEEP = "keep"
    REGISTER = "register"
    REPLACE = "replace"


def decide(entry: Entry | None, rule: Rule) -> Action:
    """Keep a registration that is enabled, has F and the same interpreter; else (re)register."""
    if entry is None:
        return Action.REGISTER
    if entry.state == "ok" and entry.interpreter == rule.interpreter:
        return Action.KEEP
    return Action.REPLACE


class BinfmtMisc:
    """The kernel's binfmt_misc directory (mounted on demand)."""

    def __init__(self, directory: Path, commands: Runner) -> None:
        self.directory = directory
        self.commands = commands

    @property
    def mounted(self) -> bool:
        return (self.directory / "register").exists()

    def ensure_mounted(self) -> bool:
        """Mount binfmt_misc if needed (True if this call mounted it); fail clearly where it cannot be."""
        if self.mounted:
            return False
        if not self.directory.is_dir():
            raise EnvironmentProblem(
                f"{self.directory} does not exist: this kernel has no binfmt_misc, so linux/arm64 cannot be emulated"
            )
        result = self.commands.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(self.directory)], check=False)
        if not result.ok:
            raise EnvironmentProblem(
                f"binfmt_misc is not mounted and cannot be mounted ({result.output.strip()}); arm64 emulation needs "
                f"a host, or a privileged container, that may mount binfmt_misc on {self.directory}"
            )
        return True

    def check_writable(self) -> None:
        register = self.directory / "register"
        if not os.access(register, os.W_OK):
            raise EnvironmentProblem(f"{register} is not writable (read-only /proc?): cannot register {NAME}")

    def entry(self, name: str = NAME) -> Entry | None:
        try:
            return Entry.parse((self.directory / name).read_text())
        except FileNotFoundError:
            return None

    def globally_enabled(self) -> bool:
        try:
            return (self.directory / "status").read_text().strip() == "enabled"
        except OSError:
            return False

    def enable_globally(self) -> None:
        (self.directory / "status").write_text("1")

    def register(self, rule: Rule) -> None:
        try:
            (self.directory / "register").write_text(rule.line())
        except OSError as exc:
            raise EnvironmentProblem(f"the kernel refused the binfmt rule {rule.line()} ({exc.strerror})") from exc

    def unregister(self, name: str = NAME) -> bool:
        path = self.directory / name
        if not path.exists():
            return False
        path.write_text("-1")
        return True
