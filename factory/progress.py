"""Progress people can read: one row per target and platform, live on a terminal, plain lines elsewhere.

Builds and verifications report what happens to each image on a Board; the
Board only keeps that state and hands every change to one sink. On an
interactive terminal the sink is a rich table redrawn in place; in CI, in a
pipe, with TERM=dumb or NO_COLOR set it prints one timestamped line per change,
so logs stay readable and greppable. BuildKit's plain progress (the build log)
reaches the Board through BuildkitProgress, a pure line parser, and follow(),
which tails the log while the build writes it.
"""

from __future__ import annotations

import enum
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import BinaryIO, Protocol, TextIO

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

Clock = Callable[[], float]

# Variables CI services set; any of them (unless empty, 0, false or no) means nobody watches a terminal.
CI_VARIABLES = (
    "CI",
    "CONTINUOUS_INTEGRATION",
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "BUILDKITE",
    "CIRCLECI",
    "TRAVIS",
    "JENKINS_URL",
    "TEAMCITY_VERSION",
    "TF_BUILD",
    "BITBUCKET_BUILD_NUMBER",
    "DRONE",
    "APPVEYOR",
    "CODEBUILD_BUILD_ID",
    "WOODPECKER",
)


class Phase(enum.StrEnum):
    """Where one image (a target on one platform) is; the value is the word people read."""

    WAITING = "waiting"
    BUILDING = "building"
    PUSHED = "pushed"
    VERIFYING = "verifying"
    VERIFIED = "verified"
    SCANNING = "scanning"
    SCANNED = "scanned"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Look:
    """How a phase shows: the style of its state, whether the row's clock runs, whether plain lines omit it."""

    style: str
    running: bool = False
    quiet: bool = False


# One entry per phase, and nothing else knows about phases: a new one (scanning, published) is a line here.
LOOKS: Mapping[Phase, Look] = MappingProxyType(
    {
        Phase.WAITING: Look("dim", quiet=True),  # every row starts so: a line each would say nothing
        Phase.BUILDING: Look("bold cyan", running=True),
        Phase.PUSHED: Look("green"),
        Phase.VERIFYING: Look("bold magenta", running=True),
        Phase.VERIFIED: Look("bold green"),
        Phase.SCANNING: Look("bold blue", running=True),
        Phase.SCANNED: Look("bold green"),
        Phase.FAILED: Look("bold red"),
        Phase.SKIPPED: Look("yellow"),
    }
)


@dataclass(frozen=True)
class Row:
    """One image's state; `started` and `ended` are clock readings around its work (None: not yet)."""

    target: str
    platform: str
    phase: Phase = Phase.WAITING
    step: str = ""  # BuildKit's label while building, e.g. "2/5" or "fetch 1/3"
    detail: str = ""  # one line: the step's text, the reason it failed or was skipped
    started: float | None = None
    ended: float | None = None

    def elapsed(self, now: float) -> float | None:
        """Seconds of work at `now`, frozen once the row settles; None when it never ran."""
        if self.started is None:
            return None
        return (now if self.ended is None else self.ended) - self.started

    def moved(self, phase: Phase, detail: str, step: str, now: float) -> Row:
        """This row in `phase`: its clock starts at the first running phase and stops at the next settled one."""
        started, ended = self.started, self.ended
        if LOOKS[phase].running:
            started, ended = (now if started is None else started), None
        elif started is not None and ended is None:
            ended = now
        return replace(self, phase=phase, step=step, detail=_one_line(detail), started=started, ended=ended)

    def describe(self) -> str:
        """`target platform: state [step] detail`, the text of a plain progress line."""
        parts = [str(self.phase), f"[{self.step}]" if self.step else "", self.detail]
        return f"{self.target} {self.platform}: " + " ".join(p for p in parts if p)


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0].strip() if lines else ""


@dataclass(frozen=True)
class Snapshot:
    """Every row of a Board at clock reading `now`, in the order they were added."""

    rows: tuple[Row, ...]
    started: float
    now: float

    @property
    def elapsed(self) -> float:
        """Seconds since the Board was made."""
        return self.now - self.started

    def counts(self) -> dict[Phase, int]:
        """How many rows are in each phase, in Phase order, phases without rows left out."""
        found = [row.phase for row in self.rows]
        return {phase: found.count(phase) for phase in Phase if phase in found}


class Sink(Protocol):
    """Where a Board's changes go: called under the Board's lock, in the order the changes happened."""

    def changed(self, row: Row, board: Snapshot) -> None:
        """`row` is new or differs from before; `board` is the whole Board just after."""

    def noted(self, message: str, board: Snapshot) -> None:
        """A free-form message for the people watching, e.g. `rootfs arm64: bootstrapping`."""


class Board:
    """The state of every image in a run, safe to update from worker threads; each change goes to its sink."""

    def __init__(self, sink: Sink, clock: Clock = time.monotonic) -> None:
        self._sink = sink
        self._clock = clock
        self._lock = threading.Lock()
        self._rows: dict[tuple[str, str], Row] = {}
        self._started = clock()

    def add(self, target: str, platform: str) -> None:
        """A waiting row for `target` on `platform`; nothing happens when it is there already."""
        with self._lock:
            if (target, platform) not in self._rows:
                self._put(Row(target, platform), self._clock())

    def update(self, target: str, platform: str, phase: Phase, detail: str = "", *, step: str = "") -> None:
        """Move a row (added when new) to `phase` with a one-line `detail`; a change that changes nothing is dropped."""
        with self._lock:
            now = self._clock()
            old = self._rows.get((target, platform))
            new = (old or Row(target, platform)).moved(phase, detail, step, now)
            if new != old:
                self._put(new, now)

    def note(self, message: str) -> None:
        """Pass a free-form message to the sink, in order with the row changes."""
        with self._lock:
            self._sink.noted(message, self._snapshot(self._clock()))

    def rows(self) -> tuple[Row, ...]:
        """Every row, in the order they were added."""
        with self._lock:
            return tuple(self._rows.values())

    def snapshot(self) -> Snapshot:
        """Every row and the time now."""
        with self._lock:
            return self._snapshot(self._clock())

    def _put(self, row: Row, now: float) -> None:
        self._rows[row.target, row.platform] = row
        self._sink.changed(row, self._snapshot(now))

    def _snapshot(self, now: float) -> Snapshot:
        return Snapshot(tuple(self._rows.values()), self._started, now)


class PlainSink:
    """One `[MMM:SS] target platform: state detail` line per change and per note: for CI logs and pipes."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def __enter__(self) -> PlainSink:
        return self

    def __exit__(self, *_: object) -> None:
        self._stream.flush()

    def changed(self, row: Row, board: Snapshot) -> None:
        """Print the row's new state, unless its phase is a quiet one (waiting)."""
        if not LOOKS[row.phase].quiet:
            self._write(board.elapsed, row.describe())

    def noted(self, message: str, board: Snapshot) -> None:
        """Print the message with the time since the Board was made."""
        self._write(board.elapsed, message)

    def _write(self, seconds: float, text: str) -> None:
        self._stream.write(f"{stamp(seconds)} {text}\n")
        self._stream.flush()  # a line per change is only useful if it shows when it happens


class LiveSink:
    """A rich table of every row redrawn in place, with notes printed above it: for people at a terminal."""

    def __init__(self, console: Console, clock: Clock = time.monotonic, refresh_per_second: float = 4) -> None:
        self._console = console
        self._clock = clock
        self._board: Snapshot | None = None
        # stdout stays out of it: it may carry --output json while the table draws on stderr.
        self._live = Live(
            console=console,
            get_renderable=self.render,
            refresh_per_second=refresh_per_second,
            transient=False,  # the final table stays on screen as the run's summary
            redirect_stdout=False,
        )

    def __enter__(self) -> LiveSink:
        self._live.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._live.stop()

    def changed(self, row: Row, board: Snapshot) -> None:
        """Keep the latest Board; the next refresh draws it (the snapshot is immutable, so no lock is needed)."""
        self._board = board

    def noted(self, message: str, board: Snapshot) -> None:
        """Print the message above the table (rich keeps the live table below what is printed)."""
        self._board = board
        self._console.print(Text(f"{stamp(board.elapsed)} {message}"))

    def render(self) -> RenderableType:
        """The header line and the table as of now; running rows' times keep counting between changes."""
        board = self._board
        if board is None:
            return Text("")
        now = self._clock()
        return Group(_header(board, now), _table(board, now))


def _header(board: Snapshot, now: float) -> Text:
    rows = len(board.rows)
    text = Text(f"{rows} image{'' if rows == 1 else 's'}: ", style="bold")
    for index, (phase, count) in enumerate(board.counts().items()):
        text.append(", " if index else "")
        text.append(f"{count} {phase}", style=LOOKS[phase].style)
    text.append(f"   elapsed {clock_face(now - board.started)}")
    return text


def _table(board: Snapshot, now: float) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("target", no_wrap=True)
    table.add_column("platform", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("step", no_wrap=True)
    table.add_column("detail", overflow="ellipsis", min_width=10)  # the one column that gives way to a narrow screen
    table.add_column("time", justify="right", no_wrap=True)
    for row in board.rows:
        elapsed = row.elapsed(now)
        table.add_row(
            Text(row.target),
            Text(row.platform),
            Text(row.phase, style=LOOKS[row.phase].style),
            Text(row.step),
            Text(row.detail, no_wrap=True, overflow="ellipsis"),  # Text, not markup: BuildKit labels hold brackets
            Text("-" if elapsed is None else clock_face(elapsed)),
        )
    return table


def wants_live(stream: TextIO, environ: Mapping[str, str]) -> bool:
    """True when `stream` is a terminal someone watches: a TTY, no CI, TERM not dumb, NO_COLOR unset or empty."""
    if environ.get("NO_COLOR", "") or environ.get("TERM", "").strip().lower() == "dumb":
        return False
    if any(environ.get(name, "").strip().lower() not in ("", "0", "false", "no") for name in CI_VARIABLES):
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty is not None and isatty())
    except (ValueError, OSError):  # a closed or detached stream
        return False


@contextmanager
def open_board(
    stream: TextIO | None = None, environ: Mapping[str, str] | None = None, clock: Clock = time.monotonic
) -> Iterator[Board]:
    """A Board drawing on `stream` (stderr): a live table when wants_live(), plain lines otherwise."""
    out = sys.stderr if stream is None else stream
    env = os.environ if environ is None else environ
    sink: PlainSink | LiveSink
    if wants_live(out, env):
        # The same environment as the choice decides width and colours (rich reads os.environ otherwise).
        sink = LiveSink(Console(file=out, force_terminal=True, highlight=False, _environ=env), clock)
    else:
        sink = PlainSink(out)
    with sink:
        yield Board(sink, clock)


def stamp(seconds: float) -> str:
    """`[MMM:SS]`, the prefix of every plain progress line (as the CLI has always printed)."""
    minutes, secs = divmod(int(seconds), 60)
    return f"[{minutes:3d}:{secs:02d}]"


def clock_face(seconds: float) -> str:
    """`M:SS` for a table cell."""
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"


# -- BuildKit's plain progress ---------------------------------------------------


class EventKind(enum.StrEnum):
    """What a BuildKit progress line said about a vertex."""

    STARTED = "started"
    CACHED = "cached"
    DONE = "done"
    ERROR = "error"
    CANCELED = "canceled"


@dataclass(frozen=True)
class StepEvent:
    """One thing BuildKit reported about a vertex (a Dockerfile step, or its own work such as an export)."""

    kind: EventKind
    vertex: int | None  # BuildKit's #N; None for the `ERROR: failed to solve` summary
    platforms: tuple[str, ...]  # its own platform, or all of the build's when the line names none
    text: str = ""  # the vertex name after its [label], first line, cut to STEP_TEXT_LIMIT
    stage: str = ""  # a named stage (`fetch`) or BuildKit's own (`internal`, `auth`)
    step: int | None = None
    total: int | None = None
    seconds: float | None = None  # how long a DONE vertex took
    error: str = ""

    @property
    def label(self) -> str:
        """BuildKit's bracket without the platform: `fetch 2/3`, `2/5`, `internal`, or empty."""
        count = f"{self.step}/{self.total}" if self.step is not None else ""
        return " ".join(part for part in (self.stage, count) if part)


STEP_TEXT_LIMIT = 60
_VERTEX = re.compile(r"#(\d+) (.*)")
_DONE = re.compile(r"DONE(?: (\d+(?:\.\d+)?)s)?")
_LABELLED = re.compile(r"\[([^\]]*)\] ?(.*)")
_COUNT = re.compile(r"(\d+)/(\d+)")
_PLATFORM_FLAG = re.compile(r"--platform[= ](\S+)")
_OPERATING_SYSTEMS = frozenset({"linux", "windows", "darwin", "freebsd", "netbsd", "openbsd", "solaris", "illumos"})


class BuildkitProgress:
    """Turns `docker buildx build --progress plain` output, fed line by line, into StepEvents (no I/O).

    A vertex's first line is its name, e.g. `#12 [linux/arm64 2/5] RUN <<EOT (set -eux...)`;
    BuildKit repeats it when it switches back to a vertex, and that repeat is no
    new event. Lines that name no platform belong to `platforms`. A `$ ` line
    (how the process layer logs a command) starts a new buildx run: vertex numbers
    restart, and its `--platform` says which platforms the lines are about.
    """

    def __init__(self, platforms: Sequence[str] = ()) -> None:
        self._default = tuple(platforms)
        self._platforms = self._default
        self._vertices: dict[int, StepEvent] = {}

    def feed(self, line: str) -> list[StepEvent]:
        """The events one line of output means (most lines, such as a step's own output, mean none)."""
        line = line.rstrip("\r\n")
        if line.startswith("$ "):
            self._command(line)
            return []
        match = _VERTEX.fullmatch(line)
        if match is None:
            if line.startswith("ERROR: "):  # buildx's summary, the only word on failures outside any vertex
                return [StepEvent(EventKind.ERROR, None, self._platforms, error=line.removeprefix("ERROR: "))]
            return []
        number, rest = int(match.group(1)), match.group(2)
        known = self._vertices.get(number)
        if rest.startswith("ERROR: "):  # reported even for a vertex never announced: a failure must show
            vertex = known or StepEvent(EventKind.STARTED, number, self._platforms)
            return [replace(vertex, kind=EventKind.ERROR, error=rest.removeprefix("ERROR: "))]
        done = _DONE.fullmatch(rest)
        if rest in ("CACHED", "CANCELED") or done:
            if known is None:
                return []
            if done:
                seconds = float(done.group(1)) if done.group(1) else None
                return [replace(known, kind=EventKind.DONE, seconds=seconds)]
            return [replace(known, kind=EventKind(rest.lower()))]
        if known is not None or number == 0:  # #0 is buildx's banner (`building with "x" instance`), no vertex
            return []  # its output, a status such as a layer download, or its name once more
        self._vertices[number] = event = self._started(number, rest)
        return [event]

    def _command(self, line: str) -> None:
        self._vertices.clear()
        flag = _PLATFORM_FLAG.search(line) if " buildx build " in line else None
        self._platforms = tuple(flag.group(1).split(",")) if flag else self._default

    def _started(self, number: int, name: str) -> StepEvent:
        labelled = _LABELLED.fullmatch(name)
        if labelled is None:  # BuildKit's own work: `exporting to image`, `resolve image config for ...`
            return StepEvent(EventKind.STARTED, number, self._platforms, text=_cut(name))
        words, text = labelled.group(1).split(), labelled.group(2)
        step = total = None
        if words and (count := _COUNT.fullmatch(words[-1])):
            step, total = int(count.group(1)), int(count.group(2))
            words.pop()
        platforms = self._platforms
        if words and "/" in words[0]:  # stage names cannot hold a slash, platforms always do
            platforms = (_target_platform(words.pop(0)),)
        return StepEvent(
            EventKind.STARTED, number, platforms, text=_cut(text), stage=" ".join(words), step=step, total=total
        )


def _target_platform(word: str) -> str:
    """The platform a label is for: `linux/amd64->arm64` (a cross-compiling stage) is for linux/arm64.

    BuildKit writes `->arch[/variant]` when only the architecture differs and
    `->os/arch` when the OS does too.
    """
    base, _, target = word.partition("->")
    if not target:
        return base
    if target.split("/", 1)[0] in _OPERATING_SYSTEMS:
        return target
    return base.split("/", 1)[0] + "/" + target


def _cut(text: str) -> str:
    first = _one_line(text)
    return first if len(first) <= STEP_TEXT_LIMIT else first[: STEP_TEXT_LIMIT - 3] + "..."


class BuildkitFeed:
    """Feeds one target's build log to a Board: each platform's steps as they start, failures with BuildKit's reason.

    Only numbered steps move a row once it has one; BuildKit's own vertices
    (loading metadata, auth) show only before, except the export at the end,
    so the row does not flicker between a step and housekeeping. A row fails
    on a step's error or cancellation, or on buildx's closing `ERROR:` line,
    not on an error of BuildKit's own work: a cache export may fail without
    failing the build (ignore-error=true). Pushed is the build's word.
    """

    def __init__(self, board: Board, target: str, platforms: Sequence[str]) -> None:
        self._board = board
        self._target = target
        self._parser = BuildkitProgress(platforms)
        self._stepped: set[str] = set()
        self._failed: set[str] = set()

    def __call__(self, line: str) -> None:
        """Feed one log line (a follow() callback)."""
        for event in self._parser.feed(line):
            for platform in event.platforms:
                self._apply(event, platform)

    def _apply(self, event: StepEvent, platform: str) -> None:
        if platform in self._failed:  # the first reason is the real one; cancellations follow it
            return
        if event.kind is EventKind.STARTED:
            numbered = event.step is not None
            if numbered or platform not in self._stepped or event.text.startswith("exporting to"):
                self._board.update(self._target, platform, Phase.BUILDING, event.text, step=event.label)
            if numbered:
                self._stepped.add(platform)
        elif event.kind in (EventKind.ERROR, EventKind.CANCELED) and (event.step is not None or event.vertex is None):
            self._failed.add(platform)
            reason = event.error if event.kind is EventKind.ERROR else "canceled"
            self._board.update(self._target, platform, Phase.FAILED, reason, step=event.label)


# -- tailing the build log ---------------------------------------------------------


def follow(path: Path, on_line: Callable[[str], None], stop: threading.Event, poll: float = 0.5) -> None:
    """Call `on_line` with each complete line appended to `path` until `stop` is set.

    The file may not exist yet (the build creates it). After `stop`, what was
    written before it is still read, and a last line without a newline is
    delivered too: the writer has finished it. Lines come without their newline.
    """
    handle: BinaryIO | None = None
    pending = b""
    try:
        while True:
            stopping = stop.is_set()  # read once more after the stop: lines written before it count
            if handle is None:
                handle = _open(path)
            chunk = handle.read() if handle is not None else b""
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                on_line(_decode(line))
            if stopping:
                break
            if not chunk:
                stop.wait(poll)
        if pending:
            on_line(_decode(pending))
    finally:
        if handle is not None:
            handle.close()


@contextmanager
def following(path: Path, on_line: Callable[[str], None], poll: float = 0.5) -> Iterator[None]:
    """follow() `path` in a thread while the block runs; every line written in the block is delivered at its end."""
    stop = threading.Event()
    thread = threading.Thread(target=follow, args=(path, on_line, stop, poll), name=f"follow {path.name}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _open(path: Path) -> BinaryIO | None:
    try:
        return path.open("rb")
    except FileNotFoundError:
        return None


def _decode(line: bytes) -> str:
    return line.decode("utf-8", errors="replace").rstrip("\r")
