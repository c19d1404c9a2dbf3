"""Progress board: sink choice, plain lines, the live table, BuildKit's plain output, tailing a log."""

from __future__ import annotations

import io
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from factory import progress
from factory.progress import (
    LOOKS,
    Board,
    BuildkitFeed,
    BuildkitProgress,
    EventKind,
    LiveSink,
    Phase,
    PlainSink,
    Row,
    Snapshot,
    StepEvent,
    follow,
    following,
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
    assert [p for p in Phase if LOOKS[p].running] == [Phase.BUILDING, Phase.VERIFYING, Phase.SCANNING]


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
    board.update("scanning-target", ARM, Phase.SCANNING, "sbom")
    board.update("scanned-target", ARM, Phase.SCANNING)
    board.update("failed-target", ARM, Phase.BUILDING)
    clock.advance(60)
    board.update("pushed-target", ARM, Phase.PUSHED, "sha256:4f1e")
    board.update("verified-target", ARM, Phase.VERIFIED, "7 checks passed")
    board.update("scanned-target", ARM, Phase.SCANNED, "0 failing")
    board.update("failed-target", ARM, Phase.FAILED, 'process "/bin/sh -c make" exit code: 2')
    board.update("skipped-target", ARM, Phase.SKIPPED, "base os:trixie failed")
    clock.advance(15)


def test_live_table_shows_every_row_phase_and_time() -> None:
    clock = FakeClock()
    console = Console(file=io.StringIO(), width=140, color_system=None)
    sink = LiveSink(console, clock)
    board = Board(sink, clock)
    _every_phase(board, clock)
    console.print(sink.render())
    lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert lines[0] == (
        "9 images: 1 waiting, 1 building, 1 pushed, 1 verifying, 1 verified, 1 scanning, 1 scanned, 1 failed,"
        " 1 skipped   elapsed 1:17"
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
    assert "scanning-target linux/arm64 scanning sbom 1:15" in table
    assert "scanned-target linux/arm64 scanned 0 failing 1:00" in table


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


# -- BuildKit's plain progress ------------------------------------------------------------

MULTI_PLATFORM_LOG = """\
$ docker buildx build --builder factory --platform linux/amd64,linux/arm64 --file rendered/python/3.13/runtime/Dockerfile --progress plain --provenance=false --sbom=false --output type=image,name=127.0.0.1:5000/factory-staging/python:3.13-runtime-20250101T000000Z-ab12,push=true rendered/python/3.13/runtime
#0 building with "factory" instance using docker-container driver

#1 [internal] load build definition from Dockerfile
#1 transferring dockerfile: 1.92kB done
#1 DONE 0.0s

#2 [linux/arm64 internal] load metadata for 127.0.0.1:5000/factory-staging/os@sha256:4f1e
#2 DONE 0.4s

#3 [linux/amd64 internal] load metadata for 127.0.0.1:5000/factory-staging/os@sha256:4f1e
#3 DONE 0.4s

#4 [internal] load .dockerignore
#4 transferring context: 2B done
#4 DONE 0.0s

#5 [linux/amd64 1/5] FROM 127.0.0.1:5000/factory-staging/os@sha256:4f1e
#5 resolve 127.0.0.1:5000/factory-staging/os@sha256:4f1e 0.0s done
#5 CACHED

#6 [linux/arm64 1/5] FROM 127.0.0.1:5000/factory-staging/os@sha256:4f1e
#6 resolve 127.0.0.1:5000/factory-staging/os@sha256:4f1e 0.0s done
#6 sha256:9a3b 29.15MB / 29.15MB 1.2s done
#6 extracting sha256:9a3b 0.8s done
#6 DONE 2.1s

#7 [internal] load build context
#7 transferring context: 1.02kB done
#7 DONE 0.0s

#8 [linux/amd64 2/5] RUN <<EOT (set -eux...)
#8 0.180 + apt-get update
#8 ...

#9 [linux/arm64 2/5] RUN <<EOT (set -eux...)
#9 0.201 + apt-get update
#9 3.512 Get:1 http://deb.debian.org/debian trixie InRelease [140 kB]
#9 ...

#8 [linux/amd64 2/5] RUN <<EOT (set -eux...)
#8 4.023 Reading package lists...
#8 DONE 9.7s

#10 [linux/amd64 3/5] COPY --chmod=0755 entrypoint.sh /usr/local/bin/
#10 DONE 0.1s

#9 [linux/arm64 2/5] RUN <<EOT (set -eux...)
#9 61.40 E: Unable to locate package python3-foo
#9 ERROR: process "/bin/sh -c set -eux; apt-get install -y python3-foo" did not complete successfully: exit code: 100

#11 [linux/amd64 4/5] RUN python3 -m compileall -q /usr/lib/python3.13
#11 CANCELED
------
 > [linux/arm64 2/5] RUN <<EOT (set -eux...):
61.40 E: Unable to locate package python3-foo
------
Dockerfile:14
--------------------
  13 |     # the runtime packages
  14 | >>> RUN <<EOT
  15 | >>>     set -eux
--------------------
ERROR: failed to solve: process "/bin/sh -c set -eux; apt-get install -y python3-foo" did not complete successfully: exit code: 100
"""  # noqa: E501 (BuildKit's lines are as long as they are)


def _events(lines: str, platforms: tuple[str, ...] = (AMD, ARM)) -> list[StepEvent]:
    parser = BuildkitProgress(platforms)
    return [event for line in lines.splitlines() for event in parser.feed(line)]


def test_a_multi_platform_step_names_its_platform_step_and_text() -> None:
    (event,) = _events("#12 [linux/arm64 2/5] RUN <<EOT (set -eux...)")
    assert event == StepEvent(EventKind.STARTED, 12, (ARM,), "RUN <<EOT (set -eux...)", "", 2, 5)
    assert event.label == "2/5"


def test_an_internal_vertex_with_a_platform() -> None:
    (event,) = _events("#7 [linux/amd64 internal] load metadata for docker.io/library/debian:trixie")
    assert (event.platforms, event.stage, event.step, event.text) == (
        (AMD,),
        "internal",
        None,
        "load metadata for docker.io/library/debian:trixie",
    )
    assert event.label == "internal"


def test_lines_without_a_platform_concern_every_platform_of_the_build() -> None:
    internal, export = _events("#1 [internal] load build definition from Dockerfile\n#14 exporting to image")
    assert (internal.platforms, internal.stage, internal.text) == (
        (AMD, ARM),
        "internal",
        "load build definition from Dockerfile",
    )
    assert (export.platforms, export.stage, export.label, export.text) == ((AMD, ARM), "", "", "exporting to image")


def test_cached_done_error_and_canceled_carry_their_step() -> None:
    log = (
        "#12 [linux/arm64 2/5] RUN apt-get update\n#12 CACHED\n"
        "#13 [linux/arm64 3/5] COPY a b\n#13 DONE 3.4s\n"
        "#14 [linux/arm64 4/5] RUN make\n"
        '#14 ERROR: process "/bin/sh -c make" did not complete successfully: exit code: 2\n'
        "#15 [linux/amd64 4/5] RUN make\n#15 CANCELED\n"
        "#16 [internal] load build context\n#16 DONE\n"
    )
    events = [e for e in _events(log) if e.kind is not EventKind.STARTED]
    assert [(e.kind, e.vertex, e.platforms, e.step, e.text) for e in events] == [
        (EventKind.CACHED, 12, (ARM,), 2, "RUN apt-get update"),
        (EventKind.DONE, 13, (ARM,), 3, "COPY a b"),
        (EventKind.ERROR, 14, (ARM,), 4, "RUN make"),
        (EventKind.CANCELED, 15, (AMD,), 4, "RUN make"),
        (EventKind.DONE, 16, (AMD, ARM), None, "load build context"),
    ]
    assert events[1].seconds == 3.4
    assert events[2].error == 'process "/bin/sh -c make" did not complete successfully: exit code: 2'
    assert events[4].seconds is None


def test_a_single_platform_build_names_no_platform() -> None:
    log = (
        "#5 [2/3] RUN apk add --no-cache tini\n#6 [fetch 1/3] FROM docker.io/library/alpine:3.20\n#7 [internal] load ."
    )
    events = _events(log, platforms=(ARM,))
    assert [(e.platforms, e.stage, e.label) for e in events] == [
        ((ARM,), "", "2/3"),
        ((ARM,), "fetch", "fetch 1/3"),
        ((ARM,), "internal", "internal"),
    ]


def test_named_stages_with_a_platform() -> None:
    (event,) = _events("#10 [linux/arm64 fetch 2/3] RUN curl -fsSL https://example.org/tini -o /tini")
    assert (event.platforms, event.stage, event.step, event.total, event.label) == ((ARM,), "fetch", 2, 3, "fetch 2/3")
    assert event.text == "RUN curl -fsSL https://example.org/tini -o /tini"


def test_step_numbers_are_padded_to_the_width_of_the_total() -> None:
    one, two, three = _events("#4 [ 2/12] RUN a\n#5 [linux/arm64 11/12] RUN b\n#6 [linux/amd64 build  3/12] RUN c")
    assert (one.platforms, one.step, one.total, one.stage) == ((AMD, ARM), 2, 12, "")
    assert (two.platforms, two.step, two.total) == ((ARM,), 11, 12)
    assert (three.platforms, three.step, three.stage, three.label) == ((AMD,), 3, "build", "build 3/12")


@pytest.mark.parametrize(
    ("label", "platform"),
    [
        ("linux/amd64->arm64", "linux/arm64"),
        ("linux/amd64->arm/v7", "linux/arm/v7"),
        ("linux/amd64->windows/amd64", "windows/amd64"),
        ("linux/arm/v7", "linux/arm/v7"),
    ],
)
def test_a_cross_compiling_stage_belongs_to_its_target_platform(label: str, platform: str) -> None:
    (event,) = _events(f"#9 [{label} build 2/4] RUN go build ./...")
    assert (event.platforms, event.stage, event.step) == ((platform,), "build", 2)


def test_output_statuses_and_repeated_names_are_no_events() -> None:
    log = (
        "#9 [linux/arm64 2/5] RUN <<EOT (set -eux...)\n"
        "#9 0.201 + apt-get update\n"
        "#9 sha256:9a3b 29.15MB / 29.15MB 1.2s done\n"
        "#9 extracting sha256:9a3b 0.8s done\n"
        "#9 ...\n"
        "\n"
        "#9 [linux/arm64 2/5] RUN <<EOT (set -eux...)\n"
        "#9 12.40 DONE\n"  # the step's own output that happens to say DONE
        '#0 building with "factory" instance using docker-container driver\n'  # buildx's banner, no vertex
        "WARNING: No output specified with docker-container driver.\n"
        " > [linux/arm64 2/5] RUN <<EOT (set -eux...):\n"
        "#3 DONE 0.1s\n"  # a vertex never announced: nothing to say about it
    )
    events = _events(log)
    assert [(e.kind, e.vertex) for e in events] == [(EventKind.STARTED, 9)]


def test_long_step_text_is_cut_to_its_first_sixty_characters() -> None:
    command = "RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl git"
    (event,) = _events(f"#8 [linux/amd64 2/5] {command}")
    assert event.text == command[:57] + "..."
    assert len(event.text) == 60


def test_an_error_outside_any_vertex_concerns_every_platform() -> None:
    (event,) = _events("ERROR: failed to solve: dockerfile parse error on line 3: unknown instruction: RN")
    assert (event.kind, event.vertex, event.platforms) == (EventKind.ERROR, None, (AMD, ARM))
    assert event.error == "failed to solve: dockerfile parse error on line 3: unknown instruction: RN"


def test_an_error_on_a_vertex_not_seen_is_still_an_error() -> None:
    (event,) = _events("#4 ERROR: failed to read dockerfile: open Dockerfile: no such file or directory")
    assert (event.kind, event.vertex, event.platforms, event.text) == (EventKind.ERROR, 4, (AMD, ARM), "")


def test_each_logged_buildx_command_restarts_the_numbers_with_its_platforms() -> None:
    # One native node per platform: two buildx runs append to the same log, each counting from #1.
    log = (
        "$ docker --context factory-linux-arm64 buildx build --platform linux/arm64 --progress plain ctx\n"
        "#1 [internal] load build definition from Dockerfile\n"
        "#5 [2/3] RUN make\n"
        "$ docker buildx build --builder factory-linux-amd64 --platform linux/amd64 --progress plain ctx\n"
        "#1 [internal] load build definition from Dockerfile\n"
        "#5 [2/3] RUN make\n"
        "#5 DONE 1.0s\n"
        "$ docker buildx imagetools create --tag r:t r:t-linux-amd64 r:t-linux-arm64\n"
        "#1 [internal] pushing r:t\n"
    )
    events = _events(log)
    assert [(e.kind, e.vertex, e.platforms) for e in events] == [
        (EventKind.STARTED, 1, (ARM,)),
        (EventKind.STARTED, 5, (ARM,)),
        (EventKind.STARTED, 1, (AMD,)),
        (EventKind.STARTED, 5, (AMD,)),
        (EventKind.DONE, 5, (AMD,)),
        (EventKind.STARTED, 1, (AMD, ARM)),  # not a build: the target's platforms again
    ]


def test_feed_moves_each_platform_through_its_steps_and_keeps_the_first_failure() -> None:
    stream = io.StringIO()
    clock = FakeClock()
    board = Board(PlainSink(stream), clock)
    board.add(PYTHON, AMD)
    board.add(PYTHON, ARM)
    feed = BuildkitFeed(board, PYTHON, (AMD, ARM))
    for line in MULTI_PLATFORM_LOG.splitlines():
        feed(line)
        clock.advance(1)
    lines = [line.split("] ", 1)[1] for line in stream.getvalue().splitlines()]
    assert lines == [
        f"{PYTHON} {AMD}: building [internal] load build definition from Dockerfile",
        f"{PYTHON} {ARM}: building [internal] load build definition from Dockerfile",
        f"{PYTHON} {ARM}: building [internal] load metadata for 127.0.0.1:5000/factory-staging/os@sha25...",
        f"{PYTHON} {AMD}: building [internal] load metadata for 127.0.0.1:5000/factory-staging/os@sha25...",
        f"{PYTHON} {AMD}: building [internal] load .dockerignore",
        f"{PYTHON} {ARM}: building [internal] load .dockerignore",
        f"{PYTHON} {AMD}: building [1/5] FROM 127.0.0.1:5000/factory-staging/os@sha256:4f1e",
        f"{PYTHON} {ARM}: building [1/5] FROM 127.0.0.1:5000/factory-staging/os@sha256:4f1e",
        # `load build context` comes after the first steps: housekeeping, not shown
        f"{PYTHON} {AMD}: building [2/5] RUN <<EOT (set -eux...)",
        f"{PYTHON} {ARM}: building [2/5] RUN <<EOT (set -eux...)",
        f"{PYTHON} {AMD}: building [3/5] COPY --chmod=0755 entrypoint.sh /usr/local/bin/",
        f'{PYTHON} {ARM}: failed [2/5] process "/bin/sh -c set -eux; apt-get install -y python3-foo" did not complete'
        " successfully: exit code: 100",
        f"{PYTHON} {AMD}: building [4/5] RUN python3 -m compileall -q /usr/lib/python3.13",
        f"{PYTHON} {AMD}: failed [4/5] canceled",
        # the final `ERROR: failed to solve` finds both already failed
    ]
    assert [r.phase for r in board.rows()] == [Phase.FAILED, Phase.FAILED]


def test_feed_shows_the_export_once_every_platform_has_built() -> None:
    board = Board(Recorder(), FakeClock())
    feed = BuildkitFeed(board, PYTHON, (AMD, ARM))
    for line in ("#5 [linux/amd64 5/5] RUN true", "#6 [linux/arm64 5/5] RUN true", "#7 [internal] load build context"):
        feed(line)
    feed("#14 exporting to image")
    feed("#15 [auth] factory-staging/python:pull,push token for 127.0.0.1:5000")
    assert [(r.phase, r.step, r.detail) for r in board.rows()] == [(Phase.BUILDING, "", "exporting to image")] * 2


def test_feed_fails_every_platform_on_an_error_outside_a_vertex() -> None:
    board = Board(Recorder(), FakeClock())
    feed = BuildkitFeed(board, "go:static", (AMD, ARM))
    feed("#1 [internal] load build definition from Dockerfile")
    feed("#1 ERROR: failed to read dockerfile")  # BuildKit's own vertex: buildx's last line says more
    assert {r.phase for r in board.rows()} == {Phase.BUILDING}
    feed("ERROR: failed to solve: dockerfile parse error on line 3: unknown instruction: RN")
    assert {(r.platform, r.phase, r.detail) for r in board.rows()} == {
        (p, Phase.FAILED, "failed to solve: dockerfile parse error on line 3: unknown instruction: RN")
        for p in (AMD, ARM)
    }


def test_feed_keeps_building_when_only_the_cache_export_fails() -> None:
    board = Board(Recorder(), FakeClock())
    feed = BuildkitFeed(board, PYTHON, (AMD, ARM))
    feed("#5 [linux/amd64 5/5] RUN true")
    feed("#6 [linux/arm64 5/5] RUN true")
    feed("#16 exporting cache to registry")
    feed("#16 ERROR: failed to push 127.0.0.1:5000/factory-cache/python:3.13-runtime: connection refused")
    assert [(r.phase, r.step) for r in board.rows()] == [(Phase.BUILDING, "5/5")] * 2


# -- following a growing log -------------------------------------------------------------


@pytest.fixture
def slow_writer(tmp_path: Path) -> Iterator[tuple[Path, threading.Thread]]:
    """A thread that creates a log late and writes it in pieces, one line split across two writes."""
    log = tmp_path / "logs" / "python_3.13-runtime.log"
    log.parent.mkdir()
    pieces = [
        "#1 [internal] load build definition\n#1 DONE 0.0s\n",
        "#5 [linux/arm64 2/5] RUN <<E",
        "OT (set -eux...)\n",
    ]
    pieces += ["#5 0.21 Gr\xfc\xdfe\n", "#5 DONE 1.2s"]  # non-ASCII output, and a last line without a newline

    def write() -> None:
        time.sleep(0.05)
        with log.open("a", encoding="utf-8") as out:
            for piece in pieces:
                out.write(piece)
                out.flush()
                time.sleep(0.03)

    thread = threading.Thread(target=write)
    yield log, thread
    thread.join()


EXPECTED_LINES = [
    "#1 [internal] load build definition",
    "#1 DONE 0.0s",
    "#5 [linux/arm64 2/5] RUN <<EOT (set -eux...)",
    "#5 0.21 Gr\xfc\xdfe",
    "#5 DONE 1.2s",
]


def test_follow_delivers_each_complete_line_of_a_growing_file(slow_writer: tuple[Path, threading.Thread]) -> None:
    log, writer = slow_writer
    lines: list[str] = []
    stop = threading.Event()
    follower = threading.Thread(target=follow, args=(log, lines.append, stop, 0.01))
    follower.start()
    writer.start()
    deadline = time.monotonic() + 5
    while len(lines) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert lines == EXPECTED_LINES[:4]  # the unfinished last line waits for its newline or the stop
    writer.join()
    stop.set()
    follower.join(timeout=5)
    assert not follower.is_alive()
    assert lines == EXPECTED_LINES


def test_following_feeds_a_board_while_the_build_writes(slow_writer: tuple[Path, threading.Thread]) -> None:
    log, writer = slow_writer
    board = Board(Recorder(), FakeClock())
    with following(log, BuildkitFeed(board, PYTHON, (ARM,)), poll=0.01):
        writer.start()
        writer.join()
    (row,) = board.rows()
    assert (row.phase, row.step, row.detail) == (Phase.BUILDING, "2/5", "RUN <<EOT (set -eux...)")


def test_follow_stops_at_once_when_the_file_never_appears(tmp_path: Path) -> None:
    stop = threading.Event()
    stop.set()
    lines: list[str] = []
    started = time.monotonic()
    follow(tmp_path / "missing.log", lines.append, stop, poll=10)
    assert lines == []
    assert time.monotonic() - started < 1


def test_stamp_and_clock_face() -> None:
    assert progress.stamp(0) == "[  0:00]"
    assert progress.stamp(59.99) == "[  0:59]"
    assert progress.stamp(6065) == "[101:05]"
    assert progress.clock_face(3725) == "62:05"
