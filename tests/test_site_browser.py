"""The catalogue site in a real headless browser (Debian's chromium), opened from disk as a person would.

No console error, no exception, no request but file:// ones; the filter hides
rows as one types; without JavaScript every row shows and the filter does
not; served under a sub-path of a loopback web server, no request leaves it.
Screenshots go to $FACTORY_ARTIFACTS (CI keeps them), else the test's
temporary directory. Marked `browser`: skipped on a laptop without chromium,
never in CI (tests/conftest.py); $FACTORY_CHROMIUM names another binary.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from factory import record as records
from factory import website
from tests.conftest import REPO
from tests.support.cdp import Browser, find_chromium
from tests.test_website import FIXTURE, RUN_A, RUN_B, make_document

pytestmark = pytest.mark.browser

ROWS = "[...document.querySelectorAll('#images tbody tr')]"
SHOWN = f"{ROWS}.filter(row => !row.hidden && row.offsetParent !== null).map(row => row.dataset.target)"


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(FIXTURE)
    runs = [records.read(FIXTURE / "builds" / run / "record.json") for run in (RUN_A, RUN_B)]
    key = tmp_path / "cosign.pub"
    key.write_text("-----BEGIN PUBLIC KEY-----\nfixture\n-----END PUBLIC KEY-----\n")
    return website.write(make_document(runs), tmp_path / "site", REPO / "templates", key)


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    where = Path(os.environ.get("FACTORY_ARTIFACTS") or tmp_path / "artifacts")
    where = where if where.is_absolute() else REPO / where  # the tests move into the fixture's folder
    where.mkdir(parents=True, exist_ok=True)
    return where


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    binary = find_chromium()
    assert binary is not None  # the marker's skip (laptop) or failure (CI) came first
    with Browser(binary, tmp_path / "profile", tmp_path / "chromium.log") as opened:
        opened.page("Page.enable")
        opened.page("Runtime.enable")
        opened.page("Log.enable")
        opened.page("Network.enable")
        opened.page(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False},
        )
        yield opened


def problems(browser: Browser) -> list[str]:
    """Console errors and warnings, uncaught exceptions, log entries of level warning or error."""
    found = []
    for event in browser.events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            found.append(f"exception: {params['exceptionDetails']}")
        elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "warning", "assert"):
            found.append(f"console.{params['type']}: {params['args']}")
        elif method == "Log.entryAdded" and params["entry"]["level"] in ("error", "warning"):
            found.append(f"log {params['entry']['level']}: {params['entry']['text']}")
    return found


def requests(browser: Browser) -> list[str]:
    return [e["params"]["request"]["url"] for e in browser.events if e.get("method") == "Network.requestWillBeSent"]


def test_the_index_and_an_image_page_load_from_disk_quietly_and_the_filter_works(
    site: Path, browser: Browser, artifacts: Path
) -> None:
    index = (site / "index.html").as_uri()
    browser.open(index)
    assert browser.evaluate("document.title") == "Every image · base images"
    assert browser.evaluate("document.getElementById('filter').hidden") is False  # the script showed it
    everything = ["os:trixie", "node:20-runtime", "python:3.13-runtime", "python:3.13-build"]
    assert browser.evaluate(SHOWN) == everything
    assert browser.evaluate("document.querySelectorAll('svg[role=img]').length") == 1
    browser.screenshot(artifacts / "site-index.png")

    browser.evaluate("document.getElementById('filter-text').focus()")
    browser.page("Input.insertText", {"text": "python"})
    assert browser.evaluate(SHOWN) == ["python:3.13-runtime", "python:3.13-build"]
    assert browser.evaluate("document.getElementById('filter-count').textContent") == "2 of 4 images"
    browser.page("Input.insertText", {"text": " build"})  # every word must match
    assert browser.evaluate(SHOWN) == ["python:3.13-build"]
    browser.evaluate("document.getElementById('filter-text').select()")
    browser.page("Input.insertText", {"text": "2026-04-30"})  # the end of life is text too
    assert browser.evaluate(SHOWN) == ["node:20-runtime"]
    browser.screenshot(artifacts / "site-index-filtered.png")
    browser.evaluate("document.getElementById('filter-text').select()")
    browser.page("Input.insertText", {"text": "no such image"})
    assert browser.evaluate(SHOWN) == []
    assert browser.evaluate("document.getElementById('filter-count').textContent") == "0 of 4 images"

    browser.open((site / "images" / "python-3.13-runtime.html").as_uri())
    assert browser.evaluate("document.querySelector('h1').textContent") == "python:3.13-runtime"
    charts = browser.evaluate("[...document.querySelectorAll('svg[role=img]')].map(s => s.getBBox().width > 100)")
    assert charts == [True, True, True, True]  # two size charts, two trend charts, all drawn
    browser.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    browser.screenshot(artifacts / "site-image.png")
    link = browser.evaluate("document.querySelector('nav a').href")
    assert link == index  # back to the index, relative, on disk

    assert problems(browser) == []
    assert [url for url in requests(browser) if not url.startswith("file://")] == []
    assert {url.rsplit("/", 1)[1] for url in requests(browser)} >= {"index.html", "python-3.13-runtime.html"}


def test_without_javascript_every_row_shows_and_no_dead_filter(site: Path, browser: Browser) -> None:
    browser.page("Emulation.setScriptExecutionDisabled", {"value": True})
    browser.open((site / "index.html").as_uri())
    browser.page("Emulation.setScriptExecutionDisabled", {"value": False})  # to read the page, not to run its own
    assert browser.evaluate("document.getElementById('filter').hidden") is True
    assert len(browser.evaluate(SHOWN)) == 4
    assert problems(browser) == []


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass  # the test says what matters


def test_served_from_a_sub_path_of_a_web_server_it_asks_only_for_its_own_files(site: Path, browser: Browser) -> None:
    """Relative links: the same tree under /catalogue/ of a loopback server; no request leaves that path."""
    root = site.parent / "www"
    shutil.copytree(site, root / "catalogue")
    handler = functools.partial(QuietHandler, directory=str(root))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            base = f"http://127.0.0.1:{server.server_address[1]}/catalogue/"
            browser.open(base + "index.html")
            mark = len(browser.events)
            browser.evaluate("document.querySelector('#images tbody a').click()")
            browser.wait_for("Page.loadEventFired", mark)
            assert browser.evaluate("location.href") == base + "images/os-trixie.html"
            assert browser.evaluate("document.querySelector('h1').textContent") == "os:trixie"
        finally:
            server.shutdown()
            thread.join(timeout=10)
    assert problems(browser) == []
    assert [url for url in requests(browser) if not url.startswith(base)] == []
