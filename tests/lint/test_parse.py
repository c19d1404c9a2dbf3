"""One parsed view of a Dockerfile: stages, ARGs, scripts with their lines, comments, errors."""

from __future__ import annotations

import pytest

from factory.lint.parse import expand, parse_text

SOURCE = "\n".join(
    [
        "ARG BASE_IMAGE=factory.invalid/os:trixie@sha256:" + "0" * 64,  # 1
        "ARG VERSION",  # 2
        "FROM ${BASE_IMAGE} AS build",  # 3
        "# factory ignore=FB070 a reason",  # 4
        "RUN --mount=type=cache,target=/var/cache/apt \\",  # 5
        "    --network=none \\",  # 6
        "    apt-get update && \\",  # 7
        "    # a comment Docker drops",  # 8
        "    apt-get install -y x",  # 9
        "RUN <<EOT",  # 10
        "set -eux",  # 11
        'echo "$VERSION"',  # 12
        "EOT",  # 13
        'SHELL ["/bin/bash", "-eo", "pipefail", "-c"]',  # 14
        "RUN <<EOT",  # 15
        "#!/usr/bin/env python3",  # 16
        "print(1)",  # 17
        "EOT",  # 18
        'RUN ["sh", "-c", "a && b"]',  # 19
        "FROM build",  # 20
        'ENV A=1 B="two words"',  # 21
        "ARG TARGETARCH",  # 22
        "RUN bash <<EOF",  # 23
        "true",  # 24
        "EOF",  # 25
        "",
    ]
)


def test_stages_args_and_env() -> None:
    parsed = parse_text(SOURCE)
    assert parsed.error is None
    assert dict(parsed.global_args) == {"BASE_IMAGE": "factory.invalid/os:trixie@sha256:" + "0" * 64, "VERSION": None}
    first, second = parsed.stages
    assert (first.name, first.base, first.from_line, first.parent) == ("build", "${BASE_IMAGE}", 3, None)
    assert (second.name, second.base, second.parent) == (None, "build", 0)
    assert dict(second.args) == {"TARGETARCH": None} and second.env == {"A", "B"}
    assert [s.index for s in parsed.chain(second)] == [1, 0]
    assert parsed.final is second


def test_scripts_know_their_dockerfile_lines() -> None:
    parsed = parse_text(SOURCE)
    scripts = parsed.scripts
    assert [(s.form, s.dialect, s.first_line) for s in scripts] == [
        ("shell", "sh", 5),
        ("heredoc", "sh", 11),
        ("exec", "sh", 19),
        ("heredoc", "bash", 24),
    ]  # the python heredoc is not a shell script
    shell_form = scripts[0]
    assert [(shell_form.line_of(c.line), c.words[:2]) for c in shell_form.commands] == [
        (7, ("apt-get", "update")),
        (9, ("apt-get", "install")),
    ]
    assert "--network" not in shell_form.text and shell_form.text.count("\n") == 4
    heredoc = scripts[1]
    assert heredoc.text == 'set -eux\necho "$VERSION"\n'
    assert [heredoc.line_of(c.line) for c in heredoc.commands] == [11, 12]
    assert scripts[2].line_of(5) == 19  # exec form: everything maps to the instruction
    assert scripts[3].shell_argv == ("/bin/bash", "-eo", "pipefail", "-c")  # SHELL is inherited by a child stage


def test_comments_outside_instructions_only() -> None:
    parsed = parse_text(SOURCE)
    assert dict(parsed.comments) == {4: "# factory ignore=FB070 a reason"}
    assert parsed.instruction_at(8) is not None and parsed.instruction_at(8).keyword == "RUN"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("source", "error", "line"),
    [
        ("FROM x\nFROBNICATE y\n", "unknown instruction: FROBNICATE", 2),
        ("FROM x\nRUN <<EOT\necho\n", "unterminated heredoc", 2),
        ("LABEL a=b\nFROM x\n", "LABEL before the first FROM (only ARG may come first)", 1),
        ("", "file with no instructions", 1),
    ],
)
def test_parse_errors_are_recorded_not_raised(source: str, error: str, line: int) -> None:
    parsed = parse_text(source)
    assert (parsed.error, parsed.error_line) == (f"BuildKit's parser rejects this file: {error}", line)


def test_escape_directive_and_continuation_comments() -> None:
    parsed = parse_text("# escape=`\nFROM x\nRUN a && `\n  b\n")
    assert parsed.escape == "`"
    assert [parsed.scripts[0].line_of(c.line) for c in parsed.scripts[0].commands] == [3, 4]


@pytest.mark.parametrize(
    ("value", "known", "expected"),
    [
        ("${BASE}", {"BASE": "debian:12"}, "debian:12"),
        ("$BASE", {"BASE": "debian:12"}, "debian:12"),
        ("${BASE:-debian}:${TAG:-12}", {}, "debian:12"),
        ("x${SUFFIX:+-slim}", {"SUFFIX": "1"}, "x-slim"),
        ("${BASE}", {"BASE": None}, None),
        ("${MISSING}", {}, None),
    ],
)
def test_expand(value: str, known: dict[str, str | None], expected: str | None) -> None:
    assert expand(value, known) == expected


ONBUILD_SOURCE = "\n".join(
    [
        "FROM scratch AS base",  # 1
        "ONBUILD USER 0:0",  # 2
        "onbuild  RUN --mount=type=secret,id=t <<EOT",  # 3
        "set -eux",  # 4
        "curl -f https://e.invalid/x | sh",  # 5
        "EOT",  # 6
        'ONBUILD SHELL ["/bin/bash", "-c"]',  # 7
        "ONBUILD RUN apt-get update && \\",  # 8
        "    apt-get install -y x",  # 9
        "FROM base",  # 10
        "USER 10001",  # 11
        "",
    ]
)


def test_an_onbuild_carries_its_instruction_parsed_on_its_own_at_its_lines() -> None:
    parsed = parse_text(ONBUILD_SOURCE)
    assert parsed.error is None
    onbuild = parsed.instructions[2]
    assert (onbuild.keyword, onbuild.flags, onbuild.heredocs) == ("ONBUILD", (), ())  # what the package gives
    base = parsed.stages[0]
    assert [(t.label, t.flags, t.args, t.start_line, t.end_line, t.onbuild) for t in base.triggers] == [
        ("ONBUILD USER", (), ("0:0",), 2, 2, True),
        ("ONBUILD RUN", ("--mount=type=secret,id=t",), ("<<EOT",), 3, 6, True),
        ("ONBUILD SHELL", (), ("/bin/bash", "-c"), 7, 7, True),
        ("ONBUILD RUN", (), ("apt-get update &&     apt-get install -y x",), 8, 9, True),
    ]
    assert base.triggers[1].heredocs == (("EOT", "set -eux\ncurl -f https://e.invalid/x | sh\n"),)
    assert onbuild.trigger is base.triggers[1]
    assert [t.keyword for t in parsed.instructions_and_triggers] == [
        "FROM", "ONBUILD", "USER", "ONBUILD", "RUN", "ONBUILD", "SHELL", "ONBUILD", "RUN", "FROM", "USER"
    ]  # fmt: skip


def test_trigger_scripts_map_to_dockerfile_lines_and_the_stage_runs_the_parents_triggers_first() -> None:
    parsed = parse_text(ONBUILD_SOURCE)
    heredoc, shell_form = parsed.stages[0].scripts
    assert (heredoc.form, heredoc.shell_argv) == ("heredoc", ("/bin/sh", "-c"))
    assert [(heredoc.line_of(c.line), c.program) for c in heredoc.commands] == [(4, "set"), (5, "curl"), (5, "sh")]
    assert (shell_form.form, shell_form.dialect) == ("shell", "bash")  # after the ONBUILD SHELL
    assert [(shell_form.line_of(c.line), c.args[0]) for c in shell_form.commands] == [(8, "update"), (9, "install")]
    assert "ONBUILD" not in shell_form.text.upper() and "RUN" not in shell_form.text
    assert [(i.label, i.start_line) for i in parsed.sequence(parsed.stages[1])] == [
        ("ONBUILD", 2),
        ("ONBUILD", 3),
        ("ONBUILD", 7),
        ("ONBUILD", 8),
        ("ONBUILD USER", 2),
        ("ONBUILD RUN", 3),
        ("ONBUILD SHELL", 7),
        ("ONBUILD RUN", 8),
        ("USER", 11),
    ]


def test_a_trigger_keeps_the_escape_directive_of_its_file() -> None:
    parsed = parse_text("# escape=`\nFROM scratch\nONBUILD RUN a && `\n  b\n")
    (trigger,) = parsed.stages[0].triggers
    assert (trigger.args, trigger.start_line, trigger.end_line) == (("a &&   b",), 3, 4)
    assert [parsed.scripts[0].line_of(c.line) for c in parsed.scripts[0].commands] == [3, 4]
