"""What counts as a secret, and how a command line or a message is shown without one.

Shared by the lint (credentials in ENV, secrets as build args) and by the
process layer, whose errors and logs carry argv: a password in a URL, a
`--password` value or a `NAME=value` whose name says secret is replaced by
`***` before anything is printed or written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_SECRET_NAME = re.compile(
    r"(?i)(^|_)(password|passwd|pass|pwd|secret|token|api_?key|access_?key|secret_?key|private_?key"
    r"|credentials?|auth_?token|client_?secret)($|_)"
)
# Names that point at a secret rather than hold one.
_REFERENCE_SUFFIX = re.compile(r"(?i)_(file|path|dir|url|env|name|id|user(name)?)$")
URL_CREDENTIALS = re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^/\s:@]+:)([^/\s@]+)(@)")
_SECRET_FLAGS = frozenset({"--password", "-p", "--token", "--key-password", "--registry-password"})
MASK = "***"


def is_secret_name(name: str) -> bool:
    """True when a variable or argument name says it holds a secret (DB_PASSWORD, NPM_TOKEN, ...)."""
    return bool(_SECRET_NAME.search(name)) and not _REFERENCE_SUFFIX.search(name) and name.upper() != "PWD"


def redact_text(text: str) -> str:
    """`text` with the password of every URL masked."""
    return URL_CREDENTIALS.sub(lambda m: m.group(1) + MASK + m.group(3), text)


def redact(argv: Sequence[str]) -> tuple[str, ...]:
    """argv as it may be shown: secret flag values, secret NAME=value pairs and URL passwords masked."""
    out: list[str] = []
    hide_next = False
    for word in argv:
        if hide_next:
            out.append(MASK)
            hide_next = False
            continue
        flag, eq, value = word.partition("=")
        if flag in _SECRET_FLAGS:
            if eq:
                out.append(f"{flag}={MASK}")
            else:
                out.append(word)
                hide_next = True
            continue
        name, eq, value = word.partition("=")
        if eq and value and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", name) and is_secret_name(name):
            out.append(f"{name}={MASK}")
            continue
        out.append(redact_text(word))
    return tuple(out)
