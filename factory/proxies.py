"""Proxy settings: the one list that the schema, the build and the lint share.

A proxy belongs to the build machine, not to the image: BuildKit passes its
predefined proxy build args through from the environment without persisting
them, and a proxy in ENV would follow the image to every cluster it runs in.
Tools read proxies from many more variables than `http_proxy`, so a variable
counts as a proxy setting when its name names a proxy (socks_proxy, RSYNC_PROXY,
PIP_PROXY, npm_config_https_proxy, GIT_PROXY_COMMAND, ...) or when
its value sets JVM proxy properties (JAVA_TOOL_OPTIONS="-Dhttps.proxyHost=...").
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# BuildKit's predefined proxy build args: usable in RUN without an ARG line,
# never persisted in the image; the build passes them by name, never by value.
_BUILDKIT_NAMES = ("HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY")
BUILD_ARGS: tuple[str, ...] = tuple(n for name in _BUILDKIT_NAMES for n in (name.lower(), name))

# `*proxy`/`*_proxy` (socks_proxy, RSYNC_PROXY, npm_config_https_proxy, CARGO_HTTP_PROXY) and
# what configures one (GIT_PROXY_COMMAND, HTTP_PROXY_HOST, PROXY_URL, ...), not NO_PROXY_CHECKS.
_NAME = re.compile(
    r"(?i)(?:[a-z0-9_]*_)?(?:no)?proxy(?:_(?:command|host|port|url|user(?:name)?|pass(?:word)?|auth[a-z]*))?"
)
# JVM (and JVM build tool) proxy properties given on a command line held in a variable.
_VALUE = re.compile(
    r"(?i)-D(?:[a-z]+\.)?(?:proxy|socksproxy)(?:host|port|set|user|password)\b|useSystemProxies|nonProxyHosts"
)


def is_proxy_setting(name: str, value: str = "") -> bool:
    """True when an environment variable `name=value` configures a proxy."""
    return bool(_NAME.fullmatch(name)) or bool(_VALUE.search(value))


def build_args_set(environ: Mapping[str, str]) -> tuple[str, ...]:
    """Names of BuildKit's proxy build args set in `environ` (passed by name, never by value)."""
    return tuple(name for name in BUILD_ARGS if environ.get(name))
