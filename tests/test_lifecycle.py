"""factory.lifecycle: the state of a version on a day, at every boundary, and what loader and validate make of it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from factory import catalogue, lifecycle, model
from factory.cli import main
from factory.errors import DefinitionError, Problem
from factory.lifecycle import Level, Status
from factory.render import available_templates
from tests.support.targets import make_target

EOL = dt.date(2026, 4, 30)
DAY = dt.date(2026, 12, 7)
OVERRIDE = model.EolOverride(
    "Debian patches it", dt.date(2027, 3, 1), ("stacks/node.yaml", 9, "versions[0].eol_override.expires")
)
SUPPORT = model.Support("node", "20", EOL, ("24", "26"), OVERRIDE, ("stacks/node.yaml", 5, "versions[0].eol"))
BARE = dataclasses.replace(SUPPORT, override=None, replaced_by=())


def _on(day: dt.date, support: model.Support | None = BARE) -> lifecycle.Lifecycle:
    return lifecycle.judge(support, day)


def test_no_end_of_life_declared_is_supported() -> None:
    found = _on(DAY, None)
    assert (found.status, found.level, found.eol, found.days_left) == (Status.SUPPORTED, Level.OK, None, None)
    assert found.message == "no end of life declared"


@pytest.mark.parametrize(
    ("days_before", "status", "message"),
    [
        (91, Status.SUPPORTED, "node 20 reaches its end of life on 2026-04-30"),
        (90, Status.ENDING, "node 20 reaches its end of life on 2026-04-30, in 90 days"),
        (1, Status.ENDING, "node 20 reaches its end of life on 2026-04-30, in 1 day"),
        (
            0,
            Status.ENDED,
            "node 20 reached its end of life on 2026-04-30: move to a supported version, or keep it a while"
            " with eol_override (a reason and an expiry at most 90 days ahead)",
        ),
        (-1, Status.ENDED, "node 20 reached its end of life on 2026-04-30: move to a supported version, or keep"),
    ],
)
def test_the_days_around_the_end_of_life(days_before: int, status: Status, message: str) -> None:
    found = _on(EOL - dt.timedelta(days=days_before))
    assert (found.status, found.days_left, found.eol) == (status, days_before, EOL)
    assert found.message.startswith(message)
    assert found.level is {Status.SUPPORTED: Level.OK, Status.ENDING: Level.WARNING, Status.ENDED: Level.ERROR}[status]


def test_what_replaces_it_is_named() -> None:
    found = _on(EOL - dt.timedelta(days=10), dataclasses.replace(SUPPORT, override=None))
    assert found.replaced_by == ("24", "26")
    assert found.message == "node 20 reaches its end of life on 2026-04-30, in 10 days (replaced by node 24 or node 26)"


@pytest.mark.parametrize(
    ("day", "status", "message"),
    [
        (
            dt.date(2027, 3, 1),  # the expiry day itself still counts
            Status.OVERRIDDEN,
            "node 20 reached its end of life on 2026-04-30 (replaced by node 24 or node 26); kept until 2027-03-01"
            " by an override: Debian patches it",
        ),
        (
            dt.date(2027, 3, 2),
            Status.ENDED,
            "node 20 reached its end of life on 2026-04-30 (replaced by node 24 or node 26): its override expired on"
            " 2027-03-01 (Debian patches it): renew it (at most 90 days ahead) or move to a supported version",
        ),
        (dt.date(2026, 12, 1), Status.OVERRIDDEN, None),  # 90 days ahead exactly
        (
            dt.date(2026, 11, 30),  # 91 days ahead: too far, it does not count
            Status.ENDED,
            "node 20 reached its end of life on 2026-04-30 (replaced by node 24 or node 26): its override expires on"
            " 2027-03-01, more than 90 days ahead, so it does not count",
        ),
    ],
)
def test_an_override_counts_from_90_days_before_its_expiry_to_that_day(
    day: dt.date, status: Status, message: str | None
) -> None:
    found = _on(day, SUPPORT)
    assert found.status is status
    assert found.override == (OVERRIDE if status is Status.OVERRIDDEN else None)
    if message is not None:
        assert found.message == message


def test_an_override_before_the_end_of_life_changes_nothing() -> None:
    assert _on(EOL - dt.timedelta(days=5), SUPPORT).status is Status.ENDING


def _target(variant: str, support: model.Support | None) -> model.Target:
    return make_target(stack="node", version="20", variant=variant, image="node", tags=("20",), support=support)


def test_state_and_states_judge_a_target_by_its_version() -> None:
    targets = [_target("runtime", SUPPORT), _target("build", SUPPORT)]
    assert lifecycle.state(targets[0], DAY).status is Status.OVERRIDDEN
    assert {k: v.status for k, v in lifecycle.states(targets, DAY).items()} == {
        "node:20-runtime": Status.OVERRIDDEN,
        "node:20-build": Status.OVERRIDDEN,
    }


def test_problems_and_warnings_name_each_definition_once() -> None:
    targets = [_target("runtime", SUPPORT), _target("build", SUPPORT)]  # one version, two variants
    assert lifecycle.problems(targets, DAY) == []
    assert lifecycle.warnings(targets, DAY) == [
        Problem("stacks/node.yaml", 5, "versions[0].eol", _on(DAY, SUPPORT).message)
    ]
    later = dt.date(2027, 3, 2)
    assert lifecycle.problems(targets, later) == [
        Problem("stacks/node.yaml", 5, "versions[0].eol", _on(later, SUPPORT).message)
    ]
    assert lifecycle.warnings(targets, later) == []


def test_an_override_too_far_ahead_is_one_error_at_its_expiry() -> None:
    too_far = dataclasses.replace(OVERRIDE, expires=dt.date(2027, 6, 1))
    targets = [_target("runtime", dataclasses.replace(SUPPORT, override=too_far))]
    assert lifecycle.problems(targets, DAY) == [
        Problem(
            "stacks/node.yaml",
            9,
            "versions[0].eol_override.expires",
            "2027-06-01 is more than 90 days ahead (at most 2027-03-07): an override is reviewed at least that often",
        )
    ]


# -- from the definitions --------------------------------------------------------------------------

NODE = """\
variants: {runtime: {}, build: {from: runtime}}
versions:
  - version: "20"
    tags: ["20"]
    eol: 2026-04-30
    replaced_by: ["24"]
    eol_override: {reason: Debian patches it, expires: 2027-03-01}
  - version: "24"
    tags: ["24"]
    eol: 2027-01-10
  - version: "26"
    tags: ["26"]
"""


def test_the_loader_gives_each_target_its_version_and_the_os_its_release(make_project: Callable[..., Path]) -> None:
    os_yaml = (Path(__file__).parent / "fixtures/minimal/stacks/os.yaml").read_text()
    root = make_project(
        files={
            "stacks/node.yaml": NODE,
            "stacks/os.yaml": os_yaml.replace('trixie: {version: "13",', 'trixie: {eol: 2028-08-09, version: "13",'),
        }
    )
    loaded = catalogue.load(root, available_templates(root / "templates"), today=DAY)
    states = {k: (v.status, v.days_left) for k, v in lifecycle.states(loaded.targets, DAY).items()}
    assert states == {
        "os:trixie": (Status.SUPPORTED, 611),
        "tool:1.0-runtime": (Status.SUPPORTED, None),
        "node:20-runtime": (Status.OVERRIDDEN, -221),
        "node:20-build": (Status.OVERRIDDEN, -221),
        "node:24-runtime": (Status.ENDING, 34),
        "node:24-build": (Status.ENDING, 34),
        "node:26-runtime": (Status.SUPPORTED, None),
        "node:26-build": (Status.SUPPORTED, None),
    }
    assert loaded.os.support is not None and loaded.os.support.origin == ("stacks/os.yaml", 4, "releases.trixie.eol")
    node20 = loaded.target("node:20-build").support
    assert node20 is not None and node20.override is not None
    assert node20.origin == ("stacks/node.yaml", 5, "versions[0].eol")
    assert node20.override.origin == ("stacks/node.yaml", 7, "versions[0].eol_override.expires")
    with pytest.raises(DefinitionError) as refused:
        catalogue.load(root, available_templates(root / "templates"), today=dt.date(2027, 3, 2))
    assert [str(p) for p in refused.value.problems] == [
        "stacks/node.yaml:5: versions[0].eol: node 20 reached its end of life on 2026-04-30 (replaced by node 24):"
        " its override expired on 2027-03-01 (Debian patches it): renew it (at most 90 days ahead) or move to a"
        " supported version",
        "stacks/node.yaml:10: versions[1].eol: node 24 reached its end of life on 2027-01-10: move to a supported"
        " version, or keep it a while with eol_override (a reason and an expiry at most 90 days ahead)",
    ]


def test_validate_shows_the_warnings_and_passes(
    make_project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lifecycle, "today", lambda: DAY)
    root = make_project(files={"stacks/node.yaml": NODE})
    runner = CliRunner()
    result = runner.invoke(main, ["--root", str(root), "validate"])
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        "warning: stacks/node.yaml:5: versions[0].eol: node 20 reached its end of life on 2026-04-30 (replaced by"
        " node 24); kept until 2027-03-01 by an override: Debian patches it\n"
        "warning: stacks/node.yaml:10: versions[1].eol: node 24 reaches its end of life on 2027-01-10, in 34 days\n"
    )
    assert result.stdout == "ok: os:trixie and 2 stacks, 8 targets are valid\n"
    document = json.loads(runner.invoke(main, ["--root", str(root), "validate", "--output", "json"]).stdout)
    assert document["ok"] is True
    assert [(w["file"], w["line"], w["field"]) for w in document["warnings"]] == [
        ("stacks/node.yaml", 5, "versions[0].eol"),
        ("stacks/node.yaml", 10, "versions[1].eol"),
    ]


def test_no_warning_without_an_end_of_life(make_project: Callable[..., Path]) -> None:
    result = CliRunner().invoke(main, ["--root", str(make_project()), "validate", "--output", "json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["warnings"] == []
