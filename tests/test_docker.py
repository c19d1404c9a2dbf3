"""Docker.run against a fake SDK client: the exit code and output, a hung container stopped, and every
container removed, whatever happened (the real engine: tests/engine)."""

from __future__ import annotations

from typing import Any

import docker.errors as docker_errors
import pytest
import requests.exceptions

from factory.docker import ContainerSpec, Docker
from factory.errors import EnvironmentProblem

SPEC = ContainerSpec("r/python@sha256:" + "1" * 64, ["python3", "-V"], "linux/arm64", user="10001:10001")


class FakeContainer:
    """Records every call in order; `fail` maps a method name to the exception it raises."""

    def __init__(self, calls: list[str], exit_code: int, fail: dict[str, BaseException]) -> None:
        self.calls, self.exit_code, self.fail = calls, exit_code, fail

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if name in self.fail:
            raise self.fail[name]

    def start(self) -> None:
        self._call("start")

    def wait(self, timeout: float) -> dict[str, int]:
        self._call(f"wait {timeout:g}")
        return {"StatusCode": self.exit_code}

    def stop(self, timeout: int) -> None:
        self._call(f"stop {timeout}")

    def logs(self, stdout: bool, stderr: bool) -> bytes:
        self._call("logs")
        return b"Python 3.13.1\n"

    def remove(self, force: bool) -> None:
        self._call(f"remove force={force}")


class FakeClient:
    """The part of docker.DockerClient that Docker.run uses: `containers.create`."""

    def __init__(self, exit_code: int = 0, **fail: BaseException) -> None:
        self.calls: list[str] = []
        self.created: list[dict[str, Any]] = []
        self.exit_code, self.fail = exit_code, fail
        self.containers = self

    def create(self, image: str, **options: Any) -> FakeContainer:
        self.calls.append("create")
        if "create" in self.fail:
            raise self.fail["create"]
        self.created.append({"image": image, **options})
        return FakeContainer(self.calls, self.exit_code, self.fail)


def _docker(client: FakeClient) -> Docker:
    docker = Docker("docker", {})
    docker._client = client
    return docker


def test_a_container_runs_to_its_end_and_is_removed() -> None:
    client = FakeClient(exit_code=3)
    outcome = _docker(client).run(SPEC, timeout=30)
    assert (outcome.exit_code, outcome.output, outcome.timed_out) == (3, "Python 3.13.1\n", False)
    assert client.calls == ["create", "start", "wait 30", "logs", "remove force=True"]
    created = client.created[0]
    assert (created["image"], created["platform"], created["user"], created["network_mode"]) == (
        SPEC.image,
        "linux/arm64",
        "10001:10001",
        "none",
    )


@pytest.mark.parametrize(
    "timed_out",
    [requests.exceptions.ConnectionError("Read timed out."), requests.exceptions.ReadTimeout("Read timed out.")],
    ids=["unix socket", "tcp"],
)
def test_a_container_that_runs_over_its_timeout_is_stopped_then_removed(timed_out: Exception) -> None:
    client = FakeClient(**{"wait 2": timed_out})
    outcome = _docker(client).run(SPEC, timeout=2)
    assert outcome.timed_out and outcome.exit_code == -1 and outcome.output == "Python 3.13.1\n"
    assert client.calls == ["create", "start", "wait 2", "stop 5", "logs", "remove force=True"]


@pytest.mark.parametrize("failing", ["start", "wait 30", "logs"], ids=["start fails", "wait fails", "logs fail"])
def test_the_container_is_removed_when_running_it_fails(failing: str) -> None:
    error = docker_errors.APIError("boom")
    client = FakeClient(**{failing: error})
    with pytest.raises(EnvironmentProblem, match=f"running {SPEC.image} failed"):
        _docker(client).run(SPEC, timeout=30)
    assert client.calls[-1] == "remove force=True" and client.calls.count("remove force=True") == 1


def test_a_removal_that_fails_does_not_hide_the_outcome() -> None:
    client = FakeClient(**{"remove force=True": docker_errors.APIError("already gone")})
    assert _docker(client).run(SPEC, timeout=30).exit_code == 0


def test_a_container_that_cannot_be_created_is_an_environment_problem() -> None:
    client = FakeClient(create=docker_errors.ImageNotFound("no such image"))
    with pytest.raises(EnvironmentProblem, match=f"cannot create a container of {SPEC.image}: no such image"):
        _docker(client).run(SPEC, timeout=30)
    assert client.calls == ["create"]
