"""The checker behind test_dockerfile_follows_the_practices must be able to fail."""

from __future__ import annotations

from pathlib import Path

from tests.dockerfiles import problems

BAD = """\
FROM debian:latest
ENV http_proxy=http://127.0.0.1:3128
RUN apt-get update && apt-get install -y curl
RUN <<EOT
apt-get install -y --no-install-recommends wget
curl -o /x http://127.0.0.1/x
EOT
LABEL org.opencontainers.image.version="${VERSION}"
ENV ARCH=${TARGETARCH}
USER app
ENTRYPOINT ["/app"]
"""


def test_bad_dockerfile_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text(BAD)
    found = problems(path)
    expected = [
        "no .dockerignore beside the Dockerfile",
        "no GENERATED header",
        "line 1: FROM debian:latest is neither scratch nor the pinned BASE_IMAGE",
        "line 2: proxy http_proxy in ENV",
        "line 3: RUN without a heredoc",
        "line 4: heredoc RUN does not start with set -eux",
        "line 7: no blank line after the heredoc terminator",
        "line 4: apt lists not removed in the same layer",
        "line 4: download without checksum verification",
        "line 4: curl without --fail",
        "line 8: ${VERSION} used but not declared in this stage",
        "line 9: ${TARGETARCH} needs ARG TARGETARCH in this stage",
        "last USER 'app' is not a numeric non-root uid:gid",
        "ENTRYPOINT ('/app',) does not run tini as PID 1",
        "missing label org.opencontainers.image.title",
        "missing label org.opencontainers.image.revision",
        "missing label org.opencontainers.image.created",
    ]
    assert found == expected
