"""Image references (`registry/path:tag@sha256:...`) parsed in one place.

The lint (base images, policy), the catalogue (pins), the registry client,
the build, the record and publish all split references; they share this one
reading of the grammar:
a `:` after the last `/` starts the tag, `@` starts the digest, and the first
component names a registry when it has a `.` or a `:` or is `localhost`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DOCKER_HUB = "docker.io"
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class ImageRef:
    """An image reference split into repository, tag and digest (as written)."""

    repository: str  # as written, without tag or digest, registry included when given
    tag: str | None
    digest: str | None

    @property
    def registry(self) -> str | None:
        """The registry host[:port] when the reference names one."""
        first, _, rest = self.repository.partition("/")
        return first if rest and ("." in first or ":" in first or first == "localhost") else None

    @property
    def path(self) -> str:
        """The repository path inside its registry (`factory-staging/python`)."""
        registry = self.registry
        return self.repository[len(registry) + 1 :] if registry else self.repository

    @property
    def name(self) -> str:
        """The image's own name, the last part of its path (`python` of `.../factory-staging/python`)."""
        return self.path.rpartition("/")[2]

    @property
    def normalised(self) -> str:
        """The repository with Docker Hub's implicit registry and `library/` made explicit."""
        if self.registry is not None:
            return self.repository
        return (
            f"{DOCKER_HUB}/{self.repository}" if "/" in self.repository else f"{DOCKER_HUB}/library/{self.repository}"
        )

    @property
    def pinned(self) -> bool:
        """True when the reference carries a well-formed sha256 digest."""
        return self.digest is not None and _DIGEST.fullmatch(self.digest) is not None

    @property
    def reference(self) -> str:
        """What to ask a registry for: the digest if there is one, else the tag (default `latest`)."""
        return self.digest or self.tag or "latest"


def parse(reference: str) -> ImageRef:
    """Split `registry/path:tag@sha256:...`; a `:` after the last `/` starts the tag."""
    name, _, digest = reference.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return ImageRef(name[:colon], name[colon + 1 :], digest or None)
    return ImageRef(name, None, digest or None)


def loopback(host: str) -> bool:
    """True for a registry host on this machine (plain HTTP, never through a proxy)."""
    return host.startswith(("127.", "localhost", "[::1]"))
