"""The one list of proxy settings shared by the schema, the build and the lint."""

from __future__ import annotations

import pytest

from factory import proxies

PROXIES = [
    ("http_proxy", ""),
    ("HTTPS_PROXY", ""),
    ("no_proxy", ""),
    ("ALL_PROXY", ""),
    ("socks_proxy", ""),
    ("SOCKS5_PROXY", ""),
    ("RSYNC_PROXY", ""),
    ("PIP_PROXY", ""),
    ("npm_config_proxy", ""),
    ("npm_config_https_proxy", ""),
    ("npm_config_noproxy", ""),
    ("CARGO_HTTP_PROXY", ""),
    ("GIT_PROXY_COMMAND", ""),
    ("HTTP_PROXY_HOST", ""),
    ("JAVA_TOOL_OPTIONS", "-Xmx1g -Dhttps.proxyHost=proxy.invalid -Dhttps.proxyPort=3128"),
    ("JDK_JAVA_OPTIONS", "-Djava.net.useSystemProxies=true"),
    ("MAVEN_OPTS", "-DsocksProxyHost=proxy.invalid"),
    ("GRADLE_OPTS", "-Dhttp.nonProxyHosts=localhost"),
    ("GIT_CONFIG_KEY_0", "http.proxy"),
    ("GIT_CONFIG_KEY_12", "http.https://git.example.invalid/.proxy"),
    ("GIT_CONFIG_KEY_1", "http.proxyAuthMethod"),
    ("GIT_CONFIG_KEY_3", "core.gitProxy"),
    ("GIT_CONFIG_KEY_2", "remote.origin.proxy"),
    ("GIT_CONFIG_VALUE_0", "ssh -o ProxyCommand='nc -X connect -x p.invalid:3128 %h %p'"),
    ("GIT_CONFIG_PARAMETERS", "'http.proxy'='http://p.invalid:3128'"),
    ("GIT_CONFIG_PARAMETERS", "'user.name'='ci' 'https.proxy=http://p.invalid'"),
    ("GIT_CONFIG_PARAMETERS", "'core.sshcommand'='ssh -oProxyJump=jump.invalid'"),
    ("GIT_SSH_COMMAND", "ssh -o ProxyCommand=nc p.invalid 22"),
    ("GIT_SSH_COMMAND", "ssh -oproxyjump=jump.invalid"),
    ("GIT_SSH_COMMAND", "ssh -J jump.invalid"),
    ("RSYNC_RSH", "ssh -vJ user@jump.invalid:2222"),
    ("BORG_RSH", "/usr/bin/ssh -i /k -J jump.invalid"),
]
NOT_PROXIES = [
    ("NO_PROXY_CHECKS", "1"),
    ("PROXYCHAINS_CONF", "/etc/x"),
    ("PATH", "/usr/bin"),
    ("JAVA_TOOL_OPTIONS", "-Xmx1g -XX:+UseG1GC"),
    ("LANG", "C.UTF-8"),
    ("GIT_CONFIG_COUNT", "1"),
    ("GIT_CONFIG_KEY_0", "user.name"),
    ("GIT_CONFIG_VALUE_0", "http://proxy.invalid:3128"),  # a value alone: its key says what it is
    ("GIT_CONFIG_PARAMETERS", "'safe.directory'='*'"),
    ("GIT_SSH_COMMAND", "ssh -i /k -o StrictHostKeyChecking=yes"),
    ("JAVA_OPTS", "-Jfoo"),
]


@pytest.mark.parametrize(("name", "value"), PROXIES)
def test_proxy_settings_are_recognised(name: str, value: str) -> None:
    assert proxies.is_proxy_setting(name, value)


@pytest.mark.parametrize(("name", "value"), NOT_PROXIES)
def test_other_settings_are_not(name: str, value: str) -> None:
    assert not proxies.is_proxy_setting(name, value)


def test_build_args_are_passed_by_name_only_when_set() -> None:
    environ = {"https_proxy": "http://p.invalid:3128", "NO_PROXY": "", "socks_proxy": "x", "PATH": "/bin"}
    assert proxies.build_args_set(environ) == ("https_proxy",)
    assert all(proxies.is_proxy_setting(name) for name in proxies.BUILD_ARGS)
