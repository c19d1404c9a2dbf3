"""The policy of a project: the catalogue's images as bases, Docker's frontend plus the configured ones."""

from __future__ import annotations

from factory.lint.policy import DEFAULT_FRONTENDS, Policy, for_catalogue, parse_reference
from factory.project import Project
from tests.conftest import REPO

DIGEST = "sha256:" + "0" * 64


def test_docker_s_frontend_is_allowed_by_default_and_nothing_else() -> None:
    policy = Policy()
    assert policy.allowed_frontends == DEFAULT_FRONTENDS == ("docker/dockerfile", "docker.io/docker/dockerfile")
    assert policy.allows_frontend(parse_reference("docker/dockerfile:1"))
    assert policy.allows_frontend(parse_reference(f"docker.io/docker/dockerfile:1.7@{DIGEST}"))
    assert not policy.allows_frontend(parse_reference("docker/dockerfile-upstream:master"))
    assert not policy.allows_frontend(parse_reference("evil.example/docker/dockerfile:1"))
    assert not Policy(allowed_frontends=()).allows_frontend(parse_reference("docker/dockerfile:1"))


def test_the_catalogue_policy_takes_frontend_references_from_the_site_configuration() -> None:
    catalogue = Project(REPO).load()
    policy = for_catalogue(
        catalogue, extra_frontends=(f"registry.example/fe/dockerfile:1.7@{DIGEST}", "mirror.example/*")
    )
    assert policy.allowed_frontends == (*DEFAULT_FRONTENDS, "registry.example/fe/dockerfile", "mirror.example/*")
    assert policy.allows_frontend(parse_reference("registry.example/fe/dockerfile:1.8"))
    assert policy.allows_frontend(parse_reference("mirror.example/docker/dockerfile:1"))
    assert for_catalogue(catalogue).allowed_frontends == DEFAULT_FRONTENDS
