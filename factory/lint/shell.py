"""A small POSIX-shell reader: a script into simple commands with their lines.

Rules need to know which programs a RUN script calls, with which words, on
which line, and what connects them (`&&`, `|`, ...). This is not a shell
parser: it reads quotes, escapes, line continuations, comments, `$(...)`,
`${...}`, process substitutions `<(...)` and heredocs well enough to split commands, and never fails on
malformed input (an unclosed quote ends at the end of the script); only
command substitutions nested deeper than MAX_NESTING are refused
(`NestingTooDeep`), so that no script can exhaust the stack or make reading
it quadratic. Every pass is linear in the script's length.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

# Words that open or close compound commands; they are not programs.
RESERVED = frozenset({"if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}", "time"})
COMPOUND_HEADERS = frozenset({"for", "case", "select", "esac", "function"})
# Programs that run the command given in their arguments.
WRAPPERS = frozenset({"sudo", "command", "exec", "nohup", "env"})
_OPERATORS = ("&&", "||", ";;", "|&", ";", "|", "&", "(", ")")
_REDIRECTS = ("&>>", "&>", "<<<", "<<-", "<<", ">>", ">&", "<&", ">|", "<>", ">", "<")
# `$(...)` and backticks read inside each other this deep at most: real scripts nest two or
# three levels; each level re-reads its text, and Python's stack is finite.
MAX_NESTING = 32


class NestingTooDeep(ValueError):
    """A script nests command substitutions deeper than MAX_NESTING: its commands cannot all be read."""

    def __init__(self, line: int) -> None:
        self.line = line  # the script line where the substitution too deep opens
        super().__init__(f"command substitutions nested more than {MAX_NESTING} deep")


@dataclass(frozen=True)
class Command:
    """One simple command: its words (quotes removed), the script line it starts on, what follows it."""

    line: int
    words: tuple[str, ...]
    separator: str  # the operator after it: "&&", "||", ";", "|", "&", "\n" or "" at the end

    @functools.cached_property
    def argv(self) -> tuple[str, ...]:
        """The words from the program on: leading `VAR=value` words and wrappers (sudo, env...) skipped."""
        words, start = self.words, 0
        while start < len(words):
            first = words[start]
            if _is_assignment(first):
                start += 1
            elif first.rsplit("/", 1)[-1] in WRAPPERS and start + 1 < len(words):
                start += 1
                while start < len(words) and (words[start].startswith("-") or _is_assignment(words[start])):
                    start += 1
            else:
                break
        return words[start:]

    @property
    def program(self) -> str:
        """Base name of the program run ('' for a bare assignment)."""
        argv = self.argv
        return argv[0].rsplit("/", 1)[-1] if argv else ""

    @property
    def args(self) -> tuple[str, ...]:
        """The words after the program."""
        return self.argv[1:]

    @property
    def piped(self) -> bool:
        """True when this command's output feeds the next command through a pipe."""
        return self.separator in ("|", "|&")


def _is_assignment(word: str) -> bool:
    name, eq, _ = word.partition("=")
    return bool(eq) and name.isidentifier()


@dataclass
class _Reader:
    """Character-level state of one pass over a script."""

    text: str
    line: int
    nesting: int = 0  # how many substitutions this text sits inside
    pos: int = 0
    commands: list[Command] = field(default_factory=list)
    words: list[str] = field(default_factory=list)
    word: list[str] = field(default_factory=list)
    in_word: bool = False
    start_line: int = 0
    word_line: int = 0
    depth: int = 0  # open `(` subshells, to tell a case pattern's `)` from a subshell's
    heredocs: list[tuple[str, bool]] = field(default_factory=list)  # (delimiter, strip tabs)

    def end_word(self) -> None:
        if self.in_word:
            if not self.words:
                self.start_line = self.word_line
            self.words.append("".join(self.word))
        self.word = []
        self.in_word = False

    def begin_word(self) -> None:
        if not self.in_word:
            self.in_word = True
            self.word_line = self.line

    def end_command(self, separator: str) -> None:
        self.end_word()
        words, start = self.words, 0
        while start < len(words) and words[start] in RESERVED:
            start += 1
        if start < len(words) and words[start] not in COMPOUND_HEADERS:
            self.commands.append(Command(self.start_line, tuple(words[start:]), separator))
        self.words = []


def commands(script: str, first_line: int = 1) -> tuple[Command, ...]:
    """The simple commands of `script` in order; lines count from `first_line`.

    Raises NestingTooDeep for substitutions nested beyond MAX_NESTING.
    """
    return tuple(sorted(_commands(script, first_line, 0), key=lambda c: c.line))


def _commands(script: str, first_line: int, nesting: int) -> list[Command]:
    reader = _Reader(script, first_line, nesting)
    _read(reader)
    reader.end_command("")
    return reader.commands


def _read(r: _Reader) -> None:
    text = r.text
    n = len(text)
    while r.pos < n:
        c = text[r.pos]
        if c == "\\":
            if r.pos + 1 < n and text[r.pos + 1] == "\n":
                r.pos += 2
                r.line += 1
                continue
            r.begin_word()
            if r.pos + 1 < n:
                r.word.append(text[r.pos + 1])
            r.pos += 2
        elif c == "'":
            r.begin_word()
            end = text.find("'", r.pos + 1)
            end = n if end < 0 else end
            r.word.append(text[r.pos + 1 : end])
            r.line += text.count("\n", r.pos, end)
            r.pos = end + 1
        elif c == '"':
            r.begin_word()
            _double_quoted(r)
        elif c == "`":
            r.begin_word()
            end = text.find("`", r.pos + 1)
            end = n if end < 0 else end
            _nested(r, text[r.pos + 1 : end])
            r.word.append(text[r.pos : end + 1])
            r.line += text.count("\n", r.pos, end)
            r.pos = end + 1
        elif (c == "$" and text.startswith(("$(", "${"), r.pos)) or (
            c in "<>" and not r.in_word and text.startswith("(", r.pos + 1)  # `<(...)`: a word, read inside too
        ):
            r.begin_word()
            _dollar(r)
        elif c == "#" and not r.in_word:
            end = text.find("\n", r.pos)
            r.pos = n if end < 0 else end
        elif c in " \t\r":
            r.end_word()
            r.pos += 1
        elif c == "\n":
            r.end_command("\n")
            r.pos += 1
            r.line += 1
            _skip_heredocs(r)
        elif c in ";&|()" and not r.text.startswith("&>", r.pos):
            _operator(r)
        elif c in "<>&" or (c.isdigit() and not r.in_word and text[r.pos + 1 : r.pos + 2] in ("<", ">")):
            _redirect(r)
        else:
            r.begin_word()
            r.word.append(c)
            r.pos += 1


def _operator(r: _Reader) -> None:
    op = next(o for o in _OPERATORS if r.text.startswith(o, r.pos))
    r.pos += len(op)
    if op == "(":
        r.depth += 1
        r.end_command(op)
    elif op == ")":
        if r.depth > 0:
            r.depth -= 1
            r.end_command(op)
        else:  # the end of a case pattern such as `amd64)`: the words before it are no command
            r.end_word()
            r.words = []
    else:
        r.end_command(op)


def _redirect(r: _Reader) -> None:
    r.end_word()
    start = r.pos
    while r.text[r.pos].isdigit():
        r.pos += 1
    op = next((o for o in _REDIRECTS if r.text.startswith(o, r.pos)), r.text[r.pos])
    r.pos += len(op)
    if not r.words:
        r.start_line = r.line
    r.words.append(r.text[start : r.pos])
    if op in ("<<", "<<-"):
        while r.pos < len(r.text) and r.text[r.pos] in " \t":
            r.pos += 1
        end = r.pos
        while end < len(r.text) and r.text[end] not in " \t\n;&|<>()":
            end += 1
        delimiter = r.text[r.pos : end].replace('"', "").replace("'", "").replace("\\", "")
        r.words.append(delimiter)
        r.heredocs.append((delimiter, op == "<<-"))
        r.pos = end


def _skip_heredocs(r: _Reader) -> None:
    """After a newline: skip the bodies of heredocs opened on the line just ended."""
    pending, r.heredocs = r.heredocs, []
    for delimiter, strip_tabs in pending:
        while r.pos < len(r.text):
            end = r.text.find("\n", r.pos)
            end = len(r.text) if end < 0 else end
            line = r.text[r.pos : end]
            r.pos = end + 1
            r.line += 1
            if (line.lstrip("\t") if strip_tabs else line) == delimiter:
                break


def _double_quoted(r: _Reader) -> None:
    text, n = r.text, len(r.text)
    r.pos += 1
    while r.pos < n and text[r.pos] != '"':
        c = text[r.pos]
        if c == "\\" and r.pos + 1 < n:
            following = text[r.pos + 1]
            if following == "\n":
                r.line += 1
            elif following in '"\\$`':
                r.word.append(following)
            else:
                r.word.append(c + following)
            r.pos += 2
        elif c == "$" and text.startswith(("$(", "${"), r.pos):
            _dollar(r)
        else:
            if c == "\n":
                r.line += 1
            r.word.append(c)
            r.pos += 1
    r.pos += 1


def _dollar(r: _Reader) -> None:
    """`$(...)`, `$((...))`, `${...}` or `<(...)`: kept verbatim in the word; a command or process
    substitution is read too."""
    text = r.text
    opener = text[r.pos + 1]
    closer = ")" if opener == "(" else "}"
    depth, i, n = 0, r.pos + 1, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "'" and opener == "(":
            close = text.find("'", i + 1)
            i = n if close < 0 else close + 1
            continue
        if c == opener:
            depth += 1
        elif c == closer:
            depth -= 1
            if depth == 0:
                break
        i += 1
    inner = text[r.pos + 2 : i]
    if opener == "(" and not inner.startswith("("):
        _nested(r, inner)
    r.word.append(text[r.pos : i + 1])
    r.line += text.count("\n", r.pos, i)
    r.pos = i + 1


def _nested(r: _Reader, inner: str) -> None:
    if r.nesting >= MAX_NESTING:
        raise NestingTooDeep(r.line)
    r.commands.extend(_commands(inner, r.line, r.nesting + 1))


def variable_references(script: str, first_line: int = 1) -> list[tuple[str, int]]:
    """Every `$NAME` / `${NAME...}` the shell would expand (not in single quotes, not escaped), with its line."""
    found: list[tuple[str, int]] = []
    i, n, line = 0, len(script), first_line
    in_double = False
    while i < n:
        c = script[i]
        if c == "\n":
            line += 1
        elif c == "\\":
            if script[i + 1 : i + 2] == "\n":
                line += 1
            i += 2
            continue
        elif c == "'" and not in_double:
            close = script.find("'", i + 1)
            close = n if close < 0 else close
            line += script.count("\n", i, close)
            i = close + 1
            continue
        elif c == '"':
            in_double = not in_double
        elif c == "#" and not in_double and (i == 0 or script[i - 1] in " \t\n;&|("):
            close = script.find("\n", i)
            i = n if close < 0 else close
            continue
        elif c == "$":
            name = _name_after_dollar(script, i + 1)
            if name:
                found.append((name, line))
        i += 1
    return found


def _name_after_dollar(script: str, i: int) -> str:
    if script[i : i + 1] == "{":
        i += 1
    j = i
    while j < len(script) and (script[j].isalnum() or script[j] == "_"):
        j += 1
    name = script[i:j]
    return name if name and not name[0].isdigit() else ""
