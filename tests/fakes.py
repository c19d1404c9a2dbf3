"""A fake process runner for unit tests: records every argv, answers from rules."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from factory.errors import CommandFailed
from factory.process import Result, Runner

# A rule answers the first command whose argv contains all of `words`: with one
# result, with a list of results taken in turn (the last one repeats), or with a
# callable that also sees the working directory (to create files a real command would).
Answer = Result | list[Result] | Callable[[tuple[str, ...], Path | None], Result]


def ok(stdout: str = "", stderr: str = "", returncode: int = 0) -> Result:
    return Result((), returncode, stdout, stderr)


class FakeRunner(Runner):
    def __init__(self, rules: Sequence[tuple[Sequence[str], Answer]] = ()) -> None:
        self.rules = list(rules)
        self.calls: list[tuple[str, ...]] = []
        self.cwds: list[Path | None] = []

    def run(
        self,
        argv: Sequence[str],
        *,
        check: bool = True,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        unset: Sequence[str] = (),
        timeout: float | None = 600,
        stdin: str | None = None,
        log: Path | None = None,
        hint: str = "",
    ) -> Result:
        call = tuple(argv)
        self.calls.append(call)
        self.cwds.append(cwd)
        result = ok()
        for words, answer in self.rules:
            if all(word in call for word in words):
                if isinstance(answer, list):
                    result = answer.pop(0) if len(answer) > 1 else answer[0]
                else:
                    result = answer(call, cwd) if callable(answer) else answer
                break
        result = Result(call, result.returncode, result.stdout, result.stderr)
        if check and not result.ok:
            raise CommandFailed(call, result.returncode, result.output, hint=hint)
        return result

    def called(self, *words: str) -> list[tuple[str, ...]]:
        """The calls whose argv contains all of `words`, in order."""
        return [c for c in self.calls if all(w in c for w in words)]
