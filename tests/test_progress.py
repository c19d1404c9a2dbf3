"""Progress board: sink choice, plain lines, the live table."""

from __future__ import annotations

import io
import re
import threading
import time

import pytest
from rich.console import Console

from factory import progress
from factory.progress import (
    LOOKS,
    Board,
    LiveSink,
    Phase,
    PlainSink,
    Row,
    Snapshot,
    open_board,
    wants_live,
)

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
AMD, ARM = "linux/amd64", "linux/arm64"
PYTHON = "python:3.13-runtime"


class Terminal(io.StringIO):
    """A stream that says it is a TTY."""

    def isatty(self) -> bool:
        super().isatty()  # a closed stream raises, as a real one does
        return True


class FakeClock:
    """A clock that only moves when told."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Recorder:
    """A sink that keeps every change and note it is given."""

    def __init__(self) -> None:
        self.changes: list[Row] = []
        self.notes: list[str] = []

    def changed(self, row: Row, board: Snapshot) -> None:
        self.changes.append(row)

    def noted(self, message: str, board: Snapshot) -> None:
        self.notes.append(message)


# -- which sink --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "live"),
    [
        ({"TERM": "xterm-256color"}, True),
        ({}, True),
        ({"TERM": "xterm", "CI": "true"}, False),
        ({"TERM": "xterm", "CI": "1"}, False),
        ({"TERM": "xterm", "GITHUB_ACTIONS": "true"}, False),
        ({"TERM": "xterm", "GITLAB_CI": "true"}, False),
        ({"TERM": "xterm", "JENKINS_URL": "https://ci.example.com/"}, False),
        ({"TERM": "xterm", "CI": "false"}, True),  # said explicitly: not CI
        ({"TERM": "xterm", "CI": ""}, True),
        ({"TERM": "xterm", "NO_COLOR": "1"}, False),
        ({"TERM": "xterm", "NO_COLOR": ""}, True),  # the NO_COLOR convention: set and not empty
        ({"TERM": "dumb"}, False),
        ({"TERM": "DUMB"}, False),
    ],
)
def test_live_only_on_a_terminal_nobody_asked_to_keep_plain(environ: dict[str, str], live: bool) -> None:
    assert wants_live(Terminal(), environ) is live


def test_plain_when_not_a_tty_or_closed() -> None:
    assert wants_live(io.StringIO(), {"TERM": "xterm"}) is False
    closed = Terminal()
    closed.close()
    assert wants_live(closed, {"TERM": "xterm"}) is False


def test_open_board_prints_plain_lines_off_a_terminal() -> None:
    stream = io.StringIO()
    clock = FakeClock()
    with open_board(stream, {"TERM": "xterm"}, clock) as board:
        board.add(PYTHON, AMD)
        clock.advance(65)
        board.update(PYTHON, AMD, Phase.BUILDING, "RUN <<EOT (set -eux...)", step="2/5")
    assert stream.getvalue() == f"[  1:05] {PYTHON} {AMD}: building [2/5] RUN <<EOT (set -eux...)\n"


def test_open_board_draws_a_live_table_on_a_terminal() -> None:
    stream = Terminal()
    with open_board(stream, {"TERM": "xterm-256color", "COLUMNS": "120"}) as board:
        board.add(PYTHON, ARM)
        board.update(PYTHON, ARM, Phase.BUILDING, "RUN <<EOT (set -eux...)", step="2/5")
    out = stream.getvalue()
    assert "\x1b[" in out  # drawn, with colours and cursor moves
    text = ANSI.sub("", out)
    assert "1 image: 1 building" in text
    assert re.search(r"python:3\.13-runtime\s+linux/arm64\s+building\s+2/5\s+RUN <<EOT", text)
    assert "[  0:00]" not in text


def test_no_color_means_plain_lines_even_on_a_terminal() -> None:
    stream = Terminal()
    with open_board(stream, {"TERM": "xterm-256color", "NO_COLOR": "1"}) as board:
        board.update(PYTHON, ARM, Phase.SKIPPED, "base os:trixie failed")
    assert stream.getvalue() == f"[  0:00] {PYTHON} {ARM}: skipped base os:trixie failed\n"


# -- the board and plain lines ------------------------------------------------------


def test_plain_lines_one_per_change_with_the_time_since_start() -> None:
    stream = io.StringIO()
    clock = FakeClock()
    board = Board(PlainSink(stream), clock)
    board.add(PYTHON, AMD)  # waiting: says nothing yet
    board.add(PYTHON, ARM)
    board.add("os:trixie", AMD)
    board.note("rootfs arm64: bootstrapping with mmdebstrap")
    clock.advance(3.7)
    board.update(PYTHON, AMD, Phase.BUILDING, "RUN <<EOT (set -eux...)", step="2/5")
    clock.advance(1)
    board.update(PYTHON, AMD, Phase.BUILDING, "RUN <<EOT (set -eux...)", step="2/5")  # the same again: no line
    board.add(PYTHON, AMD)  # there already: no line, no reset
    clock.advance(61)
    board.update(PYTHON, ARM, Phase.FAILED, "buildx exited 1 for linux/arm64; last lines of x.log:\n#8 ERROR: boom")
    board.update("os:trixie", AMD, Phase.SKIPPED, "base os:trixie failed")
    clock.advance(6000)
    board.update(PYTHON, AMD, Phase.PUSHED, "sha256:4f1e")
    assert stream.getvalue().splitlines() == [
        "[  0:00] rootfs arm64: bootstrapping with mmdebstrap",
        f"[  0:03] {PYTHON} {AMD}: building [2/5] RUN <<EOT (set -eux...)",
        f"[  1:05] {PYTHON} {ARM}: failed buildx exited 1 for linux/arm64; last lines of x.log:",
        f"[  1:05] os:trixie {AMD}: skipped base os:trixie failed",
        f"[101:05] {PYTHON} {AMD}: pushed sha256:4f1e",
    ]


def test_rows_keep_order_and_their_own_clock() -> None:
    clock = FakeClock()
    board = Board(Recorder(), clock)
    board.add(PYTHON, AMD)
    board.add(PYTHON, ARM)
    clock.advance(10)
    board.update(PYTHON, ARM, Phase.BUILDING, "FROM os", step="1/5")
    clock.advance(20)
    board.update(PYTHON, ARM, Phase.BUILDING, "RUN x", step="2/5")  # still the same run of the clock
    clock.advance(5)
    board.update(PYTHON, ARM, Phase.PUSHED)
    clock.advance(100)
    amd, arm = board.rows()
    now = clock()
    assert (amd.platform, amd.phase, amd.elapsed(now)) == (AMD, Phase.WAITING, None)
    assert (arm.platform, arm.phase, arm.step, arm.elapsed(now)) == (ARM, Phase.PUSHED, "", 25)
    board.update(PYTHON, ARM, Phase.VERIFYING)  # running again: the clock goes on from where it started
    clock.advance(1)
    assert board.rows()[1].elapsed(clock()) == 126
    assert board.snapshot().elapsed == 136


def test_update_adds_an_unknown_row_and_counts_follow_phase_order() -> None:
    board = Board(Recorder(), FakeClock())
    board.update("go:static", ARM, Phase.FAILED, "boom")
    board.add("go:static", AMD)
    board.add("os:trixie", AMD)
    board.update("os:trixie", AMD, Phase.VERIFIED)
    assert [(r.target, r.platform) for r in board.rows()] == [
        ("go:static", ARM),
        ("go:static", AMD),
        ("os:trixie", AMD),
    ]
    assert board.snapshot().counts() == {Phase.WAITING: 1, Phase.VERIFIED: 1, Phase.FAILED: 1}


def test_every_phase_has_a_look() -> None:
    assert set(LOOKS) == set(Phase)
    assert [p for p in Phase if LOOKS[p].running] == [Phase.BUILDING, Phase.VERIFYING]


class SlowRecorder(Recorder):
    """A Recorder that gives up the GIL in each call, as writing to a stream does, and keeps each snapshot."""

    def __init__(self) -> None:
        super().__init__()
        self.snapshots: list[tuple[Row, ...]] = []

    def changed(self, row: Row, board: Snapshot) -> None:
        time.sleep(0)
        super().changed(row, board)
        self.snapshots.append(board.rows)


def test_board_is_consistent_under_threads() -> None:
    sink = SlowRecorder()
    board = Board(sink)
    targets = [f"t{n}" for n in range(8)]
    for target in targets:
        board.add(target, AMD)
    steps = 200

    def work(target: str) -> None:
        for n in range(1, steps + 1):
            board.update(target, AMD, Phase.BUILDING, f"step {n}", step=f"{n}/{steps}")
            board.update("shared", ARM, Phase.BUILDING, f"{target} {n}")
        board.update(target, AMD, Phase.PUSHED)

    threads = [threading.Thread(target=work, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rows = {(r.target, r.platform): r for r in board.rows()}
    assert list(rows) == [(t, AMD) for t in targets] + [("shared", ARM)]
    assert all(rows[t, AMD].phase is Phase.PUSHED and rows[t, AMD].step == "" for t in targets)
    assert len(sink.changes) == len(targets) * (1 + steps + 1) + len(targets) * steps
    # Replaying the changes in the order the sink got them gives each snapshot it got, and the final board.
    state: dict[tuple[str, str], Row] = {}
    for row, snapshot in zip(sink.changes, sink.snapshots, strict=True):
        state[row.target, row.platform] = row
        assert tuple(state.values()) == snapshot
    assert state == rows
    for target in targets:
        seen = [r.step for r in sink.changes if r.target == target and r.phase is Phase.BUILDING]
        assert seen == [f"{n}/{steps}" for n in range(1, steps + 1)]


# -- the live table -------------------------------------------------------------------


def _every_phase(board: Board, clock: FakeClock) -> None:
    for phase in Phase:
        board.add(f"{phase}-target", ARM)
    clock.advance(2)
    board.update("building-target", ARM, Phase.BUILDING, "RUN <<EOT (set -eux...)", step="fetch 2/3")
    board.update("pushed-target", ARM, Phase.BUILDING, "FROM os", step="1/5")
    board.update("verifying-target", ARM, Phase.VERIFYING, "uname -m")
    board.update("verified-target", ARM, Phase.VERIFYING)
    board.update("failed-target", ARM, Phase.BUILDING)
    clock.advance(60)
    board.update("pushed-target", ARM, Phase.PUSHED, "sha256:4f1e")
    board.update("verified-target", ARM, Phase.VERIFIED, "7 checks passed")
    board.update("failed-target", ARM, Phase.FAILED, 'process "/bin/sh -c make" exit code: 2')
    board.update("skipped-target", ARM, Phase.SKIPPED, "base os:trixie failed")
    clock.advance(15)


def test_live_table_shows_every_row_phase_and_time() -> None:
    clock = FakeClock()
    console = Console(file=io.StringIO(), width=120, color_system=None)
    sink = LiveSink(console, clock)
    board = Board(sink, clock)
    _every_phase(board, clock)
    console.print(sink.render())
    lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert lines[0] == (
        "7 images: 1 waiting, 1 building, 1 pushed, 1 verifying, 1 verified, 1 failed, 1 skipped   elapsed 1:17"
    )
    table = [" ".join(line.split()) for line in lines[1:]]
    assert "target platform state step detail time" in table
    assert "waiting-target linux/arm64 waiting -" in table
    assert "building-target linux/arm64 building fetch 2/3 RUN <<EOT (set -eux...) 1:15" in table
    assert "pushed-target linux/arm64 pushed sha256:4f1e 1:00" in table
    assert "verifying-target linux/arm64 verifying uname -m 1:15" in table
    assert "verified-target linux/arm64 verified 7 checks passed 1:00" in table
    assert 'failed-target linux/arm64 failed process "/bin/sh -c make" exit code: 2 1:00' in table
    assert "skipped-target linux/arm64 skipped base os:trixie failed -" in table


def test_on_a_narrow_terminal_the_detail_gives_way() -> None:
    clock = FakeClock()
    console = Console(file=io.StringIO(), width=80, color_system=None)
    sink = LiveSink(console, clock)
    board = Board(sink, clock)
    board.update(PYTHON, ARM, Phase.FAILED, 'process "/bin/sh -c set -eux; apt-get install -y python3-foo" failed')
    console.print(sink.render())
    lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    (row,) = [line for line in lines if PYTHON in line]
    assert re.search(r'python:3\.13-runtime\s+linux/arm64\s+failed\s+process "/bin/sh -c \S*…\s+-$', row)
    assert max(len(line) for line in lines) <= 80


def test_live_times_run_on_between_changes() -> None:
    clock = FakeClock()
    console = Console(file=io.StringIO(), width=100, color_system=None)
    sink = LiveSink(console, clock)
    board = Board(sink, clock)
    board.update(PYTHON, AMD, Phase.BUILDING, "RUN x", step="2/5")
    clock.advance(125)  # no change on the board, yet the next refresh shows the time
    console.print(sink.render())
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert "elapsed 2:05" in out
    assert re.search(r"RUN x\s+2:05", out)


def test_live_run_keeps_the_final_table_and_prints_notes_above_it() -> None:
    clock = FakeClock()
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    sink = LiveSink(console, clock, refresh_per_second=50)
    board = Board(sink, clock)
    with sink:
        board.add(PYTHON, AMD)
        board.update(PYTHON, AMD, Phase.BUILDING, "RUN x", step="2/5")
        time.sleep(0.1)  # a refresh or two draws the table
        clock.advance(7)
        board.note("rootfs arm64: bootstrapping [mmdebstrap]")
        board.update(PYTHON, AMD, Phase.PUSHED, "sha256:4f1e")
    text = ANSI.sub("", console.file.getvalue())  # type: ignore[attr-defined]
    note = text.index("[  0:07] rootfs arm64: bootstrapping [mmdebstrap]")
    final = text.rindex("1 image: 1 pushed")
    assert note < final
    assert re.search(r"python:3\.13-runtime\s+linux/amd64\s+pushed\s+sha256:4f1e\s+0:07", text[final:])


def test_stamp_and_clock_face() -> None:
    assert progress.stamp(0) == "[  0:00]"
    assert progress.stamp(59.99) == "[  0:59]"
    assert progress.stamp(6065) == "[101:05]"
    assert progress.clock_face(3725) == "62:05"
