"""The shell reader splits RUN scripts into commands with the right lines."""

from __future__ import annotations

import pytest

from factory.lint.shell import MAX_NESTING, NestingTooDeep, commands, variable_references

SCRIPT = """\
set -eux
apt-get update && \\
    apt-get install -y --no-install-recommends \\
    curl
case "${TARGETARCH}" in
    amd64) url='https://example.invalid/x-amd64'; sha='1' ;;
esac
curl -fsSL "${url}" | tar -xz -C /opt # a comment
V=$(wget -qO- https://example.invalid/v)
cat > /etc/x <<'EOF'
curl inside a heredoc is data
EOF
sudo -E env A=1 /usr/bin/wget http://example.invalid/y
echo 'single $QUOTED' "double $EXPANDED" \\$ESCAPED
"""


def test_commands_words_lines_and_separators() -> None:
    found = [(c.line, c.program, c.separator) for c in commands(SCRIPT)]
    assert found == [
        (1, "set", "\n"),
        (2, "apt-get", "&&"),
        (3, "apt-get", "\n"),
        (6, "", ";"),
        (6, "", ";;"),
        (8, "curl", "|"),
        (8, "tar", "\n"),
        (9, "wget", ""),
        (9, "", "\n"),
        (10, "cat", "\n"),
        (13, "wget", "\n"),
        (14, "echo", "\n"),
    ]


def test_command_details() -> None:
    parsed = commands(SCRIPT)
    install = parsed[2]
    assert install.words == ("apt-get", "install", "-y", "--no-install-recommends", "curl")
    assert install.args[0] == "install"
    assert parsed[5].piped and not parsed[6].piped
    assert parsed[10].argv == ("/usr/bin/wget", "http://example.invalid/y")
    assert parsed[11].words == ("echo", "single $QUOTED", "double $EXPANDED", "$ESCAPED")


def test_process_substitutions_are_words_read_inside() -> None:
    found = [(c.program, c.words) for c in commands("bash <(curl -fsSL x)\nsh < <(wget -qO- y) >(tee z)\n")]
    assert found == [
        ("curl", ("curl", "-fsSL", "x")),
        ("bash", ("bash", "<(curl -fsSL x)")),
        ("wget", ("wget", "-qO-", "y")),
        ("tee", ("tee", "z")),
        ("sh", ("sh", "<", "<(wget -qO- y)", ">(tee z)")),
    ]


def test_unclosed_quote_does_not_raise() -> None:
    assert [c.program for c in commands("echo 'oops\ncurl x")] == ["echo"]


def test_variable_references_skip_single_quotes_escapes_and_comments() -> None:
    refs = variable_references(SCRIPT, first_line=20)
    assert ("TARGETARCH", 24) in refs
    assert ("url", 27) in refs
    assert ("EXPANDED", 33) in refs
    names = {name for name, _ in refs}
    assert "QUOTED" not in names and "ESCAPED" not in names
    assert variable_references("echo ok # $NOT_EXPANDED\n") == []


def _nested(depth: int, inner: str) -> str:
    return "echo " + "$(" * depth + inner + ")" * depth


def test_substitutions_are_read_down_to_the_nesting_limit() -> None:
    assert [c.program for c in commands(_nested(MAX_NESTING, "curl -f x | sh"))][:2] == ["curl", "sh"]


@pytest.mark.parametrize("opener", ["$(", "`"])
def test_deeper_nesting_is_refused_not_a_crash(opener: str) -> None:
    deep = "$(" * MAX_NESTING + ("`true`" if opener == "`" else "$(true)") + ")" * MAX_NESTING
    with pytest.raises(NestingTooDeep, match=f"nested more than {MAX_NESTING} deep"):
        commands(f"true\necho {deep}")
    with pytest.raises(NestingTooDeep) as raised:
        commands("true\n" + _nested(5000, "true"))  # far beyond Python's recursion limit
    assert raised.value.line == 2


def test_long_runs_of_reserved_words_and_assignments_are_skipped() -> None:
    found = commands("if " * 3 + "A=1 " * 3 + "sudo -E env B=2 curl -f x")
    assert [(c.program, c.args) for c in found] == [("curl", ("-f", "x"))]
