"""An OCI distribution (registry API) client: read manifests and indexes by digest.

Used to record what a build pushed (per-platform digests and sizes) without
pulling anything. Plain HTTP for loopback registries (the embedded default),
HTTPS otherwise.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from factory import references
from factory.errors import EnvironmentProblem

INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
ACCEPT = ", ".join((*INDEX_TYPES, *MANIFEST_TYPES))


@dataclass(frozen=True)
class PlatformImage:
    """One platform's manifest inside an index."""

    platform: str
    digest: str
    compressed_size: int  # config + layers, as stored in the registry
    layers: int


def platform_name(platform: dict[str, Any]) -> str:
    """`os/architecture[/variant]` of an index entry's platform."""
    name = f"{platform.get('os')}/{platform.get('architecture')}"
    return f"{name}/{platform['variant']}" if platform.get("variant") else name


class RegistryClient:
    """Reads from one registry host over the distribution API."""

    def __init__(self, host: str, *, timeout: float = 30.0) -> None:
        self.host = host
        self.timeout = timeout
        loopback = references.loopback(host)
        self.scheme = "http" if loopback else "https"
        # A loopback registry is never reached through a proxy, whatever the environment says.
        handlers = [urllib.request.ProxyHandler({})] if loopback else []
        self._opener = urllib.request.build_opener(*handlers)

    def get_manifest(self, repo: str, reference: str) -> tuple[str, str, dict[str, Any]]:
        """(media type, digest, parsed body) of a manifest or index."""
        body, headers = self._get(f"/v2/{repo}/manifests/{reference}", ACCEPT)
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if reference.startswith("sha256:") and digest != reference:
            raise EnvironmentProblem(f"{self.host}/{repo}@{reference}: registry returned content with digest {digest}")
        media = headers.get("Content-Type", "").split(";")[0]
        return media, digest, json.loads(body)

    def tags(self, repo: str) -> list[str]:
        """Every tag of a repository ([] when it does not exist)."""
        try:
            body, _ = self._get(f"/v2/{repo}/tags/list", "application/json")
        except FileNotFoundError:
            return []
        return [str(t) for t in (json.loads(body).get("tags") or [])]

    def digest_of(self, repo: str, reference: str) -> str | None:
        """The digest a tag names (a HEAD request; None when the tag does not exist)."""
        try:
            _, headers = self._get(f"/v2/{repo}/manifests/{reference}", ACCEPT, method="HEAD")
        except FileNotFoundError:
            return None
        digest = headers.get("Docker-Content-Digest")
        return str(digest) if digest else None

    def blob_json(self, repo: str, digest: str) -> dict[str, Any]:
        """A JSON blob (an image config) by digest, checked against it."""
        body, _ = self._get(f"/v2/{repo}/blobs/{digest}", "application/octet-stream")
        if "sha256:" + hashlib.sha256(body).hexdigest() != digest:
            raise EnvironmentProblem(f"{self.host}/{repo}@{digest}: the blob does not match its digest")
        parsed = json.loads(body)
        return parsed if isinstance(parsed, dict) else {}

    def platforms(self, repo: str, reference: str, single: str = "unknown") -> list[PlatformImage]:
        """Per-platform manifests of an index, attestations left out; a lone manifest is `single`."""
        media, digest, body = self.get_manifest(repo, reference)
        if media in MANIFEST_TYPES or "layers" in body:
            return [self._platform_image(repo, single, digest, body)]
        out = []
        for entry in body.get("manifests", []):
            platform = entry.get("platform", {})
            if platform.get("os") == "unknown":  # attestation manifests
                continue
            name = platform_name(platform)
            _, child_digest, child = self.get_manifest(repo, entry["digest"])
            out.append(self._platform_image(repo, name, child_digest, child))
        return out

    def _platform_image(self, repo: str, platform: str, digest: str, body: dict[str, Any]) -> PlatformImage:
        layers = body.get("layers", [])
        size = int(body.get("config", {}).get("size", 0)) + sum(int(layer.get("size", 0)) for layer in layers)
        return PlatformImage(platform, digest, size, len(layers))

    def _get(self, path: str, accept: str, method: str = "GET") -> tuple[bytes, Any]:
        url = f"{self.scheme}://{self.host}{path}"
        request = urllib.request.Request(url, method=method, headers={"Accept": accept})
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return response.read(), response.headers
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                raise FileNotFoundError(url) from exc
            raise EnvironmentProblem(f"registry {self.host}: {method} {path}: HTTP {exc.code}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise EnvironmentProblem(f"registry {self.host} unreachable: {exc}") from exc
