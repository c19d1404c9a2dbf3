"""Builds the steps of a plan (factory.buildplan) in dependency order on a real BuildKit engine and records the result.

The OS base first, then every target whose base has been built, each with
`docker buildx build` for all its platforms at once (or one native node per
platform plus a manifest merge), pushed under a staging reference. Children
are built against the exact digest their parent got in this run. A failed
target never stops independent ones; its dependants are skipped with the
reason, and the record says what happened to every target.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from factory import __version__, buildx, model, references
from factory import record as records
from factory.builders import Nodes
from factory.buildinfo import (
    HELPER_ARG,
    build_date,
    build_key,
    helper_platform,
    host_platform,
    image_annotations,
    image_labels,
    ref_arg,
    vcs_info,
)
from factory.buildlog import Heartbeat, cache_stats
from factory.buildplan import Step
from factory.docker import Docker
from factory.errors import BuildFailed, EnvironmentProblem, FactoryError, UsageProblem
from factory.oci import RegistryClient
from factory.process import tail
from factory.progress import Board, BuildkitFeed, Phase, following
from factory.project import Project
from factory.site import Driver, Site

Progress = Callable[[str], None]
PrepareContext = Callable[[tuple[str, ...], Path, Progress], None]


class BuildRun:
    """Executes a plan and produces a BuildRecord."""

    def __init__(
        self,
        project: Project,
        site: Site,
        docker: Docker,
        *,
        prepare_os: PrepareContext,
        board: Board,
        run_id: str | None = None,
        environ: Mapping[str, str] | None = None,
        no_cache: bool = False,
        bases: Mapping[str, records.TargetResult] | None = None,
    ) -> None:
        self.project = project
        # Parents built outside this run (the plan rebuilds a child alone FROM its published parent).
        self.bases = dict(bases or {})
        self.site = site
        self.docker = docker
        self.prepare_os = prepare_os
        self.board = board
        self.environ = dict(os.environ if environ is None else environ)
        self.no_cache = no_cache
        # Unique even for runs started in the same second (they would share logs and tags).
        self.run_id = run_id or dt.datetime.now(dt.UTC).strftime(model.RUN_ID_FORMAT) + secrets.token_hex(2)
        self.directory = site.state_dir / "builds" / self.run_id
        self.registry = RegistryClient(site.registry.address)
        self.nodes = Nodes(docker)
        self._started = time.monotonic()
        self._vcs_ref, self._epoch = vcs_info(project.root)

    def execute(self, steps: list[Step]) -> records.BuildRecord:
        """Build every step whose base succeeded; return (and write) the record."""
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "logs").mkdir(exist_ok=True)
        record = records.BuildRecord(
            run_id=self.run_id,
            started=records.now(),
            registry=self.site.registry.address,
            vcs_ref=self._vcs_ref,
            source_date_epoch=self._epoch,
            factory_version=__version__,
        )
        results = {s.id: self._result(s) for s in steps}
        for step in steps:
            for platform in step.platforms:
                self.board.add(step.id, platform)
        record.targets = list(results.values())
        pending = list(steps)
        # Workers fill a copy of their result; only this thread touches `results` and the record.
        running: dict[Future[records.TargetResult], tuple[Step, records.TargetResult]] = {}
        with ThreadPoolExecutor(max_workers=self.site.build.concurrency) as pool:
            while pending or running:
                for step in list(pending):
                    base = (results.get(step.base_id) or self.bases.get(step.base_id)) if step.base_id else None
                    if step.base_id and base is None:
                        self._skip(results[step.id], f"base {step.base_id} is not part of this run")
                        pending.remove(step)
                    elif base is not None and base.status in (records.Status.FAILED, records.Status.SKIPPED):
                        self._skip(results[step.id], f"base {base.id} {base.status}")
                        pending.remove(step)
                    elif base is None or base.status == records.Status.BUILT:
                        pending.remove(step)
                        results[step.id].status = records.Status.BUILDING
                        work = copy.deepcopy(results[step.id])
                        running[pool.submit(self._build, step, work, base)] = (step, work)
                if not running:
                    continue
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    step, work = running.pop(future)
                    exc = future.exception()
                    if exc is None:
                        results[step.id] = future.result()
                    else:  # the worker has stopped: its partial result (log, builders) is kept
                        result = results[step.id] = work
                        result.status = records.Status.FAILED
                        result.reason = exc.show() if isinstance(exc, FactoryError) else repr(exc)
                        for platform in step.platforms:
                            self.board.update(step.id, platform, Phase.FAILED, result.reason)
                    record.targets = list(results.values())
                    records.write(record, self.directory, latest=False)
        record.targets = list(results.values())
        record.finished = records.now()
        record.duration_s = round(time.monotonic() - self._started, 2)
        records.write(record, self.directory, latest=True)
        return record

    def _skip(self, result: records.TargetResult, reason: str) -> None:
        result.status, result.reason = records.Status.SKIPPED, reason
        for platform in result.platforms:
            self.board.update(result.id, platform, Phase.SKIPPED, reason)

    # -- one target -------------------------------------------------------------

    def _result(self, step: Step) -> records.TargetResult:
        text = step.dockerfile.read_bytes() if step.dockerfile.exists() else b""
        root = self.project.root
        return records.TargetResult(
            id=step.id,
            stack=step.target.stack,
            version=step.target.version,
            variant=step.target.variant,
            dockerfile=str(step.dockerfile.relative_to(root))
            if step.dockerfile.is_relative_to(root)
            else str(step.dockerfile),
            dockerfile_sha256=hashlib.sha256(text).hexdigest(),
            platforms=list(step.platforms),
            tags=list(step.target.references),
            base_id=step.base_id,
        )

    def _build(
        self, step: Step, result: records.TargetResult, base: records.TargetResult | None
    ) -> records.TargetResult:
        """Build one step into `result` (a copy owned by this worker) and return it."""
        if not step.dockerfile.is_file():
            raise EnvironmentProblem(f"{step.dockerfile} does not exist: run `factory render`")
        log = self.directory / "logs" / (re.sub(r"[^A-Za-z0-9_.-]", "_", step.id) + ".log")
        result.log = str(log)
        start = time.monotonic()
        self.board.note(f"{step.id}: building for {', '.join(step.platforms)} (log: {log})")
        for platform in step.platforms:
            self.board.update(step.id, platform, Phase.BUILDING)
        context = self._context(step, log)
        repository = self.site.registry.repository(step.image, staging=True)
        reference = f"{repository}:{step.tag}-{self.run_id}"
        build_args = {
            "VCS_REF": ref_arg(self.environ, "VCS_REF", self._vcs_ref),
            "BUILD_DATE": build_date(self._epoch),
        }
        if base is not None:
            assert base.base_pin is not None
            build_args["BASE_IMAGE"] = base.base_pin
            result.base_reference = base.base_pin
        result.build_key = build_key(step.dockerfile.parent, build_args, step.platforms)
        labels = image_labels(step, result, base, self.environ)
        local = [p for p in step.platforms if self.site.builder_for(p) is None]
        native = [p for p in step.platforms if self.site.builder_for(p) is not None]
        sources: list[str] = []
        if local:
            single = not native
            target_ref = (
                reference if single else f"{reference}-{_slug(local[0])}" if len(local) == 1 else f"{reference}-local"
            )
            helper = helper_platform(
                step.id, step.dockerfile.read_text(), set(base.images) if base else None, local, host_platform()
            )
            local_args = {**build_args, HELPER_ARG: helper} if helper else build_args
            self._buildx(step, context, tuple(local), target_ref, local_args, log, builder=None, labels=labels)
            sources.append(target_ref)
            for p in local:
                result.builders[p] = "local"
        for platform in native:
            node = self.site.builder_for(platform)
            assert node is not None
            name = self.nodes.ensure(node, log)
            target_ref = f"{reference}-{_slug(platform)}"
            self._buildx(
                step, context, (platform,), target_ref, build_args, log, name, node.network, node.driver, labels
            )
            sources.append(target_ref)
            result.builders[platform] = node.endpoint
        if native:
            merge = buildx.imagetools_create(reference, sources, docker=self.docker.binary)
            if self.docker.logged(merge, log=log) != 0:
                raise BuildFailed(f"manifest merge into {reference} failed (log: {log})")
        self._record_pushed(result, reference, log)
        result.duration_s = round(time.monotonic() - start, 2)
        result.status = records.Status.BUILT
        cached = f"{result.cached_steps}/{result.steps} steps cached"
        for platform in step.platforms:
            self.board.update(step.id, platform, Phase.PUSHED, f"{cached}, {result.digest}")
        return result

    def _context(self, step: Step, log: Path) -> Path:
        if not step.is_os:
            return step.dockerfile.parent
        context = self.site.state_dir / "context" / step.id.replace(":", "-")
        context.mkdir(parents=True, exist_ok=True)
        for name in ("Dockerfile", ".dockerignore"):
            shutil.copyfile(step.dockerfile.parent / name, context / name)
        self.prepare_os(step.platforms, context, lambda message: self.board.note(f"{step.id}: {message}"))
        return context

    def _buildx(
        self,
        step: Step,
        context: Path,
        platforms: tuple[str, ...],
        reference: str,
        build_args: Mapping[str, str],
        log: Path,
        builder: str | None,
        node_network: str | None = None,
        node_driver: Driver | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        settings = self.site.build
        suffix = "" if builder is None else f"-{_slug(platforms[0])}"
        cache_ref = None
        if settings.cache:
            cache_ref = (
                f"{self.site.registry.address}/{self.site.registry.namespace}-cache/{step.image}:{step.tag}{suffix}"
            )
        ca = _ca_bundle(settings.ca_bundle, self.environ)
        metadata = log.with_suffix(f".{_slug(platforms[0]) if builder else 'all'}.metadata.json")
        request = buildx.BuildRequest(
            context=context,
            dockerfile=context / "Dockerfile" if step.is_os else step.dockerfile,
            platforms=platforms,
            image=reference,
            build_args=build_args,
            env_build_args=buildx.proxy_args(self.environ),
            secrets={"ca-bundle": ca} if ca is not None else {},
            cache_ref=cache_ref,
            compression=settings.compression,
            sbom=settings.sbom,
            provenance=settings.provenance,
            network="host" if (node_network or settings.network) == "host" else None,
            builder=builder if node_driver is not Driver.DOCKER else None,
            docker_context=builder if node_driver is Driver.DOCKER else None,
            metadata_file=metadata,
            no_cache=self.no_cache,
            labels=labels or {},
            annotations=image_annotations(labels or {}, build_args),
        )
        unset = ("BUILDX_BUILDER", "DOCKER_HOST") if request.docker_context else ()
        feed = BuildkitFeed(self.board, step.id, platforms)
        with Heartbeat(step.id, log, self.board.note), following(log, feed):
            code = self.docker.logged(buildx.argv(request, docker=self.docker.binary), log=log, unset=unset)
        if code != 0:
            raise BuildFailed(
                f"buildx exited {code} for {', '.join(platforms)}; last lines of {log}:\n" + tail(log, 25)
            )

    def _record_pushed(self, result: records.TargetResult, reference: str, log: Path) -> None:
        pushed = references.parse(reference)
        repo, tag = pushed.path, pushed.reference
        _, digest, _ = self.registry.get_manifest(repo, tag)
        result.reference = reference
        result.digest = digest
        # Children build FROM repository@digest: immutable, and stable across runs for caching.
        result.base_pin = f"{result.repository}@{digest}"
        single = result.platforms[0] if len(result.platforms) == 1 else "unknown"
        for image in self.registry.platforms(repo, digest, single):
            result.images[image.platform] = records.PlatformResult(image.digest, image.compressed_size, image.layers)
        steps, cached = cache_stats(log)
        result.steps, result.cached_steps = steps, cached


def _ca_bundle(setting: str | None, environ: Mapping[str, str]) -> Path | None:
    """The CA bundle given to builds as a secret: configured, or the host's own trust store."""
    if setting in (None, "none"):
        return None
    if setting != "auto":
        path = Path(setting).expanduser()
        if not path.is_file():
            raise EnvironmentProblem(f"build.ca_bundle {setting}: no such file")
        return path
    for candidate in (environ.get("SSL_CERT_FILE"), "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def _slug(platform: str) -> str:
    return platform.replace("/", "-")


# -- parents from outside the run ---------------------------------------------------------------------


def given_bases(catalogue: model.Catalogue, given: Mapping[str, str]) -> dict[str, records.TargetResult]:
    """Parents named on the command line (`--base ID=REPOSITORY@DIGEST`), as build results: their platforms
    read from the registry, so the helper stages and the platform checks see what they hold."""
    found = {}
    for target_id, pinned in given.items():
        if target_id not in {t.id for t in catalogue.targets}:
            raise UsageProblem(f"--base {target_id}=...: no such target (see `factory list`)")
        parsed = references.parse(pinned)
        if not parsed.digest or not parsed.registry:
            raise UsageProblem(f"--base {target_id}={pinned}: expected REGISTRY/REPOSITORY@sha256:DIGEST")
        images = RegistryClient(parsed.registry).platforms(parsed.path, parsed.digest)
        found[target_id] = _outside(target_id, pinned, {i.platform: (i.digest, i.compressed_size) for i in images})
    return found


def published_bases(published: Mapping[str, Any], rebuilt: Iterable[str]) -> dict[str, records.TargetResult]:
    """The parents a rebuild plan leaves as they are (factory.plan.Published), as build results pointing at
    their published images."""
    skip = set(rebuilt)
    found = {}
    for target_id, image in published.items():
        if image is None or target_id in skip:
            continue
        found[target_id] = _outside(target_id, image.pinned, {p: (d, 0) for p, d in image.manifests.items()})
    return found


def _outside(target_id: str, pinned: str, images: Mapping[str, tuple[str, int]]) -> records.TargetResult:
    result = records.TargetResult(target_id, "", None, "", "", "", sorted(images), [], status=records.Status.BUILT)
    result.digest, result.base_pin = pinned.partition("@")[2], pinned
    result.images = {p: records.PlatformResult(d, size, 0) for p, (d, size) in images.items()}
    return result
