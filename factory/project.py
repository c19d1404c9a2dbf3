"""Where a factory project lives on disk, and the one call that loads it."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from factory import catalogue, model, render
from factory.errors import DefinitionError, Problem

if TYPE_CHECKING:
    from factory.site import Site


@dataclass(frozen=True)
class Project:
    """A checkout holding stacks/, templates/, pins/ and rendered/."""

    root: Path

    @property
    def templates(self) -> Path:
        return self.root / "templates"

    @property
    def rendered(self) -> Path:
        return self.root / "rendered"

    @classmethod
    def find(cls, start: Path | None = None) -> Project:
        """The nearest directory at or above `start` (or $FACTORY_ROOT) that has stacks/."""
        explicit = os.environ.get("FACTORY_ROOT")
        here = Path(explicit) if explicit and start is None else (start or Path.cwd())
        here = here.resolve()
        for candidate in (here, *here.parents):
            if (candidate / "stacks").is_dir():
                return cls(candidate)
        raise DefinitionError(
            [Problem(str(here), None, "", "no stacks/ directory here or above (use --root or FACTORY_ROOT)")]
        )

    def load(self, repositories: Sequence[str] | None = None, today: dt.date | None = None) -> model.Catalogue:
        """Load and validate the whole catalogue (end of life judged on `today`, default the real day).

        `repositories`: what pins and copy-from images may name (default: pin_repositories(), which
        reads factory.yaml; empty: anything, for a factory.yaml too broken to say).
        """
        if not (self.root / "stacks").is_dir():
            raise DefinitionError([Problem(str(self.root), None, "", "no stacks/ directory in this project")])
        if not self.templates.is_dir():
            raise DefinitionError([Problem(str(self.templates), None, "", "no templates/ directory")])
        if repositories is None:
            repositories = self.pin_repositories()
        return catalogue.load(self.root, render.available_templates(self.templates), repositories, today)

    def pin_repositories(self, config: Site | None = None) -> tuple[str, ...]:
        """What pins may name: the factory's staging and publish repositories, and factory.yaml pins.allow."""
        from factory import site

        config = config or site.load(self.root)
        registry = config.registry
        own = (registry.repository("*", staging=True), registry.repository("*"), config.publish.repository("*"))
        return (*own, *config.pins_allowed)
