"""Cerberus schemas of every data file; every string in them has a kind (factory.values).

The validator adds one rule, `kind`, that checks a string against its kind
with full-match semantics and refuses control and line-break characters;
integers never accept booleans (`uid: true` is not uid 1). What the schema
cannot say (one file against another) is checked by factory.catalogue.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Mapping
from typing import Any, ClassVar

from cerberus import TypeDefinition, Validator

from factory import proxies
from factory.errors import Problem
from factory.schema_messages import Index, flatten, typename
from factory.values import HEREDOC_TERMINATOR, KINDS, shown
from factory.yamlmarks import Marked, format_path

__all__ = ["HEREDOC_TERMINATOR", "PLATFORMS", "RESERVED_LABELS", "SCHEMAS", "validate"]

PLATFORMS = (
    "linux/amd64",
    "linux/arm64",
    "linux/arm/v7",
    "linux/386",
    "linux/ppc64le",
    "linux/s390x",
    "linux/riscv64",
)
SEVERITIES = ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")  # trivy's, lowest first
# Debian architecture names equal BuildKit's TARGETARCH for these platforms.
ARCHES = ("amd64", "arm64", "arm", "386", "ppc64le", "s390x", "riscv64")
MAX_CONCURRENCY = 32  # build.concurrency; the default is the usable cores, at most this
# Labels the factory sets itself: a definition setting them would lie about the image
# (and io.factory.variant="build" would silence the lint's compiler check).
RESERVED_LABELS = ("io.factory.",)
RESERVED_OCI_LABELS = frozenset(
    f"org.opencontainers.image.{name}"
    for name in ("created", "revision", "version", "title", "base.name", "base.digest", "ref.name")
)


def K(kind: str, **rules: Any) -> dict[str, Any]:  # reads as a type in the schemas, hence upper case
    """A string field of one kind (see factory.values.KINDS)."""
    assert kind in KINDS, kind
    return {"type": "string", "kind": kind, **rules}


LINE = K("line")
ENV_MAP = {
    "type": "dict",
    "keysrules": K("env_name"),
    "valuesrules": K("env_value"),
    "check_with": "no_proxy_env",
}
LABEL_MAP = {
    "type": "dict",
    "keysrules": K("label_key"),
    "valuesrules": K("line"),
    "check_with": "unreserved_labels",
}
PLATFORM_LIST = {
    "type": "list",
    "empty": False,
    "schema": {"type": "string", "allowed": list(PLATFORMS)},
    "check_with": "unique",
}
TAG_LIST = {"type": "list", "empty": False, "schema": K("tag"), "check_with": "unique"}
SCRIPT = K("script")
COMMAND = {"type": "list", "empty": False, "schema": K("command_word")}
VERIFY = {
    "type": "list",
    "schema": {"type": ["string", "list"], "kind": "line", "schema": K("command_word"), "empty": False},
}

INSTALL_STEP = {
    "type": "dict",
    "check_with": "install_step",
    "schema": {
        "method": {"type": "string", "required": True, "allowed": ["os-packages", "download", "copy-from"]},
        "packages": {"type": "list", "empty": False, "schema": K("package")},
        "name": K("name"),
        "url": {"type": "dict", "keysrules": {"type": "string", "allowed": list(ARCHES)}, "valuesrules": K("url")},
        "sha256": {
            "type": "dict",
            "keysrules": {"type": "string", "allowed": list(ARCHES)},
            "valuesrules": K("sha256"),
        },
        "dest": K("dest_path"),
        "archive": {"type": "boolean"},
        "strip_components": {"type": "integer", "min": 0, "max": 16},
        "mode": K("mode"),
        "image": K("pinned_image"),
        "src": K("source_path"),
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

# A program made in this image and run in others (java: a jar the JDK builds runs on the JRE).
ARTIFACT = {
    "type": "dict",
    "schema": {
        "script": K("script", required=True),  # writes the artifact under /artifact
        "run": {**COMMAND, "required": True},  # how the images of run_in run it
        "run_in": {"type": "list", "empty": False, "schema": K("name"), "check_with": "unique", "required": True},
    },
}

VARIANT = {
    "description": LINE,
    "artifact": ARTIFACT,
    "from": K("name"),  # 'os', 'scratch' or another variant: checked against the stack by the catalogue
    "template": K("name"),
    "tag_suffix": K("tag_suffix"),
    "versioned": {"type": "boolean"},
    "tags": TAG_LIST,
    "platforms": PLATFORM_LIST,
    **VARIANT_ADDITIONS,
}

# A calendar day, written unquoted as YYYY-MM-DD: YAML reads it as a date, and one that does
# not exist (2026-02-30) is refused while loading; a time of day would make it a datetime.
DAY = {"type": "date", "check_with": "day"}

# When a version (or an OS release) stops being supported upstream, what replaces it, and an
# override that keeps it past that day for a while (factory.lifecycle judges them by date).
LIFECYCLE = {
    "eol": DAY,
    # versions of the same stack (OS: release versions); they need not be in the catalogue
    "replaced_by": {
        "type": "list",
        "empty": False,
        "schema": K("version"),
        "check_with": "unique",
        "dependencies": "eol",
    },
    "eol_override": {
        "type": "dict",
        "dependencies": "eol",
        "schema": {
            "reason": K("line", required=True, empty=False),
            "expires": {**DAY, "required": True},  # at most 90 days ahead: checked against today by the loader
        },
    },
}

VERSION_ENTRY = {
    "version": K("version", required=True),
    "releases": {"type": "list", "empty": False, "schema": K("name"), "check_with": "unique"},
    "tags": TAG_LIST,
    "platforms": PLATFORM_LIST,
    "env": ENV_MAP,
    "labels": LABEL_MAP,
    "variants": {
        "type": "dict",
        "keysrules": K("name"),
        "valuesrules": {"type": "dict", "nullable": True, "schema": VARIANT_ADDITIONS},
    },
    **LIFECYCLE,
}

STACK = {
    "extends": K("stem"),
    "description": LINE,
    "image": K("image"),
    "platforms": PLATFORM_LIST,
    "env": ENV_MAP,
    "labels": LABEL_MAP,
    "variants": {"type": "dict", "keysrules": K("name"), "valuesrules": {"type": "dict", "schema": VARIANT}},
    "versions": {"type": "list", "schema": {"type": "dict", "schema": VERSION_ENTRY}},
}

OS = {
    "name": K("name", required=True),
    "release": K("name", required=True),
    "releases": {
        "type": "dict",
        "required": True,
        "keysrules": K("name"),
        "valuesrules": {
            "type": "dict",
            "schema": {
                "version": K("version", required=True),
                "tags": {**TAG_LIST, "required": True},
                **LIFECYCLE,
            },
        },
    },
    "snapshot": K("snapshot", nullable=True),
    "mirror": K("url", nullable=True),
    "image": K("image", required=True),
    "description": LINE,
    "packages": {"type": "list", "schema": K("package"), "required": True},
    "path_excludes": {"type": "list", "schema": K("glob_path")},
    "path_includes": {"type": "list", "schema": K("glob_path")},
    "timezone": K("timezone"),
    "user": {
        "type": "dict",
        "required": True,
        "schema": {
            "name": K("account", required=True),
            "uid": {"type": "integer", "min": 1, "max": 2**31 - 2, "required": True},
            "group": K("account", required=True),
            "gid": {"type": "integer", "min": 1, "max": 2**31 - 2, "required": True},
            "home": K("dest_path", required=True),
        },
    },
    "platforms": {**PLATFORM_LIST, "required": True},
    "env": ENV_MAP,
    "labels": LABEL_MAP,
    "cmd": COMMAND,
    "verify": VERIFY,
    "setuid_allowed": {"type": "list", "schema": K("abs_path"), "check_with": "unique"},
}

PINS = {
    "images": {
        "type": "dict",
        "keysrules": K("target_id"),
        "valuesrules": {
            "type": "dict",
            "schema": {"reference": K("reference", required=True), "digest": K("digest", required=True)},
        },
    },
}

SITE = {
    "registry": {
        "type": "dict",
        "schema": {
            "address": K("registry"),
            "namespace": K("repo_path"),
            "staging_namespace": K("repo_path"),
        },
    },
    "platforms": PLATFORM_LIST,
    "builders": {
        "type": "dict",
        "keysrules": {"type": "string", "allowed": list(PLATFORMS)},
        "valuesrules": {
            "type": "dict",
            "schema": {
                "endpoint": K("endpoint", required=True),
                "tls": {
                    "type": "dict",
                    "schema": {"ca": K("file_path"), "cert": K("file_path"), "key": K("file_path")},
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
            "concurrency": {"type": "integer", "min": 1, "max": MAX_CONCURRENCY},
            "ca_bundle": K("file_path", nullable=True),
            "network": {"type": "string", "allowed": ["default", "host"]},
            "syntax": K("frontend", nullable=True),
        },
    },
    "os": {
        "type": "dict",
        "schema": {
            "mirror": K("url", nullable=True),
            "security_mirror": K("url", nullable=True),
            "snapshot": K("snapshot", nullable=True),
            "snapshot_archive": K("snapshot_url", nullable=True),
            "snapshot_security_archive": K("snapshot_url", nullable=True),
        },
    },
    "scan": {
        "type": "dict",
        "schema": {
            "fail_on": {"type": "string", "allowed": list(SEVERITIES)},
            "unfixed": {
                "type": "dict",
                "schema": {
                    "fail_on": {"type": "string", "allowed": list(SEVERITIES), "nullable": True},
                    "warn_on": {"type": "string", "allowed": list(SEVERITIES), "nullable": True},
                },
            },
            "db": {
                "type": "dict",
                "schema": {
                    "repository": K("reference", nullable=True),
                    "cache_dir": K("file_path", nullable=True),
                    "max_age_days": {"type": "integer", "min": 1, "max": 365},
                },
            },
            "java_db": {"type": "dict", "schema": {"repository": K("reference", nullable=True)}},
            "exceptions": K("file_path"),
        },
    },
    "publish": {
        "type": "dict",
        "schema": {
            "registry": K("registry"),
            "namespace": K("repo_path"),
            "signing_key": K("file_path"),
            # an SBOM larger than this is attached as a referrer, the attestation names it by digest
            "large_sbom_bytes": {"type": "integer", "min": 1, "max": 2**31 - 1},
        },
    },
    # Repositories (fnmatch globs) pins/images.yaml and copy-from images may name besides the factory's own.
    "pins": {"type": "dict", "schema": {"allow": {"type": "list", "schema": K("repo_glob")}}},
    "state_dir": K("file_path"),
    "cache_dir": K("file_path"),
}

# .factory-ignore.yaml: every ignore says why, and until when.
IGNORES = {
    "ignores": {
        "type": "list",
        "required": True,
        "schema": {
            "type": "dict",
            "schema": {
                "code": K("finding_code", required=True),
                "path": K("path_glob", empty=False),
                "reason": K("line", required=True, empty=False),
                "expires": {"type": "date", "required": True},  # YAML reads 2026-06-30 as a date
            },
        },
    },
}

# security/exceptions.yaml: what the scan gate may let through, reviewed, owned, expiring.
EXCEPTIONS = {
    "exceptions": {
        "type": "list",
        "required": True,
        "schema": {
            "type": "dict",
            "schema": {
                "id": K("vulnerability_id", required=True),
                "packages": {"type": "list", "schema": K("purl_glob"), "check_with": "unique"},
                "images": {"type": "list", "schema": K("target_glob"), "check_with": "unique"},
                "kind": {
                    "type": "string",
                    "required": True,
                    "allowed": ["not_affected", "accepted_risk", "waiting_for_upstream"],
                },
                "statement": K("line", required=True, empty=False),
                "owner": K("line", required=True, empty=False),
                "expires": {"type": "date", "required": True},
            },
        },
    },
}

# data/official-sizes.yaml: the compressed sizes the official images publish, each with where and when it
# was read, that the catalogue site compares its images with (facts kept as data, updated by hand).
OFFICIAL_SIZES = {
    "images": {
        "type": "list",
        "required": True,
        "schema": {
            "type": "dict",
            "schema": {
                "image": K("line", required=True, empty=False),  # as its publisher names it: python:3.13-slim
                "compares_with": {
                    "type": "list",
                    "required": True,
                    "empty": False,
                    "schema": K("target_id"),
                    "check_with": "unique",
                },
                "sizes": {
                    "type": "dict",
                    "required": True,
                    "empty": False,
                    "keysrules": {"type": "string", "allowed": list(PLATFORMS)},
                    "valuesrules": {"type": "integer", "min": 1},  # compressed bytes
                },
                "source": K("url", required=True),
                "read": {**DAY, "required": True},
                "note": K("line"),
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
    """Cerberus validator with the factory's value kinds and cross-field checks."""

    types_mapping: ClassVar[dict[str, TypeDefinition]] = {
        **Validator.types_mapping,
        "integer": TypeDefinition("integer", (int,), (bool,)),
        "number": TypeDefinition("number", (int, float), (bool,)),
    }

    def _validate_kind(self, kind: str, field: str, value: Any) -> None:
        """{'type': 'string'}"""
        if isinstance(value, str):
            message = KINDS[kind].problem(value)
            if message is not None:
                self._error(field, message)

    def _check_with_unique(self, field: str, value: Any) -> None:
        seen = set()
        for item in value if isinstance(value, list) else ():
            if not isinstance(item, str | int | float):
                continue  # not an item of any list: the type rule reports it
            key = (type(item), item)  # 1 and True, 1 and "1" differ
            if key in seen:
                self._error(field, f"duplicate entry {shown(item)}")
            seen.add(key)

    def _check_with_day(self, field: str, value: Any) -> None:
        if isinstance(value, datetime.datetime):
            self._error(field, f"expected a date without a time of day (YYYY-MM-DD), got {value.isoformat()}")

    def _check_with_no_proxy_env(self, field: str, value: Any) -> None:
        for key, setting in value.items() if isinstance(value, dict) else ():
            if isinstance(key, str) and proxies.is_proxy_setting(key, setting if isinstance(setting, str) else ""):
                self._error(field, f"{key} must not be set in ENV: proxies are passed as build args only")

    def _check_with_unreserved_labels(self, field: str, value: Any) -> None:
        for key in value if isinstance(value, dict) else ():
            if isinstance(key, str) and (key.startswith(RESERVED_LABELS) or key in RESERVED_OCI_LABELS):
                self._error(field, f"label {key} is set by the factory itself; a definition cannot set it")

    def _check_with_install_step(self, field: str, value: Any) -> None:
        if not isinstance(value, dict):
            return
        method = value.get("method")
        if not isinstance(method, str) or method not in _INSTALL_FIELDS:
            return  # the `allowed` rule reports it
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


SCHEMAS: Mapping[str, Mapping[str, Any]] = {
    "stack": STACK,
    "os": OS,
    "pins": PINS,
    "site": SITE,
    "ignores": IGNORES,
    "exceptions": EXCEPTIONS,
    "official_sizes": OFFICIAL_SIZES,
}


def validate(marked: Marked, kind: str) -> list[Problem]:
    """Validate a loaded document against SCHEMAS[kind]; return every problem, located."""
    if not isinstance(marked.data, dict):
        got = typename(marked.data)
        return [Problem(marked.file, marked.line(()), "", f"expected a mapping at the top level, got {got}")]
    validator = _Validator(dict(SCHEMAS[kind]))
    if validator.validate(marked.data):
        return []
    return [
        Problem(marked.file, marked.line(path), format_path(path), message)
        for path, message in flatten(validator._errors, _index_of(kind))
    ]


@functools.cache
def _index_of(kind: str) -> Index:
    return Index(SCHEMAS[kind])
