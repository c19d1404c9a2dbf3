"""Proxies and credentials stay out of the image configuration.

ENV is persisted in the image and inherited by every child; build args are
recorded in the image history. Proxies belong in the predefined proxy build
args (never persisted), secrets in `RUN --mount=type=secret`.
"""

from __future__ import annotations

from collections.abc import Iterator

from factory import proxies
from factory.lint.model import Severity
from factory.lint.parse import Dockerfile, Instruction, env_items
from factory.lint.policy import Policy
from factory.lint.rules.base import Hit, Rule
from factory.sensitive import URL_CREDENTIALS, is_secret_name


def _env(dockerfile: Dockerfile) -> Iterator[tuple[Instruction, str, str]]:
    """Every ENV key and value, ONBUILD ENV included (it persists in every image built FROM this one)."""
    for stage in dockerfile.stages:
        for instruction in stage.instructions_and_triggers:
            if instruction.keyword == "ENV":
                for key, value in env_items(instruction):
                    yield instruction, key, value


def _proxy_in_env(dockerfile: Dockerfile, policy: Policy) -> Iterator[Hit]:
    for instruction, key, value in _env(dockerfile):
        if proxies.is_proxy_setting(key, value):
            yield Hit(
                instruction.start_line,
                f"{instruction.label} {key} persists a proxy setting in the image: pass it as a build arg instead",
            )


def _credential_in_env(dockerfile: Dockerfile, policy: Policy) -> Iterator[Hit]:
    for instruction, key, value in _env(dockerfile):
        shown = f"{instruction.label} {key}"
        if is_secret_name(key) and value:
            yield Hit(instruction.start_line, f"{shown} stores a credential in the image: use RUN --mount=type=secret")
        elif URL_CREDENTIALS.search(value):
            yield Hit(
                instruction.start_line, f"{shown} holds a URL with a user and password: use RUN --mount=type=secret"
            )


def _secret_build_arg(dockerfile: Dockerfile, policy: Policy) -> Iterator[Hit]:
    for instruction in dockerfile.instructions_and_triggers:
        if instruction.keyword != "ARG":
            continue
        for word in instruction.args:
            name = word.split("=", 1)[0]
            if is_secret_name(name):
                yield Hit(
                    instruction.start_line,
                    f"{instruction.label} {name} looks like a secret: build args are recorded in the image history;"
                    " use RUN --mount=type=secret",
                )


PROXY_IN_ENV = Rule("FB030", Severity.WARNING, "no proxy settings in ENV (use build args)", _proxy_in_env)
CREDENTIAL_IN_ENV = Rule(
    "FB031", Severity.ERROR, "no credentials in ENV (use RUN --mount=type=secret)", _credential_in_env
)
SECRET_BUILD_ARG = Rule(
    "FB032", Severity.WARNING, "no secrets as build args (use RUN --mount=type=secret)", _secret_build_arg
)
