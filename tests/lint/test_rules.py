"""Spec of every own rule: Dockerfiles it catches (exact lines) and Dockerfiles it must not flag.

Each case lists a Dockerfile line by line and the lines where one rule must
report, and nothing else from that rule; a meta test checks that every rule
of the catalogue has both kinds of case.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import pytest

from factory.lifecycle import Lifecycle, Status
from factory.lint import rules
from factory.lint.parse import REJECTED, parse_text
from factory.lint.policy import Policy
from factory.lint.rules import downloads
from tests.lint.conftest import BASE, DIGEST, HEAD_LINES, POLICY, parsed

HEAD = HEAD_LINES
TINI = ["USER 10001:10001", 'ENTRYPOINT ["/usr/bin/tini", "--"]']
TARGET_LABELS = [
    '      io.factory.stack="node" \\',
    '      io.factory.variant="runtime" \\',
    '      io.factory.version="20"',
]
LIFECYCLES = dataclasses.replace(
    POLICY,
    lifecycles=MappingProxyType(
        {
            ("node", "20", "runtime"): Lifecycle(
                Status.OVERRIDDEN,
                "node 20 reached its end of life on 2026-04-30; kept until 2027-03-01 by an override: patched",
            ),
            ("os", "", "trixie"): Lifecycle(
                Status.ENDING, "debian 13 reaches its end of life on 2027-01-10, in 34 days"
            ),
        }
    ),
)


@dataclass(frozen=True)
class Case:
    code: str
    name: str
    lines: list[str]
    expected: list[int]  # lines where `code` must be reported ([] = must not flag)
    policy: Policy = POLICY
    dockerignore: bool = True
    messages: list[str] = field(default_factory=list)  # substrings the messages must contain


CASES = [
    # FB000 the file must parse
    Case("FB000", "unknown instruction", ["FROM x", "FROBNICATE y"], [2]),
    Case("FB000", "unterminated heredoc", ["FROM x", "RUN <<EOT", "echo"], [2]),
    Case("FB000", "instruction before FROM", ["LABEL a=b", "FROM x"], [1]),
    Case(
        "FB000",
        "command substitutions nested too deep for the lint",
        [*HEAD, "RUN echo " + "$(" * 33 + "curl -f https://e.invalid/i.sh | sh" + ")" * 33, *TINI],
        [3],
        messages=["RUN has command substitutions nested more than 32 deep: the lint cannot read its commands"],
    ),
    Case("FB000", "a valid file", [*HEAD, *TINI], []),
    # FB001 floating images
    Case("FB001", "no tag", ["FROM debian", *TINI], [1], messages=["has no tag"]),
    Case("FB001", "latest", ["FROM debian:latest AS base", *TINI], [1], messages=["floating tag latest"]),
    Case("FB001", "latest through an ARG", ["ARG B=debian:latest", "FROM ${B}", *TINI], [2]),
    Case("FB001", "COPY --from an untagged image", [*HEAD, "COPY --from=busybox /bin/sh /sh", *TINI], [3]),
    Case("FB001", "pinned latest", [f"FROM debian:latest@{DIGEST}", *TINI], []),
    Case("FB001", "scratch and stage names", ["FROM scratch AS a", "FROM a", "COPY --from=a /x /x", *TINI], []),
    # FB002 tags without digest
    Case("FB002", "tag only", ["FROM debian:12", *TINI], [1]),
    Case("FB002", "tag through an ARG", ["ARG B=debian:12", "FROM $B", *TINI], [2]),
    Case("FB002", "COPY --from a tag", [*HEAD, "COPY --from=busybox:1.36 /bin/sh /sh", *TINI], [3]),
    Case("FB002", "digest", [f"FROM debian:12@{DIGEST}", *TINI], []),
    Case("FB002", "digest not required", ["FROM debian:12", *TINI], [], policy=Policy(require_digest=False)),
    # FB003 allow-list
    Case("FB003", "not in the allow-list", [f"FROM debian:12@{DIGEST}", *TINI], [1], messages=["the test catalogue"]),
    Case("FB003", "unified OS", [*HEAD, *TINI], []),
    Case("FB003", "allowed registry", [f"FROM registry.example/base/python:3@{DIGEST}", *TINI], []),
    Case("FB003", "no allow-list", [f"FROM debian:12@{DIGEST}", *TINI], [], policy=Policy()),
    Case(
        "FB003",
        "COPY --from a foreign image",
        [*HEAD, f"COPY --from=evil.example/x:1@{DIGEST} /etc/shadow /x", *TINI],
        [3],
        messages=["COPY --from image evil.example/x is not the unified OS or another image of the test catalogue"],
    ),
    Case("FB003", "COPY --from allowed", [*HEAD, f"COPY --from=factory.invalid/jq:1@{DIGEST} /a /a", *TINI], []),
    Case("FB003", "COPY --from a stage", ["FROM scratch AS a", "FROM a", "COPY --from=a /x /x", *TINI], []),
    Case(
        "FB003",
        "no allow-list, closed",
        [f"FROM debian:12@{DIGEST}", *TINI],
        [1],
        policy=Policy(closed=True, allowed_source="--allow-image"),
    ),
    # FB004 base image from a build arg without default
    Case("FB004", "ARG without default", ["ARG BASE", "FROM ${BASE}", *TINI], [2], messages=["ARG BASE a default"]),
    Case("FB004", "ARG with default", [*HEAD, *TINI], []),
    Case("FB004", "inline default", [f"FROM ${{BASE:-{BASE}}}", *TINI], []),
    # FB010 root
    Case("FB010", "no USER on scratch", ["FROM scratch", "COPY app /app", 'ENTRYPOINT ["/tini"]'], [1]),
    Case("FB010", "no USER on a foreign base", [f"FROM debian:12@{DIGEST}", 'ENTRYPOINT ["tini"]'], [1]),
    Case("FB010", "USER root", [*HEAD, "USER root", 'ENTRYPOINT ["tini"]'], [3]),
    Case("FB010", "USER 0:0", [*HEAD, "USER 0:0", 'ENTRYPOINT ["tini"]'], [3]),
    Case(
        "FB010",
        "uid 0 with leading zeros",
        [*HEAD, "USER 00", "USER 000:000", "RUN true", "USER 0000", 'ENTRYPOINT ["tini"]'],
        [6],
        messages=["the final USER is 0000: the container runs as root"],
    ),
    Case("FB010", "+0 as Go reads it", [*HEAD, "USER +0:10001", 'ENTRYPOINT ["tini"]'], [3]),
    Case("FB010", "quoted", [*HEAD, 'USER "0"', 'ENTRYPOINT ["tini"]'], [3], messages=['USER is "0" (0)']),
    Case("FB010", "root:root", [*HEAD, "USER root:root", 'ENTRYPOINT ["tini"]'], [3]),
    Case(
        "FB010",
        "an ARG whose default is 0",
        [*HEAD, "ARG UID=0", "USER ${UID}:${UID}", 'ENTRYPOINT ["tini"]'],
        [4],
        messages=["the final USER is ${UID}:${UID} (0:0): the container runs as root"],
    ),
    Case(
        "FB010",
        "a global ARG of 0 declared again in the stage",
        ["ARG UID=00", *HEAD, "ARG UID", "USER $UID", 'ENTRYPOINT ["tini"]'],
        [5],
        messages=["$UID (00)"],
    ),
    Case(
        "FB010",
        "an ARG of a parent stage, through an ENV",
        [*HEAD[:1], "FROM ${BASE_IMAGE} AS b", "ARG U=0", "ENV RUN_AS=$U", "FROM b", "USER ${RUN_AS}", *TINI[1:]],
        [6],
    ),
    Case("FB010", "an empty value", [*HEAD, "ARG U=", "USER ${U}", 'ENTRYPOINT ["tini"]'], [4], messages=["(empty)"]),
    Case("FB010", "numeric non-root", [*HEAD, "USER 0:0", "RUN true", *TINI], []),
    Case("FB010", "uid 10, gid 0", [*HEAD, "USER 010:0", 'ENTRYPOINT ["tini"]'], []),
    Case("FB010", "a name that only starts with root", [*HEAD, "USER rootless", 'ENTRYPOINT ["tini"]'], []),
    Case(
        "FB010",
        "an ARG set to 0 later does not count",
        [*HEAD, "ARG U=10001", "USER $U", "ARG U=0", 'ENTRYPOINT ["tini"]'],
        [],
    ),
    Case("FB010", "a value only the build knows", [*HEAD, "ARG U", "USER $U", 'ENTRYPOINT ["tini"]'], []),
    Case("FB010", "inherits the catalogue's user", [*HEAD, 'CMD ["app"]'], []),
    Case(
        "FB010",
        "an allowed but foreign base promises no user",
        [f"FROM registry.example/base/debian:12@{DIGEST}", 'CMD ["app"]'],
        [1],
    ),
    Case("FB010", "root only in a build stage", [*HEAD[:1], "FROM ${BASE_IMAGE} AS b", "USER 0", *HEAD[1:], *TINI], []),
    # FB011 numeric USER
    Case("FB011", "user name", [*HEAD, "USER app", 'ENTRYPOINT ["tini"]'], [3], messages=["runAsNonRoot"]),
    Case("FB011", "user:group names", [*HEAD, "USER app:app", 'ENTRYPOINT ["tini"]'], [3]),
    Case("FB011", "uid", [*HEAD, "USER 10001", 'ENTRYPOINT ["tini"]'], []),
    Case("FB011", "00:00 is FB010's", [*HEAD, "USER 00:00", 'ENTRYPOINT ["tini"]'], []),
    Case("FB011", "root:root is FB010's", [*HEAD, "USER root:root", 'ENTRYPOINT ["tini"]'], []),
    Case("FB011", "root through an ARG is FB010's", [*HEAD, "ARG U=root", "USER $U", 'ENTRYPOINT ["tini"]'], []),
    Case("FB011", "a value only the build knows", [*HEAD, "ARG U", "USER $U", 'ENTRYPOINT ["tini"]'], [4]),
    Case("FB011", "uid from a stage ARG", [*HEAD, "ARG UID=10001", "USER ${UID}:${UID}", 'ENTRYPOINT ["tini"]'], []),
    # FB020 init as PID 1
    Case("FB020", "ENTRYPOINT without init", [*HEAD, "USER 1", 'ENTRYPOINT ["/app"]'], [4]),
    Case("FB020", "shell form", [*HEAD, "USER 1", "ENTRYPOINT /usr/bin/tini -- /app"], [4], messages=["shell form"]),
    Case("FB020", "no ENTRYPOINT on a foreign base", [f"FROM debian:12@{DIGEST}", "USER 1", 'CMD ["app"]'], [1]),
    Case("FB020", "tini", [*HEAD, *TINI], []),
    Case("FB020", "dumb-init", [*HEAD, "USER 1", 'ENTRYPOINT ["dumb-init", "--"]'], []),
    Case("FB020", "inherits the catalogue's tini", [*HEAD, 'CMD ["app"]'], []),
    # FB021 process supervisor
    Case("FB021", "supervisord", [*HEAD, *TINI, 'CMD ["/usr/bin/supervisord", "-n"]'], [5]),
    Case("FB021", "s6 behind tini", [*HEAD, "USER 1", 'ENTRYPOINT ["tini", "--", "s6-svscan", "/etc/s6"]'], [4]),
    Case("FB021", "one process", [*HEAD, *TINI, 'CMD ["python3", "-m", "app"]'], []),
    # FB030 proxy in ENV
    Case("FB030", "http_proxy", [*HEAD, "ENV http_proxy=http://proxy.invalid:3128", *TINI], [3]),
    Case("FB030", "HTTPS_PROXY, old syntax", [*HEAD, "ENV HTTPS_PROXY http://proxy.invalid", *TINI], [3]),
    Case("FB030", "socks_proxy", [*HEAD, "ENV socks_proxy=socks5://proxy.invalid:1080", *TINI], [3]),
    Case("FB030", "npm proxy", [*HEAD, "ENV npm_config_https_proxy=http://proxy.invalid", *TINI], [3]),
    Case("FB030", "JVM proxy options", [*HEAD, 'ENV JAVA_TOOL_OPTIONS="-Dhttps.proxyHost=p.invalid"', *TINI], [3]),
    Case("FB030", "proxy as build arg", [*HEAD, "ARG http_proxy", "ENV NO_PROXY_CHECKS=1", *TINI], []),
    Case("FB030", "git config key", [*HEAD, "ENV GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=http.proxy", *TINI], [3]),
    Case("FB030", "git config parameters", [*HEAD, "ENV GIT_CONFIG_PARAMETERS=\"'http.proxy'='p'\"", *TINI], [3]),
    Case("FB030", "ssh ProxyCommand", [*HEAD, 'ENV GIT_SSH_COMMAND="ssh -o ProxyCommand=nc p 22"', *TINI], [3]),
    Case("FB030", "ssh jump host", [*HEAD, 'ENV RSYNC_RSH="ssh -J jump.invalid"', *TINI], [3]),
    Case("FB030", "git config, no proxy", [*HEAD, "ENV GIT_CONFIG_KEY_0=user.name GIT_CONFIG_VALUE_0=ci", *TINI], []),
    # FB031 credentials in ENV
    Case("FB031", "password", [*HEAD, "ENV DB_PASSWORD=hunter2", *TINI], [3]),
    Case("FB031", "token", [*HEAD, "ENV A=1 GITHUB_TOKEN=abc", *TINI], [3]),
    Case("FB031", "URL with credentials", [*HEAD, "ENV PIP_INDEX_URL=https://u:p@pypi.invalid/simple", *TINI], [3]),
    Case("FB031", "references and non-secrets", [*HEAD, "ENV PASSWORD_FILE=/run/secrets/db GPG_KEY=ABCD", *TINI], []),
    Case("FB031", "empty value", [*HEAD, 'ENV API_TOKEN=""', *TINI], []),
    # FB032 secret build args
    Case("FB032", "token as build arg", ["ARG NPM_TOKEN", *HEAD, *TINI], [1]),
    Case("FB032", "ordinary build args", ["ARG VERSION=1", "ARG TOKEN_FILE=/run/secrets/t", *HEAD, *TINI], []),
    # FB040 downloads must fail loudly
    Case("FB040", "curl without --fail", [*HEAD, "RUN curl -sSL -o /x https://e.invalid/x", *TINI], [3]),
    Case("FB040", "piped wget", [*HEAD, "RUN <<EOT", "set -eu", "wget -qO- https://e.invalid/x | tar -x", "EOT"], [5]),
    Case("FB040", "curl -fsSL", [*HEAD, "RUN curl -fsSL -o /x https://e.invalid/x", *TINI], []),
    Case("FB040", "curl --fail", [*HEAD, "RUN curl --fail --output /x https://e.invalid/x", *TINI], []),
    Case(
        "FB040",
        "pipe with pipefail",
        [*HEAD, "RUN <<EOT", "set -euo pipefail", "curl -f https://e.invalid/x | tar -x", "EOT", *TINI],
        [],
    ),
    Case(
        "FB040",
        "SHELL with pipefail",
        [*HEAD, 'SHELL ["/bin/bash", "-o", "pipefail", "-c"]', "RUN curl -f https://e.invalid/x | tar -x", *TINI],
        [],
    ),
    # FB041 downloads must be verified
    Case("FB041", "not verified", [*HEAD, "RUN curl -fsSLo /x https://e.invalid/x", *TINI], [3]),
    Case(
        "FB041", "piped into sh", [*HEAD, "RUN curl -fsSL https://e.invalid/i.sh | sh", *TINI], [3], messages=["shell"]
    ),
    Case(
        "FB041",
        "verified in the same RUN",
        [
            *HEAD,
            "RUN <<EOT",
            "set -eux",
            "curl -fsSLo /x https://e.invalid/x",
            'echo "abc  /x" | sha256sum -c -',
            "EOT",
        ],
        [],
    ),
    Case(
        "FB041",
        "only the download after the last check is unverified",
        [
            *HEAD,
            "RUN <<EOT",
            "set -eux",
            "curl -fsSLo /a https://e.invalid/a",  # 5
            'echo "abc  /a" | sha256sum -c -',
            "wget -O /b https://e.invalid/b",  # 7
            "EOT",
            *TINI,
        ],
        [7],
    ),
    Case(
        "FB041",
        "verified in a later RUN of the stage",
        [*HEAD, "RUN wget -O /x https://e.invalid/x", "RUN gpg --verify /x.asc /x", *TINI],
        [],
    ),
    Case(
        "FB041",
        "not a download",
        [*HEAD, "HEALTHCHECK CMD curl -f http://localhost/", "RUN curl -fsS http://h/", *TINI],
        [],
    ),
    Case(
        "FB041",
        "command substitution run by sh -c",
        [*HEAD, 'RUN sh -c "$(curl -fsSL https://e.invalid/i.sh)"', *TINI],
        [3],
        messages=["curl output is run as code by sh (a command or process substitution)"],
    ),
    Case("FB041", "process substitution", [*HEAD, "RUN bash <(curl -fsSL https://e.invalid/i.sh)", *TINI], [3]),
    Case("FB041", "redirected process substitution", [*HEAD, "RUN sh < <(curl -fsSL https://e.invalid/i)", *TINI], [3]),
    Case("FB041", "eval", [*HEAD, 'RUN eval "$(wget -qO- https://e.invalid/env)"', *TINI], [3]),
    Case("FB041", "source", [*HEAD, "RUN . <(curl -fsSL https://e.invalid/env)", *TINI], [3]),
    Case("FB041", "backticks", [*HEAD, "RUN bash -c `curl -fsSL https://e.invalid/i.sh`", *TINI], [3]),
    Case("FB041", "run as the command", [*HEAD, "RUN $(curl -fsSL https://e.invalid/cmd)", *TINI], [3]),
    Case(
        "FB041",
        "in a heredoc",
        [*HEAD, "RUN <<EOT", "set -eu", 'sh -c "$(curl -fsSL https://e.invalid/i.sh)"', "EOT", *TINI],
        [5],
    ),
    Case(
        "FB041",
        "substitutions that run no download",
        [
            *HEAD,
            'RUN sh -c "$(cat /etc/install.sh)" && echo "$(curl -fsS http://h/health)"',
            'RUN bash -c "echo $(curl -fsS http://h/v)" && diff <(sort a) <(sort b)',
            *TINI,
        ],
        [],
    ),
    # FB042 ADD of remote URLs
    Case("FB042", "ADD https", [*HEAD, "ADD https://e.invalid/x.tar.gz /x", *TINI], [3]),
    Case("FB042", "ADD git", [*HEAD, "ADD git@git.invalid:x/y.git /src", *TINI], [3]),
    Case("FB042", "ADD --checksum", [*HEAD, f"ADD --checksum={DIGEST} https://e.invalid/x /x", *TINI], []),
    Case("FB042", "ADD local", [*HEAD, "ADD rootfs.tar /", *TINI], []),
    # FB043 architecture-specific downloads
    Case(
        "FB043",
        "fixed amd64 URL",
        [*HEAD, "RUN <<EOT", "set -eux", "curl -fsSLo /x https://e.invalid/tool-linux-amd64", "EOT"],
        [5],
    ),
    Case(
        "FB043",
        "each fixed URL at its own line",
        [
            *HEAD,
            "RUN <<EOT",
            "set -eux",
            "curl -fsSLo /x https://e.invalid/tool-linux-amd64",  # 5
            "curl -fsSLo /y https://e.invalid/plain",
            "curl -fsSLo /z https://e.invalid/other_aarch64.tgz",  # 7
            "EOT",
        ],
        [5, 7],
    ),
    Case("FB043", "ADD x86_64", [*HEAD, f"ADD --checksum={DIGEST} https://e.invalid/t_x86_64.tgz /t", *TINI], [3]),
    Case(
        "FB043",
        "chosen by TARGETARCH",
        [
            *HEAD,
            "ARG TARGETARCH",
            "RUN <<EOT",
            "set -eux",
            'case "${TARGETARCH}" in amd64) u=https://e.invalid/t-amd64 ;; arm64) u=https://e.invalid/t-arm64 ;; esac',
            'curl -fsSLo /x "$u"',
            "EOT",
        ],
        [],
    ),
    Case("FB043", "dpkg architecture", [*HEAD, "RUN curl -fo /x https://e.invalid/t-$(dpkg --print-architecture)"], []),
    # FB050 chained RUN strings
    Case(
        "FB050",
        "three commands",
        [*HEAD, "RUN apt-get update && apt-get install -y x && rm -rf /var/lib/apt/lists/*"],
        [3],
    ),
    Case("FB050", "two commands", [*HEAD, "RUN mkdir /x && chown 1:1 /x", *TINI], []),
    Case("FB050", "a pipeline is one step", [*HEAD, "RUN curl -f https://e.invalid/x | tar -x && true", *TINI], []),
    Case("FB050", "heredoc", [*HEAD, "RUN <<EOT", "set -eux", "a", "b", "c", "EOT", *TINI], []),
    # FB051 heredoc without set -e
    Case("FB051", "no set -e", [*HEAD, "RUN <<EOT", "apt-get update", "apt-get install -y x", "EOT", *TINI], [3]),
    Case("FB051", "set -e too late", [*HEAD, "RUN <<EOT", "false", "set -e", "true", "EOT", *TINI], [3]),
    Case("FB051", "set -eux", [*HEAD, "RUN <<EOT", "set -eux", "false", "true", "EOT", *TINI], []),
    Case("FB051", "set -o errexit", [*HEAD, "RUN <<EOT", "set -o errexit", "false", "true", "EOT", *TINI], []),
    Case("FB051", "shebang -e", [*HEAD, "RUN <<EOT", "#!/bin/bash -e", "false", "true", "EOT", *TINI], []),
    Case("FB051", "SHELL -e", [*HEAD, 'SHELL ["/bin/sh", "-ec"]', "RUN <<EOT", "false", "true", "EOT", *TINI], []),
    Case("FB051", "one command", [*HEAD, "RUN <<EOT", "apt-get update", "EOT", *TINI], []),
    Case("FB051", "python", [*HEAD, "RUN <<EOT", "#!/usr/bin/python3", "import os", "print(os)", "EOT", *TINI], []),
    # FB060 ARG scoping
    Case(
        "FB060", "global ARG in RUN", ["ARG VERSION=1", *HEAD, 'RUN echo "$VERSION"', *TINI], [4], messages=["global"]
    ),
    Case("FB060", "platform ARG in ENV", [*HEAD, "ENV ARCH=${TARGETARCH}", *TINI], [3], messages=["ARG TARGETARCH"]),
    Case("FB060", "used before its ARG", [*HEAD, "WORKDIR /opt/$APP", "ARG APP=x", *TINI], [3], messages=["line 4"]),
    Case(
        "FB060",
        "in a heredoc line",
        [*HEAD, "RUN <<EOT", "set -eux", "echo $TARGETPLATFORM", "EOT", *TINI],
        [5],
    ),
    Case("FB060", "FROM with an undeclared name", ["FROM ${IMAGE}", *TINI], [1], messages=["before the first FROM"]),
    Case("FB060", "re-declared", ["ARG VERSION=1", *HEAD, "ARG VERSION", 'RUN echo "$VERSION"', *TINI], []),
    Case("FB060", "assigned in the script", ["ARG V=1", *HEAD, "RUN V=2; echo $V", *TINI], []),
    Case("FB060", "single-quoted", ["ARG V=1", *HEAD, "RUN echo '$V'", *TINI], []),
    Case(
        "FB060",
        "declared in the parent stage",
        [*HEAD[:1], "FROM ${BASE_IMAGE} AS a", "ARG TARGETARCH", "FROM a", "RUN echo $TARGETARCH", *TINI],
        [],
    ),
    Case("FB060", "unknown name (base image ENV)", [*HEAD, 'RUN echo "$JAVA_HOME"', *TINI], []),
    Case("FB060", "ENV extends its inherited value", [*HEAD, 'ENV PATH="/opt/go/bin:$PATH"', *TINI], []),
    Case("FB060", "ENV copies a global ARG", ["ARG V=1", *HEAD, "ENV V=$V", *TINI], [4]),
    Case("FB060", "ENV copies a platform ARG", [*HEAD, "ENV TARGETARCH=${TARGETARCH}", *TINI], [3]),
    Case("FB060", "proxy args are predefined", [*HEAD, 'RUN echo "$http_proxy"', *TINI], []),
    Case("FB060", "platform ARG in FROM", ["FROM --platform=$BUILDPLATFORM scratch", *TINI], []),
    # FB070 recommends
    Case("FB070", "apt-get install", [*HEAD, "RUN <<EOT", "set -eux", "apt-get install -y curl", "EOT", *TINI], [5]),
    Case("FB070", "apt install", [*HEAD, "RUN apt -y install curl", *TINI], [3]),
    Case("FB070", "no recommends", [*HEAD, "RUN apt-get install -y --no-install-recommends curl", *TINI], []),
    Case("FB070", "apt-get option", [*HEAD, "RUN apt-get -o APT::Install-Recommends=false install -y curl", *TINI], []),
    # FB071 apt lists
    Case("FB071", "lists left", [*HEAD, "RUN <<EOT", "set -eux", "apt-get update", "apt-get install -y x", "EOT"], [5]),
    Case(
        "FB071",
        "lists removed",
        [*HEAD, "RUN <<EOT", "set -eux", "apt-get update", "rm -rf /var/lib/apt/lists/*", "EOT", *TINI],
        [],
    ),
    Case(
        "FB071",
        "lists in a cache mount",
        [*HEAD, "RUN --mount=type=cache,target=/var/lib/apt/lists apt-get update", *TINI],
        [],
    ),
    # FB072 upgrades
    Case("FB072", "apt-get upgrade", [*HEAD, "RUN apt-get -y upgrade", *TINI], [3]),
    Case("FB072", "apk upgrade", [*HEAD, "RUN apk upgrade --no-cache", *TINI], [3]),
    Case("FB072", "install only", [*HEAD, "RUN apt-get install -y --no-install-recommends x", *TINI], []),
    # FB080 layer order
    Case("FB080", "whole context first", [*HEAD, "COPY . /app", "RUN pip install -r /app/requirements.txt"], [3]),
    Case("FB080", "npm", [*HEAD, "WORKDIR /app", "COPY . .", "RUN npm ci", *TINI], [4]),
    Case(
        "FB080",
        "manifests first",
        [*HEAD, "COPY requirements.txt /app/", "RUN pip install -r /app/requirements.txt", "COPY . /app", *TINI],
        [],
    ),
    Case("FB080", "no dependency install", [*HEAD, "COPY . /app", "RUN make -C /app", *TINI], []),
    # FB081 .dockerignore
    Case("FB081", "no .dockerignore", [*HEAD, "COPY . /app", *TINI], [3], dockerignore=False),
    Case("FB081", "with .dockerignore", [*HEAD, "COPY . /app", *TINI], []),
    Case(
        "FB081",
        "context not used",
        [*HEAD, "COPY --from=busybox:1@" + DIGEST + " /x /x", *TINI],
        [],
        dockerignore=False,
    ),
    # FB090 compilers in the shipped image
    Case(
        "FB090", "gcc in a single stage", [*HEAD, "RUN apt-get install -y --no-install-recommends gcc make", *TINI], [3]
    ),
    Case("FB090", "jdk via apk", [*HEAD, "RUN apk add --no-cache openjdk17-jdk build-base", *TINI], [3]),
    Case(
        "FB090",
        "compilers in a build stage",
        [
            *HEAD[:1],
            "FROM ${BASE_IMAGE} AS build",
            "RUN apt-get install -y --no-install-recommends gcc",
            *HEAD[1:],
            "COPY --from=build /out /app",
            *TINI,
        ],
        [],
    ),
    Case(
        "FB090",
        "a toolchain image says so",
        [*HEAD, "RUN apt-get install -y --no-install-recommends gcc", 'LABEL io.factory.variant="build"', *TINI],
        [],
    ),
    # ONBUILD: what a trigger carries is checked as the plain instruction (at the ONBUILD's lines)
    Case("FB000", "ONBUILD ONBUILD", [*HEAD, "ONBUILD ONBUILD USER 0"], [3], messages=[f"{REJECTED}Chaining ONBUILD"]),
    Case(
        "FB000", "ONBUILD FROM", [*HEAD, "ONBUILD FROM x"], [3], messages=["FROM isn't allowed as an ONBUILD trigger"]
    ),
    Case("FB000", "ONBUILD of nothing", [*HEAD, "ONBUILD"], [3], messages=["ONBUILD requires at least one argument"]),
    Case("FB000", "ONBUILD of an unknown instruction", [*HEAD, "ONBUILD FROBNICATE"], [3], messages=["FROBNICATE"]),
    Case("FB000", "a valid trigger", [*HEAD, *TINI, "ONBUILD RUN true"], []),
    Case("FB001", "ONBUILD COPY --from an untagged image", [*HEAD, *TINI, "ONBUILD COPY --from=busybox /x /x"], [5]),
    Case(
        "FB010",
        "ONBUILD USER 0:0",
        [*HEAD, *TINI, "ONBUILD USER 0:0"],
        [5],
        messages=["ONBUILD USER 0:0 makes every image built FROM this one run as root"],
    ),
    Case("FB010", "ONBUILD USER through an ONBUILD ARG", [*HEAD, *TINI, "ONBUILD ARG U=00", "ONBUILD USER $U"], [6]),
    Case("FB010", "ONBUILD USER through the image's ENV", [*HEAD, "ENV AS=0", *TINI, "ONBUILD USER ${AS}"], [6]),
    Case(
        "FB010",
        "a stage's trigger runs in the stage FROM it",
        [*HEAD[:1], "FROM ${BASE_IMAGE} AS base", "ONBUILD USER root", "FROM base", *TINI[1:]],
        [3],
    ),
    Case("FB010", "the last trigger USER is not root", [*HEAD, *TINI, "ONBUILD USER 0", "ONBUILD USER 10001"], []),
    Case(
        "FB010",
        "the stage FROM it sets its own USER",
        [*HEAD[:1], "FROM ${BASE_IMAGE} AS base", "ONBUILD USER 0", "FROM base", *TINI],
        [],
    ),
    Case("FB010", "the image's ARGs do not reach a child", [*HEAD, "ARG U=0", *TINI, "ONBUILD USER $U"], []),
    Case("FB011", "ONBUILD USER app", [*HEAD, *TINI, "ONBUILD USER app"], [5], messages=["ONBUILD USER app is not"]),
    Case("FB011", "ONBUILD USER uid:gid", [*HEAD, *TINI, "ONBUILD USER 10002:10002"], []),
    Case(
        "FB012",
        "triggers",
        [
            *HEAD[:1],
            "FROM ${BASE_IMAGE} AS b",
            "onbuild run true",
            *HEAD[1:],
            *TINI,
            "ONBUILD RUN <<EOT",
            "true",
            "EOT",
        ],
        [3, 7],
        messages=["runs in the build of every image FROM this one, hidden from its author: a base image needs no"],
    ),
    Case("FB012", "the word ONBUILD elsewhere", [*HEAD, "LABEL note=ONBUILD", "RUN echo ONBUILD", *TINI], []),
    # FB013 a catalogue image past (or near) its end of life, named by its labels
    Case(
        "FB013",
        "a version kept past its end of life",
        [*HEAD, "LABEL org.opencontainers.image.title=node \\", *TARGET_LABELS, *TINI],
        [3],
        policy=LIFECYCLES,
        messages=["node 20 reached its end of life on 2026-04-30; kept until 2027-03-01 by an override: patched"],
    ),
    Case(
        "FB013",
        "an unversioned image such as the OS base",
        [*HEAD, 'LABEL io.factory.stack="os" io.factory.variant="trixie"', *TINI],
        [3],
        policy=LIFECYCLES,
        messages=["debian 13 reaches its end of life on 2027-01-10, in 34 days"],
    ),
    Case(
        "FB013",
        "another version of the stack",
        [*HEAD, 'LABEL io.factory.stack="node" io.factory.version="22" io.factory.variant="runtime"', *TINI],
        [],
        policy=LIFECYCLES,
    ),
    Case(
        "FB013",
        "the labels of a stage that is not shipped",
        [*HEAD[:1], "FROM ${BASE_IMAGE} AS other", "LABEL io.factory.stack=node \\", *TARGET_LABELS, *HEAD[1:], *TINI],
        [],
        policy=LIFECYCLES,
    ),
    Case(
        "FB013",
        "no lifecycle known (outside a project)",
        [*HEAD, "LABEL io.factory.stack=node \\", *TARGET_LABELS, *TINI],
        [],
    ),
    Case(
        "FB020",
        "ONBUILD ENTRYPOINT without init",
        [*HEAD, *TINI, 'ONBUILD ENTRYPOINT ["/app"]'],
        [5],
        messages=["ONBUILD ENTRYPOINT runs app as PID 1"],
    ),
    Case("FB020", "ONBUILD ENTRYPOINT with tini", [*HEAD, *TINI, 'ONBUILD ENTRYPOINT ["tini", "--", "/app"]'], []),
    Case("FB021", "ONBUILD CMD supervisord", [*HEAD, *TINI, 'ONBUILD CMD ["supervisord"]'], [5]),
    Case(
        "FB030",
        "ONBUILD ENV proxy",
        [*HEAD, *TINI, "ONBUILD ENV https_proxy=http://p.invalid:3128"],
        [5],
        messages=["ONBUILD ENV https_proxy persists a proxy setting"],
    ),
    Case("FB031", "ONBUILD ENV password", [*HEAD, *TINI, "ONBUILD ENV DB_PASSWORD=hunter2"], [5]),
    Case(
        "FB032", "ONBUILD ARG token", [*HEAD, *TINI, "ONBUILD ARG NPM_TOKEN"], [5], messages=["ONBUILD ARG NPM_TOKEN"]
    ),
    Case("FB040", "ONBUILD RUN curl | sh", [*HEAD, *TINI, "ONBUILD RUN curl https://x.invalid/i.sh | sh"], [5]),
    Case(
        "FB041",
        "ONBUILD RUN curl | sh",
        [*HEAD, *TINI, "ONBUILD RUN curl -f https://x.invalid/i.sh | sh"],
        [5],
        messages=["curl output is piped into a shell"],
    ),
    Case(
        "FB041",
        "ONBUILD heredoc with flags",
        [*HEAD, *TINI, "ONBUILD RUN --network=host <<EOT", "set -eux", "true", "wget -O /x https://e.invalid/x", "EOT"],
        [8],
    ),
    Case(
        "FB041",
        "verified in a later trigger",
        [*HEAD, *TINI, "ONBUILD RUN curl -fo /x https://e.invalid/x", "ONBUILD RUN gpg --verify /x.asc /x"],
        [],
    ),
    Case("FB042", "ONBUILD ADD https", [*HEAD, *TINI, "ONBUILD ADD https://e.invalid/x.tgz /x"], [5]),
    Case(
        "FB051",
        "ONBUILD heredoc without set -e",
        [*HEAD, *TINI, "ONBUILD RUN <<EOT", "apt-get update", "apt-get install -y x", "EOT"],
        [5],
    ),
    Case("FB070", "ONBUILD apt-get install", [*HEAD, *TINI, "ONBUILD RUN apt-get install -y curl"], [5]),
    Case(
        "FB081",
        "a trigger reads the child's context, not this one",
        [*HEAD, *TINI, "ONBUILD COPY . /app"],
        [],
        dockerignore=False,
    ),
    # `# syntax=` frontends: BuildKit runs the image named to read the file
    Case(
        "FB005",
        "a foreign frontend",
        ["# syntax=evil.example/frontend:1", *HEAD, *TINI],
        [1],
        messages=[
            "the syntax directive makes BuildKit run the frontend image evil.example/frontend:1 to read this file:"
            " not an allowed frontend (docker/dockerfile, docker.io/docker/dockerfile)"
        ],
    ),
    Case(
        "FB005",
        "after a shebang and another directive",
        ["#!/usr/bin/env b", "# escape=`", "#SYNTAX = e/x", *HEAD],
        [3],
    ),
    Case("FB005", "// and leading blanks", ["  // syntax=e.invalid/x:1 --opt", *HEAD, *TINI], [1], messages=["x:1 to"]),
    Case("FB005", "a file BuildKit's parser rejects", ["# syntax=e.invalid/x", "FROM x", "FROBNICATE"], [1]),
    Case("FB005", "JSON", ['{"syntax": "e.invalid/x:1", "x": []}'], [1]),
    Case("FB005", "a look-alike repository", [f"# syntax=docker/dockerfile-evil:1@{DIGEST}", *HEAD, *TINI], [1]),
    Case(
        "FB005",
        "no frontend allowed",
        [f"# syntax=docker/dockerfile:1@{DIGEST}", *HEAD, *TINI],
        [1],
        policy=dataclasses.replace(POLICY, allowed_frontends=()),
        messages=["(none)"],
    ),
    Case("FB005", "Docker's frontend", [f"# syntax=docker/dockerfile:1@{DIGEST}", *HEAD, *TINI], []),
    Case("FB005", "spelled out", ["# syntax = docker.io/docker/dockerfile:1.7", *HEAD, *TINI], []),
    Case("FB005", "after the first instruction it is a comment", [*HEAD, "# syntax=e.invalid/x", *TINI], []),
    Case("FB005", "after an empty line it is a comment", ["", "# syntax=e.invalid/x", *HEAD, *TINI], []),
    Case(
        "FB005",
        "a frontend the policy allows",
        ["# syntax=registry.example/frontends/dockerfile:1", *HEAD, *TINI],
        [],
        policy=dataclasses.replace(POLICY, allowed_frontends=("registry.example/frontends/*",)),
    ),
    Case("FB001", "a frontend without a tag", ["# syntax=docker/dockerfile", *HEAD, *TINI], [1], messages=["syntax"]),
    Case(
        "FB002",
        "a frontend by tag only",
        ["# syntax=docker/dockerfile:1", *HEAD, *TINI],
        [1],
        messages=["syntax frontend docker/dockerfile:1 is not pinned by digest: use docker/dockerfile:1@sha256:..."],
    ),
    Case(
        "FB002",
        "a frontend by tag, digests not required",
        ["# syntax=docker/dockerfile:1", *HEAD, *TINI],
        [],
        policy=dataclasses.replace(POLICY, require_digest=False),
    ),
]


def _case_id(case: Case) -> str:
    return f"{case.code}-{re.sub(r'[^a-z0-9]+', '-', case.name.lower()).strip('-')}"


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_rule(case: Case, tmp_path: Path) -> None:
    dockerfile = parsed(tmp_path, case.lines, dockerignore=case.dockerignore)
    rule = next(r for r in rules.CATALOGUE if r.code == case.code)
    found = rule.run(dockerfile, case.policy)
    assert [f.line for f in found] == case.expected, [str(f) for f in found]
    for finding in found:
        assert (finding.file, finding.code, finding.severity, finding.source) == (
            "Dockerfile",
            rule.code,
            rule.severity,
            "factory",
        )
        for text in case.messages:
            assert text in finding.message


def test_every_rule_has_cases_it_catches_and_cases_it_passes() -> None:
    for rule in rules.CATALOGUE:
        kinds = {bool(c.expected) for c in CASES if c.code == rule.code}
        assert kinds == {True, False}, rule.code


def test_catalogue_is_explicit_immutable_and_unique() -> None:
    codes = [r.code for r in rules.CATALOGUE]
    assert len(codes) == len(set(codes))
    assert all(re.fullmatch(r"FB[0-9]{3}", c) for c in codes)
    assert codes == sorted(codes)
    assert isinstance(rules.CATALOGUE, tuple)
    with pytest.raises(dataclasses.FrozenInstanceError):
        rules.CATALOGUE[0].code = "FB999"  # type: ignore[misc]


def test_download_rules_check_each_command_and_script_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # A heredoc of thousands of downloads must not cost downloads x commands (it did: FB040/FB041 were quadratic).
    counts = {"_verifies": 0, "_pipefail": 0}
    for name in counts:
        original = getattr(downloads, name)

        def counting(arg: object, original: Callable[[object], bool] = original, name: str = name) -> bool:
            counts[name] += 1
            return original(arg)

        monkeypatch.setattr(downloads, name, counting)
    body = [f"curl -fsSL https://e.invalid/{i} | tar -x\ncurl -fo /{i} https://e.invalid/{i}" for i in range(100)]
    dockerfile = parse_text("\n".join([*HEAD, "RUN <<EOT", "set -eu", *body, "EOT", "RUN true", *TINI]))
    commands = sum(len(s.commands) for s in dockerfile.scripts)
    found = [downloads.SILENT_FAILURE.run(dockerfile, POLICY), downloads.UNVERIFIED.run(dockerfile, POLICY)]
    assert [len(f) for f in found] == [100, 200]  # the piped ones lack pipefail; none is verified
    assert counts == {"_verifies": commands, "_pipefail": len(dockerfile.scripts)}


def test_rules_skip_a_file_that_did_not_parse() -> None:
    broken = parse_text("FROM debian\nFROBNICATE\n")
    assert [f.code for f in rules.check(broken, POLICY)] == ["FB000"]
