"""A headless Chromium driven over the DevTools protocol, with the standard library only.

Chromium started with `--remote-debugging-pipe` speaks the protocol on two
file descriptors instead of a websocket: it reads commands on fd 3 and writes
answers and events on fd 4, each message one JSON document ended by a NUL
byte. So no port, no websocket and no third-party client. One page is opened
and attached in flat mode (its messages carry a sessionId); every event is
kept, so a test reads the console, the exceptions and the network requests
after the fact.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# Flags for a machine with no display, no GPU and no network to spare: nothing of Chromium's own
# (updates, sync, safe browsing lists, field trials) may make a request the tests would then see.
FLAGS = (
    "--headless=new",
    "--no-sandbox",  # root in CI; the pages are the factory's own
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--metrics-recording-only",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
)
TIMEOUT_S = 30.0


def find_chromium() -> str | None:
    """$FACTORY_CHROMIUM (a Chromium or Chrome binary, e.g. on a runner that has Chrome and no Debian), else
    Debian's `chromium` on the PATH; None when neither is there."""
    given = os.environ.get("FACTORY_CHROMIUM")
    return shutil.which(given) if given else shutil.which("chromium")


class BrowserError(RuntimeError):
    """The browser answered an error, died, or said nothing in time."""


class Browser:
    """One Chromium process and one page in it; `close()` (or `with`) ends the process."""

    def __init__(self, binary: str, profile: Path, log: Path, extra: Sequence[str] = ()) -> None:
        commands_read, self._commands = os.pipe()  # we write, Chromium reads on its fd 3
        self._answers, answers_write = os.pipe()  # Chromium writes on its fd 4, we read

        def descriptors() -> None:
            # In the child, before exec: the two pipe ends at 3 and 4 (copied above both first, in case one
            # of them is 3 or 4 already). dup2 leaves them inheritable; every other descriptor Python made
            # is not (PEP 446), so exec closes it.
            copies = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (commands_read, answers_write)]
            for wanted, copy in zip((3, 4), copies, strict=True):
                os.dup2(copy, wanted)

        with log.open("wb") as stderr:
            self.process = subprocess.Popen(
                [binary, *FLAGS, f"--user-data-dir={profile}", *extra, "about:blank"],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                close_fds=False,  # 3 and 4 must reach Chromium; nothing else is inheritable
                preexec_fn=descriptors,
            )
        os.close(commands_read)
        os.close(answers_write)
        self.log = log
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._send({"id": self._new_id(), "method": "Browser.close"})
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._commands, self._answers):
            with contextlib.suppress(OSError):
                os.close(fd)

    # -- the protocol --------------------------------------------------------------------------

    def call(self, method: str, params: dict[str, Any] | None = None, *, page: bool = False) -> dict[str, Any]:
        """Send one command (to the page's session with `page`) and return its result; events are kept."""
        message: dict[str, Any] = {"id": self._new_id(), "method": method, "params": params or {}}
        if page:
            message["sessionId"] = self.session
        self._send(message)
        while True:
            answer = self._receive(time.monotonic() + TIMEOUT_S, method)
            if answer.get("id") == message["id"]:
                if "error" in answer:
                    raise BrowserError(f"{method}: {answer['error']}")
                result = answer.get("result", {})
                assert isinstance(result, dict)
                return result
            self.events.append(answer)

    def page(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.call(method, params, page=True)

    def wait_for(self, event: str, after: int = 0) -> dict[str, Any]:
        """The first `event` of the page among the events from index `after` on, waiting for it if need be."""
        deadline = time.monotonic() + TIMEOUT_S
        index = after
        while True:
            for found in self.events[index:]:
                if found.get("method") == event and found.get("sessionId") == self.session:
                    return found
            index = len(self.events)
            self.events.append(self._receive(deadline, event))

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (an exception in it is a BrowserError)."""
        result = self.page("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str) -> None:
        """Navigate the page and wait for its load event."""
        mark = len(self.events)
        answer = self.page("Page.navigate", {"url": url})
        if answer.get("errorText"):
            raise BrowserError(f"{url}: {answer['errorText']}")
        self.wait_for("Page.loadEventFired", mark)

    def screenshot(self, path: Path) -> Path:
        """The whole page as a PNG."""
        data = self.page("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _send(self, message: dict[str, Any]) -> None:
        data = json.dumps(message).encode() + b"\0"
        while data:
            data = data[os.write(self._commands, data) :]

    def _receive(self, deadline: float, waiting_for: str) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._answers], [], [], max(0.0, left))
            if not ready:
                raise BrowserError(f"no answer to {waiting_for} in {TIMEOUT_S:.0f} s (Chromium's log: {self.log})")
            chunk = os.read(self._answers, 1 << 16)
            if not chunk:
                raise BrowserError(f"Chromium ended (exit {self.process.poll()}); its log: {self.log}")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        parsed = json.loads(message)
        assert isinstance(parsed, dict)
        return parsed
