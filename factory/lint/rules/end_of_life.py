"""A catalogue image whose version ends soon, or is kept past its end of life by an override.

The catalogue declares each version's end of life (stacks/*.yaml `eol`);
factory.lifecycle judges it on the day of the run, and the policy carries the
judgement for each target. A rendered Dockerfile names its target by its
`io.factory.*` labels, so the finding lands on that LABEL instruction. It is
`info`: the date itself is the gate (validate refuses an ended version), so a
notice never fails the default threshold of an unrelated change.
"""

from __future__ import annotations

from collections.abc import Iterator

from factory.lint.model import Severity
from factory.lint.parse import Dockerfile, env_items
from factory.lint.policy import TARGET_LABELS, Policy
from factory.lint.rules.base import Hit, Rule


def _end_of_life(dockerfile: Dockerfile, policy: Policy) -> Iterator[Hit]:
    final = dockerfile.final
    if final is None or not policy.lifecycles:
        return
    values: dict[str, str] = {}
    line = 0
    for stage in dockerfile.chain(final):
        for instruction in stage.instructions:
            if instruction.keyword != "LABEL":
                continue
            for key, value in env_items(instruction):
                if key in TARGET_LABELS:
                    values[key] = value
                    line = line or instruction.start_line
    stack, version, variant = (values.get(key, "") for key in TARGET_LABELS)
    found = policy.lifecycles.get((stack, version, variant))
    if found is not None:
        yield Hit(line, found.message)


END_OF_LIFE = Rule("FB013", Severity.INFO, "the image's version is not near or past its end of life", _end_of_life)
