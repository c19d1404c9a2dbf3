"""Cerberus schemas for every data file, and errors turned into located problems.

Each value that ends up in a Dockerfile or a shell script is constrained here
(by pattern or by a no-newline check) so that no definition can inject an
instruction; the templates then quote what they emit.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable, Mapping
from typing import Any

from cerberus import Validator, errors

from factory import proxies
from factory.errors import Problem
from factory.yamlmarks import Marked, format_path

# The heredoc terminator every rendered RUN uses; no script line may equal it.
HEREDOC_TERMINATOR = "EOT"

PLATFORMS = (
    "linux/amd64",
    "linux/arm64",
    "linux/arm/v7",
    "linux/386",
    "linux/ppc64le",
    "linux/s390x",
    "linux/riscv64",
)
# Debian architecture names equal BuildKit's TARGETARCH for these platforms.
ARCHES = ("amd64", "arm64", "arm", "386", "ppc64le", "s390x", "riscv64")


def _rx(pattern: str, expect: str) -> dict[str, Any]:
    return {"type": "string", "regex": pattern, "meta": {"expect": expect}}


NAME = _rx(r"[a-z0-9][a-z0-9-]{0,62}", "a lower-case name (letters, digits, '-')")
PACKAGE = _rx(
    r"[a-z0-9][a-z0-9+.-]+(:[a-z0-9]+)?(=[A-Za-z0-9.+~:-]+)?",
    "a Debian package name, optionally pinned as name=version",
)
TAG = _rx(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", "an image tag ([A-Za-z0-9_.-], at most 128)")
IMAGE = _rx(
    r"[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*",
    "an image repository name such as 'python' or 'lang/python'",
)
PINNED_IMAGE = _rx(
    r"[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)+(:[A-Za-z0-9_.-]+)?@sha256:[0-9a-f]{64}",
    "an image reference pinned by digest (registry/name[:tag]@sha256:<64 hex>)",
)
ABS_PATH = _rx(r"/([A-Za-z0-9._+@-]+/?)*", "an absolute path of [A-Za-z0-9._+@-] segments")
GLOB_PATH = _rx(r"/[A-Za-z0-9._+@*?/-]*", "an absolute path pattern ([A-Za-z0-9._+@-], * and ?)")
URL = _rx(r"https?://[^\s'\"\\`$;|&<>(){}]+", "an http(s) URL without quotes, spaces or shell characters")
SHA256 = _rx(r"[0-9a-f]{64}", "a sha256 digest: 64 lower-case hex digits")
VERSION = _rx(r"[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}", "a version string such as '3.13' (quote it in YAML)")
LINE = {"type": "string", "check_with": "single_line"}
ENV_MAP = {
    "type": "dict",
    "keysrules": _rx(r"[A-Za-z_][A-Za-z0-9_]*", "an environment variable name"),
    "valuesrules": {"type": "string", "check_with": "single_line"},
    "check_with": "no_proxy_env",
}
LABEL_MAP = {
    "type": "dict",
    "keysrules": _rx(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?", "a reverse-DNS label key"),
    "valuesrules": {"type": "string", "check_with": "single_line"},
}
PLATFORM_LIST = {
    "type": "list",
    "empty": False,
    "schema": {"type": "string", "allowed": list(PLATFORMS)},
    "check_with": "unique",
}
TAG_LIST = {"type": "list", "empty": False, "schema": TAG, "check_with": "unique"}
SCRIPT = {"type": "string", "check_with": "script"}
COMMAND = {"type": "list", "empty": False, "schema": LINE}
VERIFY = {"type": "list", "schema": {"type": ["string", "list"], "check_with": "verify_command"}}

INSTALL_STEP = {
    "type": "dict",
    "check_with": "install_step",
    "schema": {
        "method": {"type": "string", "required": True, "allowed": ["os-packages", "download", "copy-from"]},
        "packages": {"type": "list", "empty": False, "schema": PACKAGE},
        "name": NAME,
        "url": {"type": "dict", "keysrules": {"type": "string", "allowed": list(ARCHES)}, "valuesrules": URL},
        "sha256": {"type": "dict", "keysrules": {"type": "string", "allowed": list(ARCHES)}, "valuesrules": SHA256},
        "dest": ABS_PATH,
        "archive": {"type": "boolean"},
        "strip_components": {"type": "integer", "min": 0, "max": 16},
        "mode": _rx(r"0[0-7]{3}", "an octal file mode such as '0755' (quoted)"),
        "image": PINNED_IMAGE,
        "src": ABS_PATH,
    },
}
_INSTALL_STEP_FIELDS = tuple(INSTALL_STEP["schema"])
INSTALL_LIST = {"type": "list", "schema": INSTALL_STEP}

# What a version may add to one variant of its stack.
VARIANT_ADDITIONS = {
    "install": INSTALL_LIST,
    "run": SCRIPT,
    "env": ENV_MAP,
    "labels": LABEL_MAP,
    "verify": VERIFY,
    "cmd": COMMAND,
}

VARIANT = {
    "description": LINE,
    "from": _rx(r"os|scratch|[a-z0-9][a-z0-9-]{0,62}", "'os', 'scratch' or the name of another variant"),
    "template": NAME,
    "tag_suffix": _rx(r"(-[A-Za-z0-9_.]+)?", "'' or a suffix such as '-build'"),
    "versioned": {"type": "boolean"},
    "tags": TAG_LIST,
    "platforms": PLATFORM_LIST,
    **VARIANT_ADDITIONS,
}

VERSION_ENTRY = {
    "version": {**VERSION, "required": True},
    "releases": {"type": "list", "empty": False, "schema": NAME},
    "tags": TAG_LIST,
    "platforms": PLATFORM_LIST,
    "env": ENV_MAP,
    "labels": LABEL_MAP,
    "variants": {
        "type": "dict",
        "keysrules": NAME,
        "valuesrules": {"type": "dict", "nullable": True, "schema": VARIANT_ADDITIONS},
    },
}

STACK = {
    "extends": NAME | {"regex": r"_?[a-z0-9][a-z0-9-]{0,62}"},
    "description": LINE,
    "image": IMAGE,
    "platforms": PLATFORM_LIST,
    "env": ENV_MAP,
    "labels": LABEL_MAP,
    "variants": {"type": "dict", "keysrules": NAME, "valuesrules": {"type": "dict", "schema": VARIANT}},
    "versions": {"type": "list", "schema": {"type": "dict", "schema": VERSION_ENTRY}},
}

OS = {
    "name": {**NAME, "required": True},
    "release": {**NAME, "required": True},
    "releases": {
        "type": "dict",
        "required": True,
        "keysrules": NAME,
        "valuesrules": {
            "type": "dict",
            "schema": {
                "version": {**VERSION, "required": True},
                "tags": {**TAG_LIST, "required": True},
            },
        },
    },
    "snapshot": {**_rx(r"[0-9]{8}T[0-9]{6}Z", "a snapshot timestamp such as 20251120T000000Z"), "nullable": True},
    "mirror": {**URL, "nullable": True},
    "image": {**IMAGE, "required": True},
    "description": LINE,
    "packages": {"type": "list", "schema": PACKAGE, "required": True},
    "path_excludes": {"type": "list", "schema": GLOB_PATH},
    "path_includes": {"type": "list", "schema": GLOB_PATH},
    "timezone": _rx(r"[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*", "a tz database name such as UTC"),
    "user": {
        "type": "dict",
        "required": True,
        "schema": {
            "name": {**_rx(r"[a-z_][a-z0-9_-]{0,30}", "a POSIX user name"), "required": True},
            "uid": {"type": "integer", "min": 1, "max": 2**31 - 2, "required": True},
            "group": {**_rx(r"[a-z_][a-z0-9_-]{0,30}", "a POSIX group name"), "required": True},
            "gid": {"type": "integer", "min": 1, "max": 2**31 - 2, "required": True},
            "home": {**ABS_PATH, "required": True},
        },
    },
    "platforms": {**PLATFORM_LIST, "required": True},
    "env": ENV_MAP,
    "labels": LABEL_MAP,
    "cmd": COMMAND,
}

PINS = {
    "images": {
        "type": "dict",
        "keysrules": _rx(r"[a-z0-9][a-z0-9./_-]*:[A-Za-z0-9_.-]+", "a target id such as 'python:3.13-runtime'"),
        "valuesrules": {
            "type": "dict",
            "schema": {
                "reference": {
                    **_rx(r"[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)+(:[A-Za-z0-9_.-]+)?", "an image reference"),
                    "required": True,
                },
                "digest": {**_rx(r"sha256:[0-9a-f]{64}", "sha256:<64 hex>"), "required": True},
            },
        },
    },
}

ENDPOINT = _rx(
    r"(unix:///[A-Za-z0-9._/-]+|tcp://[A-Za-z0-9.-]+:[0-9]+|ssh://([A-Za-z0-9._-]+@)?[A-Za-z0-9.-]+(:[0-9]+)?|kubernetes://[a-z0-9.-]+)",
    "an engine endpoint: unix:///path, tcp://host:port, ssh://user@host or kubernetes://namespace",
)
REGISTRY = _rx(r"[A-Za-z0-9.-]+(:[0-9]+)?", "a registry host[:port] such as 127.0.0.1:5000")
REPO_PATH = _rx(r"[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*", "a repository path such as 'factory'")
SNAPSHOT_URL = _rx(
    r"https?://[^\s'\"\\`$;|&<>(){}]+\{snapshot\}[^\s'\"\\`$;|&<>(){}]*",
    "an http(s) URL containing {snapshot}, e.g. http://mirror.internal/archive/debian/{snapshot}",
)
FILE_PATH = _rx(r"[A-Za-z0-9._/~+-]+", "a file path")

SITE = {
    "registry": {
        "type": "dict",
        "schema": {
            "address": REGISTRY,
            "namespace": REPO_PATH,
            "staging_namespace": REPO_PATH,
        },
    },
    "platforms": PLATFORM_LIST,
    "builders": {
        "type": "dict",
        "keysrules": {"type": "string", "allowed": list(PLATFORMS)},
        "valuesrules": {
            "type": "dict",
            "schema": {
                "endpoint": {**ENDPOINT, "required": True},
                "tls": {
                    "type": "dict",
                    "schema": {"ca": FILE_PATH, "cert": FILE_PATH, "key": FILE_PATH},
                },
                "driver": {"type": "string", "allowed": ["docker", "kubernetes", "remote"]},
                "network": {"type": "string", "allowed": ["default", "host"]},
            },
        },
    },
    "build": {
        "type": "dict",
        "schema": {
            "compression": {"type": "string", "allowed": ["gzip", "zstd", "uncompressed"]},
            "cache": {"type": "boolean"},
            "sbom": {"type": "boolean"},
            "provenance": {"type": "boolean"},
            "concurrency": {"type": "integer", "min": 1, "max": 32},
            "ca_bundle": {**FILE_PATH, "nullable": True},
            "network": {"type": "string", "allowed": ["default", "host"]},
            "syntax": {
                **_rx(r"[a-z0-9./_-]+(:[A-Za-z0-9_.-]+)?(@sha256:[0-9a-f]{64})?", "a frontend image"),
                "nullable": True,
            },
        },
    },
    "os": {
        "type": "dict",
        "schema": {
            "mirror": {**URL, "nullable": True},
            "security_mirror": {**URL, "nullable": True},
            "snapshot": {
                **_rx(r"[0-9]{8}T[0-9]{6}Z", "a snapshot timestamp such as 20251120T000000Z"),
                "nullable": True,
            },
            "snapshot_archive": {**SNAPSHOT_URL, "nullable": True},
            "snapshot_security_archive": {**SNAPSHOT_URL, "nullable": True},
        },
    },
    "state_dir": FILE_PATH,
    "cache_dir": FILE_PATH,
}

# .factory-ignore.yaml: every ignore says why, and until when.
IGNORES = {
    "ignores": {
        "type": "list",
        "required": True,
        "schema": {
            "type": "dict",
            "schema": {
                "code": {
                    **_rx(r"[A-Z]{2,}-?[0-9]{3,5}", "a finding code such as FB041, DL3008, SC2086 or DS-0026"),
                    "required": True,
                },
                "path": {"type": "string", "empty": False, "check_with": "single_line"},
                "reason": {"type": "string", "required": True, "empty": False, "check_with": "single_line"},
                "expires": {"type": "date", "required": True},  # YAML reads 2026-06-30 as a date
            },
        },
    },
}

_INSTALL_FIELDS = {
    "os-packages": ({"packages"}, set()),
    "download": ({"name", "url", "sha256", "dest"}, {"archive", "strip_components", "mode"}),
    "copy-from": ({"image", "src", "dest"}, set()),
}


class _Validator(Validator):  # type: ignore[misc]
    """Cerberus validator with the factory's own checks."""

    def _check_with_single_line(self, field: str, value: Any) -> None:
        if isinstance(value, str) and ("\n" in value or "\r" in value):
            self._error(field, "must be a single line (a newline would end the Dockerfile instruction)")

    def _check_with_unique(self, field: str, value: Any) -> None:
        seen = set()
        for item in value if isinstance(value, list) else ():
            key = repr(item)
            if key in seen:
                self._error(field, f"duplicate entry {item!r}")
            seen.add(key)

    def _check_with_no_proxy_env(self, field: str, value: Any) -> None:
        for key, setting in value.items() if isinstance(value, dict) else ():
            if isinstance(key, str) and proxies.is_proxy_setting(key, setting if isinstance(setting, str) else ""):
                self._error(field, f"{key} must not be set in ENV: proxies are passed as build args only")

    def _check_with_script(self, field: str, value: Any) -> None:
        if not isinstance(value, str):
            return
        for number, line in enumerate(value.splitlines(), 1):
            if line.strip() == HEREDOC_TERMINATOR:
                self._error(field, f"line {number} is the heredoc terminator {HEREDOC_TERMINATOR!r} on its own")
        if "\r" in value:
            self._error(field, "must not contain carriage returns")

    def _check_with_verify_command(self, field: str, value: Any) -> None:
        if isinstance(value, str) and "\n" in value:
            self._error(field, "a verify command must be one line (use several entries)")
        elif isinstance(value, list) and (not value or not all(isinstance(v, str) and "\n" not in v for v in value)):
            self._error(field, "an exec-form verify command must be a non-empty list of one-line strings")

    def _check_with_install_step(self, field: str, value: Any) -> None:
        if not isinstance(value, dict):
            return
        method = value.get("method")
        if method not in _INSTALL_FIELDS:
            return
        required, optional = _INSTALL_FIELDS[method]
        for name in sorted(required - value.keys()):
            self._error(field, f"method {method!r} needs {name!r}")
        known = set(_INSTALL_STEP_FIELDS)
        for name in sorted((value.keys() & known) - required - optional - {"method"}):
            self._error(field, f"{name!r} does not apply to method {method!r}")
        if method == "download":
            urls, sums = value.get("url"), value.get("sha256")
            if isinstance(urls, dict) and isinstance(sums, dict) and urls.keys() != sums.keys():
                self._error(field, "url and sha256 must name the same architectures")


SCHEMAS: Mapping[str, Mapping[str, Any]] = {"stack": STACK, "os": OS, "pins": PINS, "site": SITE, "ignores": IGNORES}


def validate(marked: Marked, kind: str) -> list[Problem]:
    """Validate a loaded document against SCHEMAS[kind]; return every problem, located."""
    if not isinstance(marked.data, dict):
        got = _typename(marked.data)
        return [Problem(marked.file, marked.line(()), "", f"expected a mapping at the top level, got {got}")]
    validator = _Validator(dict(SCHEMAS[kind]))
    if validator.validate(marked.data):
        return []
    index = _index_of(kind)
    return [
        Problem(marked.file, marked.line(path), format_path(path), message)
        for path, message in _flatten(validator._errors, index)
    ]


class _Index:
    """Where each rule set of a schema lives: for did-you-mean and 'expected' texts."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.fields: dict[tuple[Any, ...], list[str]] = {}
        self.regex: dict[str, str] = {}
        self._mapping(schema, ())

    def _mapping(self, schema: Mapping[str, Any], path: tuple[Any, ...]) -> None:
        self.fields[path] = sorted(schema)
        for name, rules in schema.items():
            self._rules(rules, (*path, name))

    def _rules(self, rules: Mapping[str, Any], path: tuple[Any, ...]) -> None:
        if "regex" in rules and "meta" in rules:
            self.regex.setdefault(rules["regex"], rules["meta"]["expect"])
        for key in ("schema", "valuesrules", "keysrules"):
            sub = rules.get(key)
            if isinstance(sub, dict):
                if key == "schema" and rules.get("type") == "dict":
                    self._mapping(sub, (*path, key))
                else:
                    self._rules(sub, (*path, key))


@functools.cache
def _index_of(kind: str) -> _Index:
    return _Index(SCHEMAS[kind])


def _flatten(errs: Iterable[Any], index: _Index) -> Iterable[tuple[tuple[Any, ...], str]]:
    for err in errs:
        if err.is_group_error:
            yield from _flatten(err.child_errors or (), index)
            continue
        yield tuple(err.document_path), _message(err, index)


def _message(err: Any, index: _Index) -> str:
    value = err.value
    if err.code == errors.UNKNOWN_FIELD.code:
        known = index.fields.get(tuple(err.schema_path), [])
        hint = difflib.get_close_matches(str(err.field), known, n=1)
        if hint:
            return f"unknown field; did you mean {hint[0]!r}?"
        return f"unknown field (expected one of: {', '.join(known)})" if known else "unknown field"
    if err.code == errors.REQUIRED_FIELD.code:
        return "required field is missing"
    if err.code == errors.BAD_TYPE.code:
        wanted = str(err.constraint) if isinstance(err.constraint, str) else " or ".join(err.constraint)
        number = wanted == "string" and isinstance(value, int | float)
        quote = " (YAML read it as a number); quote it" if number else ""
        return f"expected {_article(wanted)}, got {_typename(value)} {value!r}{quote}"
    if err.code == errors.REGEX_MISMATCH.code:
        expect = index.regex.get(err.constraint, f"a value matching {err.constraint!r}")
        return f"expected {expect}, got {value!r}"
    if err.code in (errors.UNALLOWED_VALUE.code, errors.UNALLOWED_VALUES.code):
        return f"expected one of {', '.join(map(str, err.constraint))}; got {value!r}"
    if err.code in (errors.EMPTY_NOT_ALLOWED.code, errors.MIN_LENGTH.code):
        return "must not be empty"
    if err.code == errors.NOT_NULLABLE.code:
        return "must have a value (null given)"
    if err.code == errors.MIN_VALUE.code:
        return f"must be at least {err.constraint}, got {value!r}"
    if err.code == errors.MAX_VALUE.code:
        return f"must be at most {err.constraint}, got {value!r}"
    if err.code == errors.CUSTOM.code:
        return str(err.info[0]) if err.info else "invalid value"
    return f"invalid value {value!r} (rule {err.rule})"


def _article(word: str) -> str:
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"


def _typename(value: Any) -> str:
    names = {str: "string", int: "integer", float: "number", bool: "boolean", list: "list", dict: "mapping"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
