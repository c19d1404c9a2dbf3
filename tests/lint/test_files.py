"""What the lint reads: regular files only, bounded in bytes and lines, numbered as BuildKit numbers them."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from factory.cli import main
from factory.errors import ExitCode, UsageProblem
from factory.lint import ignores, lint_paths, parse, runner
from factory.lint.model import TOOLS
from tests.lint.conftest import HEAD_LINES, POLICY, write

TINI = ["USER 10001:10001", 'ENTRYPOINT ["/usr/bin/tini", "--"]']
FIFO_MESSAGE = "a FIFO, not a regular file: only Dockerfiles (or links to them) can be linted"


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    """A FIFO named Dockerfile; should a reader block on it, a writer comes after 10 s so the test fails, not hangs."""
    path = tmp_path / "fifo" / "Dockerfile"
    path.parent.mkdir()
    os.mkfifo(path)
    done = threading.Event()

    def unblock() -> None:
        if not done.wait(10):
            # non-blocking: succeeds only when a reader is blocked on the FIFO, and releases it
            with contextlib.suppress(OSError):
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))

    thread = threading.Thread(target=unblock, daemon=True)
    thread.start()
    yield path
    done.set()
    thread.join()


def test_a_fifo_given_as_a_path_is_refused_before_it_is_opened(fifo: Path) -> None:
    with pytest.raises(UsageProblem) as raised:
        runner.expand([fifo])
    assert str(raised.value) == f"{fifo}: {FIFO_MESSAGE}"
    assert raised.value.exit_code == ExitCode.USAGE
    with pytest.raises(UsageProblem, match="a FIFO"):
        lint_paths([fifo], policy=POLICY, tools_selected=())


def test_an_ignore_file_that_is_a_fifo_is_refused(fifo: Path) -> None:
    with pytest.raises(UsageProblem, match="a FIFO"):
        ignores.load(fifo)


def test_parse_file_checks_the_open_file_itself(fifo: Path) -> None:
    # expand() may have seen a regular file that was swapped for a FIFO since: the descriptor decides.
    with pytest.raises(UsageProblem, match="a FIFO"):
        parse.parse_file(fifo)


def test_the_cli_exits_2_naming_the_fifo(fifo: Path) -> None:
    result = CliRunner().invoke(main, ["lint", "--no-tools", str(fifo)])
    assert result.exit_code == 2
    assert f"{fifo}: {FIFO_MESSAGE}" in result.stderr


def test_sockets_devices_and_links_to_them_are_refused(tmp_path: Path) -> None:
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(tmp_path / "sock"))
        link = tmp_path / "Dockerfile"
        link.symlink_to("/dev/null")
        kinds = ((tmp_path / "sock", "a socket"), (Path("/dev/null"), "a character device"), (link, "a char"))
        for path, kind in kinds:
            with pytest.raises(UsageProblem, match=kind):
                runner.expand([path])
            with pytest.raises(UsageProblem, match=kind):
                parse.parse_file(path)
    finally:
        server.close()


def test_a_missing_path_is_a_usage_problem(tmp_path: Path) -> None:
    with pytest.raises(UsageProblem, match="No such file or directory"):
        runner.expand([tmp_path / "Dockerfile"])


def test_links_to_regular_files_are_read_and_a_directory_search_skips_the_rest(tmp_path: Path, fifo: Path) -> None:
    real = write(tmp_path / "real", [*HEAD_LINES, *TINI])
    link = fifo.parent / "linked.Dockerfile"
    link.symlink_to(real)
    assert runner.expand([fifo.parent]) == [link]  # the FIFO below the directory is passed over
    report = lint_paths([link], policy=POLICY, tools_selected=())
    assert report.findings == ()


def test_a_file_over_the_byte_limit_is_reported_and_neither_parsed_nor_given_to_the_tools(tmp_path: Path) -> None:
    lines = [*HEAD_LINES, "LABEL x=" + "a" * parse.MAX_BYTES, *TINI]
    path = write(tmp_path, lines)
    size = path.stat().st_size
    report = lint_paths([path], policy=POLICY, tools_selected=TOOLS)
    assert [str(f) for f in report.findings] == [
        f"{runner.display_name(path)}:1 FB000 error: the file has {size:,} bytes, over the lint's limit of"
        " 1,048,576 bytes (1 MiB): it is not parsed and not given to the tools"
    ]
    assert parse.parse_text(path.read_text()).error == report.findings[0].message


def test_a_file_over_the_line_limit_is_reported_and_not_parsed(tmp_path: Path) -> None:
    body = ["RUN <<EOT", "set -eux", *(["true"] * (parse.MAX_LINES - len(HEAD_LINES) - len(TINI) - 3)), "EOT"]
    at_limit = [*HEAD_LINES, *body, *TINI]
    assert len(at_limit) == parse.MAX_LINES
    assert parse.parse_text("\n".join(at_limit) + "\n").error is None
    over = parse.parse_text("\n".join([*at_limit, "# one more"]) + "\n")
    assert (over.refused, over.instructions, over.error) == (
        True,
        (),
        "the file has 10,001 lines, over the lint's limit of 10,000 lines (BuildKit's parser takes time quadratic"
        " in a heredoc's length): it is not parsed and not given to the tools",
    )


@pytest.mark.parametrize("separator", ["\x0c", "\x1c", "\u2028", "\r", "\x85"])
def test_lines_are_numbered_as_buildkit_numbers_them(tmp_path: Path, separator: str) -> None:
    # str.splitlines (and newline translation) would see two lines in line 3, and shift the rest.
    path = tmp_path / "Dockerfile"
    lines = [*HEAD_LINES, f"# a{separator}b", "# factory ignore=FB070 the base sets it", "RUN apt-get install -y x"]
    path.write_bytes(("\n".join([*lines, *TINI]) + "\n").encode())
    parsed = parse.parse_file(path)
    assert parsed.instructions[2].start_line == 5
    assert dict(parsed.comments) == {3: f"# a{separator}b", 4: "# factory ignore=FB070 the base sets it"}
    assert lint_paths([path], policy=POLICY, tools_selected=()).findings == ()
