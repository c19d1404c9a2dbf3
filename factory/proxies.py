"""Proxy settings: the one list that the schema, the build and the lint share.

A proxy belongs to the build machine, not to the image: BuildKit passes its
predefined proxy build args through from the environment without persisting
them, and a proxy in ENV would follow the image to every cluster it runs in.
Tools read proxies from many more variables than `http_proxy`, so a variable
counts as a proxy setting when its name names a proxy (socks_proxy, RSYNC_PROXY,
PIP_PROXY, npm_config_https_proxy, GIT_PROXY_COMMAND, ...), when its value sets
JVM proxy properties (JAVA_TOOL_OPTIONS="-Dhttps.proxyHost=..."), when it is git
configuration naming a proxy key (GIT_CONFIG_KEY_<n>=http.proxy with its
GIT_CONFIG_VALUE_<n>, GIT_CONFIG_PARAMETERS="'http.proxy'='...'"), or when its
value tells ssh to go through another host (ProxyCommand or ProxyJump options,
`ssh -J host`: GIT_SSH_COMMAND, RSYNC_RSH, core.sshCommand as git configuration).
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
# JVM (and JVM build tool) proxy properties given on a command line held in a variable, and
# ssh's proxy options in any spelling (-o ProxyCommand=..., -oProxyJump=..., ssh_config text).
_VALUE = re.compile(
    r"(?i)-D(?:[a-z]+\.)?(?:proxy|socksproxy)(?:host|port|set|user|password)\b|useSystemProxies|nonProxyHosts"
    r"|proxy_?command|proxy_?jump"
)
# `ssh ... -J jump-host`: -J closes a cluster of ssh's flags that take no value (-vJ host).
_SSH_JUMP = re.compile(r"\bssh\b[^;&|]*\s-[1246AaCfGgKkMNnqsTtVvXxYy]*J")
# git configuration in the environment: GIT_CONFIG_KEY_<n> names a key whose value GIT_CONFIG_VALUE_<n>
# holds, GIT_CONFIG_PARAMETERS holds 'key'='value' pairs. A key whose last part names a proxy sets one:
# http.proxy, http.<url>.proxy, http.proxyAuthMethod, core.gitProxy, remote.<name>.proxy.
_GIT_CONFIG_KEY = re.compile(r"(?i)GIT_CONFIG_KEY_[0-9]+")
_GIT_PROXY_KEY = re.compile(r"(?i)(?:^|\.)[a-z0-9-]*proxy[a-z0-9-]*")
_GIT_PARAMETER_PROXY_KEY = re.compile(r"(?i)proxy[a-z0-9-]*'?\s*=")


def is_proxy_setting(name: str, value: str = "") -> bool:
    """True when an environment variable `name=value` configures a proxy."""
    if _NAME.fullmatch(name) or _VALUE.search(value) or _SSH_JUMP.search(value):
        return True
    if _GIT_CONFIG_KEY.fullmatch(name):
        return bool(_GIT_PROXY_KEY.fullmatch(value.strip().rsplit(".", 1)[-1]))
    return name.upper() == "GIT_CONFIG_PARAMETERS" and bool(_GIT_PARAMETER_PROXY_KEY.search(value))


def build_args_set(environ: Mapping[str, str]) -> tuple[str, ...]:
    """Names of BuildKit's proxy build args set in `environ` (passed by name, never by value)."""
    return tuple(name for name in BUILD_ARGS if environ.get(name))
