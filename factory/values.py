"""The kinds of value a data file may hold, each checked once, at the boundary.

Every string of stacks/*.yaml, pins, factory.yaml and the ignore file has one
kind (tests/test_schema.py proves that no string rule lacks one). A kind is a
full-match pattern (cerberus' own `regex` appends `$`, which also matches
before a final newline), a length limit, and for every kind the refusal of
each character that Python (`str.splitlines`), the Dockerfile parser or a
shell may read as a line break or a control character. So nothing a
definition says can end a Dockerfile instruction or a shell command early,
however the templates use it; the templates quote what they emit as well.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from factory.model import MAX_PUBLISHED_TAG

# Unicode categories refused in every value: controls (C0, DEL, C1: \v \f \x1c-\x1e
# \x85 ...), format characters (bidi overrides that make a diff lie to a reviewer,
# zero-width characters), surrogates, private use, unassigned, and the line and
# paragraph separators U+2028/U+2029.
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
SHOWN_LENGTH = 60  # an error never prints more of a value than this
# unicodedata has no names for controls; these are the ones people meet.
_CONTROL_NAMES = {
    0x00: "NULL",
    0x09: "TAB",
    0x0A: "LINE FEED",
    0x0B: "LINE TABULATION",
    0x0C: "FORM FEED",
    0x0D: "CARRIAGE RETURN",
    0x1B: "ESCAPE",
    0x1C: "FILE SEPARATOR",
    0x1D: "GROUP SEPARATOR",
    0x1E: "RECORD SEPARATOR",
    0x7F: "DELETE",
    0x85: "NEXT LINE",
}


def refused_character(text: str, allow: str = "") -> tuple[int, str] | None:
    """(position, description) of the first refused character of `text`, or None."""
    for position, char in enumerate(text):
        if char in allow:
            continue
        if unicodedata.category(char) in REFUSED_CATEGORIES:
            name = _CONTROL_NAMES.get(ord(char)) or unicodedata.name(char, "CONTROL CHARACTER")
            return position, f"U+{ord(char):04X} {name}"
    return None


def shown(value: object) -> str:
    """A value as an error message shows it: repr (control characters escaped), cut short.

    Made from at most a little more than SHOWN_LENGTH characters of the value, so showing a page of text,
    a list of ten thousand aliases or an integer of thousands of digits (whose repr Python refuses) costs
    nothing and never fails.
    """
    text = _short_repr(value, SHOWN_LENGTH + 1)
    if len(text) <= SHOWN_LENGTH:
        return text
    size = f" ({len(value)} chars)" if isinstance(value, str) else ""
    return text[: SHOWN_LENGTH - 5] + "...'" + size


_SHOWN_BITS = 200  # about 60 decimal digits: an integer longer than a message is shown by its size


def _short_repr(value: object, budget: int) -> str:
    """repr(value), or a prefix of it at least `budget` characters long."""
    if isinstance(value, str | bytes):
        return repr(value[:budget])
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > _SHOWN_BITS:
        return f"<an integer of about {int(value.bit_length() * math.log10(2)) + 1} digits>"
    if isinstance(value, list | tuple | set | frozenset | dict):
        items = value.items() if isinstance(value, dict) else value
        opener, closer = ("{", "}") if isinstance(value, dict | set | frozenset) else ("[", "]")
        text = opener
        for item in items:
            if len(text) > budget:
                return text + "..."
            shown_item = (
                f"{_short_repr(item[0], budget)}: {_short_repr(item[1], budget)}"
                if isinstance(value, dict)
                else _short_repr(item, budget)
            )
            text += (", " if text != opener else "") + shown_item
        return text + closer
    return repr(value)


def _no_dot_segments(value: str) -> str | None:
    segments = value.split("/")
    if any(s in (".", "..") for s in segments):
        return "must not contain '.' or '..' segments (it could reach outside its directory)"
    return None


# What a copy-from may not read out of its image, and a copy-from or download may not write (nor a
# directory holding one of them, which would copy or replace it whole): the account and password
# databases, sudo, PAM and ssh settings, the loader's preload list, root's home, and the kernel's
# and the runtime's filesystems (/proc, /sys, /dev, /run with its secret mounts). The image's own
# scripts run as root anyway; these are the fields a reviewer reads as "just copies a file".
SENSITIVE_PATHS = (
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/passwd",
    "/etc/passwd-",
    "/etc/group",
    "/etc/group-",
    "/etc/subuid",
    "/etc/subgid",
    "/etc/sudoers",
    "/etc/sudoers.d",
    "/etc/pam.d",
    "/etc/security",
    "/etc/ssh",
    "/etc/ld.so.preload",
    "/root",
    "/proc",
    "/sys",
    "/dev",
    "/run",
    "/var/run",
)


def _not_sensitive(value: str) -> str | None:
    segments = [s for s in value.split("/") if s]
    for sensitive in SENSITIVE_PATHS:
        parts = sensitive.strip("/").split("/")
        if segments[: len(parts)] == parts:
            return f"must not be {sensitive} or a path under it (a sensitive path: see factory/values.py)"
        if parts[: len(segments)] == segments:
            return f"must not be a directory holding {sensitive} (a sensitive path: see factory/values.py)"
    return None


def _not_root_dir(value: str) -> str | None:
    return _no_dot_segments(value) or ("must not be / itself" if value.rstrip("/") == "" else None)


def _copy_source(value: str) -> str | None:
    return _no_dot_segments(value) or _not_sensitive(value)


def _destination(value: str) -> str | None:
    return _not_root_dir(value) or _not_sensitive(value)


def _no_terminator(value: str) -> str | None:
    if not value.strip():
        return "a script of blank lines runs nothing: write a command or leave the key out"
    for number, line in enumerate(value.split("\n"), 1):
        if line.strip() == HEREDOC_TERMINATOR:
            return f"line {number} is the heredoc terminator {HEREDOC_TERMINATOR!r} on its own"
    return None


def _not_root(value: str) -> str | None:
    return "must not be root (the images run as a non-root account)" if value == "root" else None


# The heredoc terminator every rendered RUN uses; no script line may equal it.
HEREDOC_TERMINATOR = "EOT"
MAX_SCRIPT_LINES = 2000


@dataclass(frozen=True)
class Kind:
    """One kind of value: what it must look like, how long it may be, what else it must satisfy."""

    name: str
    expect: str  # completes "expected ...": what a valid value looks like
    pattern: str | None = None  # full match; None: any text of allowed characters
    max_length: int = 256
    multiline: bool = False  # scripts: newlines and tabs allowed, every other control refused
    max_lines: int | None = None  # scripts: how many lines
    why_max: str = ""  # why max_length (and max_lines) are what they are, when that is not obvious
    check: Callable[[str], str | None] | None = None

    def problem(self, value: str) -> str | None:
        """Why `value` is not of this kind (one line, value shown short), or None when it is."""
        bad = refused_character(value, "\n\t" if self.multiline else "")
        if bad is not None:
            position, what = bad
            if self.multiline:
                return f"a script may hold newlines and tabs but no other control character; {what} at {position}"
            return f"must be one line of printable text, but has {what} at {position}: got {shown(value)}"
        why = f" ({self.why_max})" if self.why_max else ""
        if len(value) > self.max_length:
            return f"is {len(value)} characters long, more than the {self.max_length} allowed{why}"
        lines = value.rstrip("\n").count("\n") + 1
        if self.max_lines is not None and lines > self.max_lines:
            return f"is {lines} lines long, more than the {self.max_lines} allowed{why}"
        if self.pattern is not None and re.fullmatch(self.pattern, value) is None:
            return f"expected {self.expect}, got {shown(value)}"
        if self.check is not None:
            message = self.check(value)
            if message is not None:
                return message if self.multiline else f"{message}: got {shown(value)}"
        return None


_HOST = r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?"
_REPO = r"[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"sha256:[0-9a-f]{64}"
_URL = r"https?://[^\s'\"\\`$;|&<>(){}*?\[\]!#]+"
_SEGMENT = r"[A-Za-z0-9._+@-]+"

KINDS: Mapping[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("name", "a lower-case name (letters, digits, '-')", r"[a-z0-9][a-z0-9-]{0,62}"),
        Kind("stem", "a file name such as 'python' or '_shared'", r"_?[a-z0-9][a-z0-9-]{0,62}"),
        Kind(
            "package",
            "a Debian package name, optionally pinned as name=version",
            r"[a-z0-9][a-z0-9+.-]+(:[a-z0-9]+)?(=[A-Za-z0-9.+~:-]+)?",
            max_length=200,
        ),
        Kind(
            "tag",
            f"an image tag ([A-Za-z0-9_.-], at most {MAX_PUBLISHED_TAG})",
            _TAG,
            max_length=MAX_PUBLISHED_TAG,
            why_max="publish adds a dated tag such as -20261207.1, and a tag holds at most 128",
        ),
        Kind("tag_suffix", "'' or a suffix such as '-build'", r"(-[A-Za-z0-9_.]+)?", max_length=64),
        Kind("image", "an image repository name such as 'python' or 'lang/python'", _REPO, max_length=128),
        Kind(
            "pinned_image",
            "an image reference pinned by digest (registry/name[:tag]@sha256:<64 hex>)",
            rf"{_HOST}(/[a-z0-9._-]+)+(:{_TAG})?@{_DIGEST}",
        ),
        Kind("reference", "an image reference (registry/name[:tag])", rf"{_HOST}(/[a-z0-9._-]+)+(:{_TAG})?"),
        Kind("digest", "sha256:<64 hex>", _DIGEST),
        Kind("target_id", "a target id such as 'python:3.13-runtime'", rf"[a-z0-9][a-z0-9./_-]*:{_TAG}"),
        Kind(
            "abs_path",
            "an absolute path of [A-Za-z0-9._+@-] segments",
            rf"/({_SEGMENT}/?)*",
            check=_no_dot_segments,
        ),
        Kind(
            "dest_path",
            "an absolute path of [A-Za-z0-9._+@-] segments",
            rf"/({_SEGMENT}/?)*",
            check=_destination,
        ),
        Kind(
            "source_path",
            "an absolute path of [A-Za-z0-9._+@-] segments",
            rf"/({_SEGMENT}/?)*",
            check=_copy_source,
        ),
        Kind(
            "glob_path",
            "an absolute path pattern ([A-Za-z0-9._+@-], * and ?)",
            r"/[A-Za-z0-9._+@*?/-]*",
            check=_no_dot_segments,
        ),
        Kind("url", "an http(s) URL without quotes, spaces, globs or shell characters", _URL, max_length=2000),
        Kind(
            "snapshot_url",
            "an http(s) URL containing {snapshot}, e.g. http://mirror.internal/archive/debian/{snapshot}",
            r"https?://[^\s'\"\\`$;|&<>(){}*?\[\]!#]+\{snapshot\}[^\s'\"\\`$;|&<>(){}*?\[\]!#]*",
            max_length=2000,
        ),
        Kind("sha256", "a sha256 digest: 64 lower-case hex digits", r"[0-9a-f]{64}"),
        Kind("version", "a version string such as '3.13' (quote it in YAML)", r"[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}"),
        Kind("line", "one line of text", max_length=1000),
        Kind(
            "script",
            "a shell script",
            max_length=64 * 1024,
            max_lines=MAX_SCRIPT_LINES,
            multiline=True,
            check=_no_terminator,
            # a variant's and a version's scripts go into one Dockerfile, which the lint reads up to 10,000 lines
            why_max="the Dockerfile it is rendered into must stay within what the lint reads",
        ),
        Kind("command_word", "one word of a command", max_length=1000),
        Kind("env_name", "an environment variable name", r"[A-Za-z_][A-Za-z0-9_]*", max_length=128),
        Kind("env_value", "one line of text", max_length=4096),
        Kind("label_key", "a reverse-DNS label key", r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?", max_length=128),
        Kind("mode", "an octal file mode such as '0755' (quoted)", r"0[0-7]{3}"),
        Kind("snapshot", "a snapshot timestamp such as 20251120T000000Z", r"[0-9]{8}T[0-9]{6}Z"),
        Kind("timezone", "a tz database name such as UTC", r"[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*", max_length=64),
        Kind("account", "a POSIX account name (not root)", r"[a-z_][a-z0-9_-]{0,30}", check=_not_root),
        Kind(
            "endpoint",
            "an engine endpoint: unix:///path, tcp://host:port, ssh://user@host or kubernetes://namespace",
            r"(unix:///[A-Za-z0-9._/-]+|tcp://[A-Za-z0-9.-]+:[0-9]+|ssh://([A-Za-z0-9._-]+@)?[A-Za-z0-9.-]+(:[0-9]+)?"
            r"|kubernetes://[a-z0-9.-]+)",
        ),
        Kind("registry", "a registry host[:port] such as 127.0.0.1:5000", r"[A-Za-z0-9.-]+(:[0-9]+)?"),
        Kind("repo_path", "a repository path such as 'factory'", _REPO, max_length=128),
        Kind("repo_glob", "a repository pattern such as 'registry.example/base/*'", r"[A-Za-z0-9._:/*?-]+"),
        Kind("file_path", "a file path", r"[A-Za-z0-9._/~+-]+", max_length=1024),
        Kind("frontend", "a frontend image", rf"[a-z0-9./_-]+(:{_TAG})?(@{_DIGEST})?"),
        Kind("finding_code", "a finding code such as FB041, DL3008, SC2086 or DS-0026", r"[A-Z]{2,}-?[0-9]{3,5}"),
        Kind("path_glob", "a path pattern", max_length=1024),
        Kind(
            "vulnerability_id",
            "a vulnerability id such as CVE-2025-12345, GHSA-xxxx-xxxx-xxxx or DLA-1234-1",
            r"(CVE-[0-9]{4}-[0-9]{4,}|GHSA(-[23456789cfghjmpqrvwx]{4}){3}|[A-Z]{2,10}-[0-9A-Za-z.:-]{1,40})",
        ),
        Kind(
            "purl_glob",
            "a package URL without version, e.g. pkg:deb/debian/openssl (* allowed)",
            r"pkg:[a-z]+/[A-Za-z0-9._*/%-]+",
            max_length=256,
        ),
        Kind(
            "target_glob",
            "a target id such as python:3.13-runtime (* allowed)",
            r"[a-z0-9*][a-z0-9./_*-]*(:[A-Za-z0-9_.*-]+)?",
        ),
    )
}
