from __future__ import annotations

from pathlib import Path

import pytest

from factory.engine import binfmt
from factory.engine.binfmt import Action, BinfmtMisc, Entry, Rule
from factory.errors import EnvironmentProblem
from tests.conftest import FIXTURES
from tests.fakes import FakeRunner, ok

ENGINE = FIXTURES / "engine"
AARCH64_MAGIC = r"\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00"
AARCH64_MASK = r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff"


def test_debian12_description_gives_the_rule_with_fix_binary() -> None:
    rule = binfmt.from_binfmts((ENGINE / "binfmts-qemu-aarch64").read_text())
    assert rule.line() == (
        f":qemu-aarch64:M::{AARCH64_MAGIC}:{AARCH64_MASK}:/usr/libexec/qemu-binfmt/aarch64-binfmt-P:PF"
    )


def test_credentials_and_a_literal_colon() -> None:
    text = "interpreter /usr/bin/q\nmagic \\x7f:E\nmask \\xff:\\xff\noffset 4\ncredentials yes\npreserve no\n"
    rule = binfmt.from_binfmts(text)
    assert rule == Rule("qemu-aarch64", "4", "\\x7f\\x3aE", "\\xff\\x3a\\xff", "/usr/bin/q", "OCF")


def test_description_without_magic_is_an_error() -> None:
    with pytest.raises(EnvironmentProblem, match="no interpreter or magic"):
        binfmt.from_binfmts("interpreter /usr/bin/q\n")


@pytest.mark.parametrize(("flags", "expected"), [("PC", "PCF"), ("FPC", "FPC"), ("", "F")])
def test_debian13_binfmt_d_line_gets_fix_binary(flags: str, expected: str) -> None:
    line = f":qemu-aarch64:M::{AARCH64_MAGIC}:{AARCH64_MASK}:/usr/bin/qemu-aarch64:{flags}"
    text = f"# comment\n:qemu-arm:M::x:y:/usr/bin/qemu-arm:F\n{line}\n"
    rule = binfmt.from_binfmt_d(text)
    assert rule.interpreter == "/usr/bin/qemu-aarch64" and rule.flags == expected
    assert rule.line() == line.rsplit(":", 1)[0] + ":" + expected


def test_packaged_rule_prefers_the_debian12_file(tmp_path: Path) -> None:
    conf = tmp_path / "qemu-aarch64.conf"
    conf.write_text(f":qemu-aarch64:M::{AARCH64_MAGIC}:{AARCH64_MASK}:/usr/bin/qemu-aarch64:P\n")
    assert binfmt.packaged_rule(tmp_path / "absent", (conf,)).interpreter == "/usr/bin/qemu-aarch64"
    assert binfmt.packaged_rule(ENGINE / "binfmts-qemu-aarch64", (conf,)).flags == "PF"
    with pytest.raises(EnvironmentProblem, match=r"is qemu-user-static .* installed"):
        binfmt.packaged_rule(tmp_path / "absent", (tmp_path / "absent.conf",))


def test_kernel_entry_parsing() -> None:
    entry = Entry.parse((ENGINE / "proc-qemu-aarch64").read_text())
    assert entry == Entry(True, "/usr/libexec/qemu-binfmt/aarch64-binfmt-P", "PF")
    assert entry.state == "ok"
    assert Entry.parse("enabled\ninterpreter /q\nflags: P\n").state == "no-F-flag"
    assert Entry.parse("disabled\ninterpreter /q\nflags: PF\n").state == "disabled"


RULE = Rule("qemu-aarch64", "", "m", "k", "/usr/libexec/qemu-binfmt/aarch64-binfmt-P", "PF")


@pytest.mark.parametrize(
    ("entry", "action"),
    [
        (None, Action.REGISTER),
        (Entry(True, RULE.interpreter, "PF"), Action.KEEP),
        (Entry(True, RULE.interpreter, "P"), Action.REPLACE),  # Debian's own registration: no F
        (Entry(False, RULE.interpreter, "PF"), Action.REPLACE),
        (Entry(True, "/usr/bin/qemu-aarch64-static", "F"), Action.REPLACE),
    ],
)
def test_decision(entry: Entry | None, action: Action) -> None:
    assert binfmt.decide(entry, RULE) is action


def test_register_and_unregister_write_the_kernel_files(tmp_path: Path) -> None:
    (tmp_path / "register").write_text("")
    misc = BinfmtMisc(tmp_path, FakeRunner())
    assert misc.mounted and misc.entry() is None
    misc.register(RULE)
    assert (tmp_path / "register").read_text() == RULE.line()
    assert not misc.unregister()
    (tmp_path / "qemu-aarch64").write_text("enabled\n")
    assert misc.unregister() and (tmp_path / "qemu-aarch64").read_text() == "-1"


def test_mounts_binfmt_misc_when_needed(tmp_path: Path) -> None:
    commands = FakeRunner()
    assert BinfmtMisc(tmp_path, commands).ensure_mounted()
    assert commands.calls == [("mount", "-t", "binfmt_misc", "binfmt_misc", str(tmp_path))]


def test_unmountable_binfmt_misc_is_an_environment_problem(tmp_path: Path) -> None:
    commands = FakeRunner([(["mount"], ok(stderr="mount: permission denied", returncode=32))])
    with pytest.raises(EnvironmentProblem, match=r"cannot be mounted \(mount: permission denied\)") as info:
        BinfmtMisc(tmp_path, commands).ensure_mounted()
    assert info.value.exit_code == 5
    with pytest.raises(EnvironmentProblem, match="this kernel has no binfmt_misc"):
        BinfmtMisc(tmp_path / "absent", commands).ensure_mounted()
