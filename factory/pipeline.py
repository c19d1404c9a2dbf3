"""The stages of the factory as functions, and the main job as their composition.

Each stage takes the Workspace (project, validated catalogue, site
configuration) and, from build on, the build record; it returns what it
decided and, where it judged images, writes its verdict per target and
platform into the record, so the next stage and the next run read it there
instead of asking the engine again:

    validate -> render (check) -> lint -> build -> verify [-> scan -> sign -> publish -> report -> site]

The CLI commands, the main job (`factory run`), the scheduled rebuild and the
PR preview are compositions of these functions; none prints or exits (the
CLI does), and every long stage reports on the Board it is given.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from factory import lockfile, model, references, rendered, site
from factory import record as records
from factory.errors import CheckFailed, DefinitionError, FactoryError, Problem, RenderError, UsageProblem
from factory.progress import Board
from factory.project import Project
from factory.render import RenderedFile, Renderer
from factory.schema import validate as validate_schema
from factory.yamlmarks import load_file

if TYPE_CHECKING:
    from factory.lint.ignores import IgnoreFile
    from factory.lint.runner import Report
    from factory.osbase import Bootstrapper, Rootfs
    from factory.preview import Preview, Side
    from factory.scan import DbInfo, ImageScan
    from factory.verify import ImageVerification

TOOLS = ("hadolint", "shellcheck", "trivy")
LATEST = "latest.json"


@dataclass(frozen=True)
class Workspace:
    """What every stage works on: the project, its validated catalogue and its site configuration."""

    project: Project
    catalogue: model.Catalogue
    site: site.Site

    @classmethod
    def open(cls, project: Project) -> Workspace:
        """Load and validate factory.yaml and the catalogue (DefinitionError names every problem of both).

        An invalid factory.yaml does not stop the catalogue's checks; only what it would allow pins and
        copy-from images to name is then unknown, so those go unchecked until it is fixed.
        """
        problems: list[Problem] = []
        config: site.Site | None = None
        try:
            config = site.load(project.root)
        except DefinitionError as exc:
            problems.extend(exc.problems)
        try:
            catalogue = project.load(project.pin_repositories(config) if config is not None else ())
        except DefinitionError as exc:
            problems.extend(exc.problems)
        if problems or config is None:
            raise DefinitionError(problems)
        return cls(project, catalogue, config)

    def scope(self, stacks: Sequence[str]) -> list[str] | None:
        """The stacks named on a command line (None: all); an unknown one is a usage error."""
        if not stacks:
            return None
        known = set(self.catalogue.stacks)
        unknown = sorted(set(stacks) - known)
        if unknown:
            raise UsageProblem(f"unknown stack {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        return sorted(set(stacks))

    @property
    def builds(self) -> Path:
        """Where the build records of this site live (one directory per run, and latest.json)."""
        return builds_directory(self.site)


def builds_directory(config: site.Site) -> Path:
    """The build records' directory of a site's state dir."""
    return config.state_dir / "builds"


# -- validate ------------------------------------------------------------------------------


def validate(project: Project) -> Workspace:
    """Everything `render` would refuse, found without writing: factory.yaml, the ignore file, the catalogue,
    and a render of every target in memory (template errors and broken image contracts, located at the
    definition of the target)."""
    problems: list[Problem] = []
    workspace: Workspace | None = None
    try:
        workspace = Workspace.open(project)
    except DefinitionError as exc:
        problems.extend(exc.problems)
    problems.extend(_ignore_file_problems(project))
    if workspace is not None:
        _, failures = Renderer(project.templates, workspace.catalogue).render_each()
        for target, error in failures:
            file, line = target.origin
            reason = str(error).removeprefix(f"{target.id}: ")
            problems.append(Problem(file, line, "", f"{target.id} does not render: {reason}"))
    if problems or workspace is None:
        raise DefinitionError(problems)
    return workspace


def lifecycle_warnings(workspace: Workspace, today: dt.date | None = None) -> list[Problem]:
    """Versions (and the OS release) that end within 90 days or are kept past their end of life by an override."""
    from factory import lifecycle

    return lifecycle.warnings(workspace.catalogue.targets, today or lifecycle.today())


def _ignore_file_problems(project: Project) -> list[Problem]:
    from factory.lint.ignores import IGNORE_FILE

    path = project.root / IGNORE_FILE
    if not path.is_file():
        return []
    try:
        return validate_schema(load_file(path, IGNORE_FILE), "ignores")
    except DefinitionError as exc:
        return list(exc.problems)


# -- render --------------------------------------------------------------------------------


def render(workspace: Workspace, scope: Iterable[str] | None = None, syntax: str | None = None) -> list[RenderedFile]:
    """The files of rendered/ (or of the stacks in scope), rendered in memory."""
    return Renderer(workspace.project.templates, workspace.catalogue, syntax_line=syntax).render_all(scope)


def drift(workspace: Workspace, files: list[RenderedFile], scope: Iterable[str] | None = None) -> str:
    """The unified diff from rendered/ on disk to `files` ('' when rendered/ is up to date)."""
    return rendered.diff(workspace.project.rendered, files, scope)


def write(workspace: Workspace, files: list[RenderedFile], scope: Iterable[str] | None = None) -> list[str]:
    """Replace rendered/ (or the stacks in scope) atomically; the paths that changed."""
    return rendered.write(workspace.project.rendered, files, scope)


@dataclass(frozen=True)
class Rendering:
    """What `render` did: the files rendered, the paths that changed on disk, and the lint of the result."""

    files: list[RenderedFile]
    changed: list[str]
    report: Report | None  # None when the lint was not asked for


def render_and_lint(
    workspace: Workspace,
    scope: Iterable[str] | None = None,
    syntax: str | None = None,
    *,
    lint_after: bool = True,
    ignore_file: IgnoreFile | None = None,
) -> Rendering:
    """Render, replace rendered/ (or the stacks in scope) atomically, then lint the Dockerfiles written.

    rendered/ is written whatever the lint finds: the findings are reported
    on the new files, and the caller's failure threshold decides the rest.
    """
    files = render(workspace, scope, syntax)
    changed = write(workspace, files, scope)
    report = None
    if lint_after:
        dockerfiles = [workspace.project.rendered / f.path for f in files if f.path.endswith("/Dockerfile")]
        report = lint(workspace, dockerfiles, ignore_file=ignore_file, frontends=(syntax,) if syntax else ())
    return Rendering(files, changed, report)


def require_current(workspace: Workspace, stacks: Iterable[str] | None = None, syntax: str | None = None) -> None:
    """Refuse to go on from a stale rendered/ (what `render --check` would report)."""
    stale = stale_files(drift(workspace, render(workspace, stacks, syntax), stacks))
    if stale:
        files = ", ".join(f"rendered/{path}" for path in stale[:5])
        raise CheckFailed(f"rendered/ is stale ({files}): run `factory render` and commit the result first")


# -- lock ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LockOutcome:
    """What `factory lock` found: the lock file, what moved against it, and whether it was written."""

    path: Path
    document: dict[str, Any]
    changes: list[lockfile.Change]  # [] when the file is current or did not exist
    existed: bool
    current: bool  # the file on disk is exactly what `factory lock` writes now
    written: bool


def lock(workspace: Workspace, board: Board, *, check: bool = False, etc_apt: Path = Path("/etc/apt")) -> LockOutcome:
    """Resolve every external input of the catalogue into factory.lock (see factory.lockfile); with `check`,
    only compare. All is resolved in memory first, so an unreachable mirror, an index that does not match
    its Release file or a missing tool leaves the old file untouched (EnvironmentProblem)."""
    from factory import aptsources, archive, osbase
    from factory.engine.host import ENGINE_PACKAGES
    from factory.engine.layout import Layout
    from factory.process import Runner

    cat = workspace.catalogue
    release = cat.os.release
    mirrors = osbase.mirrors_for(cat.os, workspace.site, aptsources.read(etc_apt))
    arches = lockfile.architectures(cat)
    fetcher = archive.Fetcher()
    indexes = archive.read_indexes(fetcher, mirrors.suites(release), release, arches, board.note)
    engine_suite = Layout.from_env(os.environ).engine_suite
    engine_indexes = (
        indexes
        if engine_suite == release
        else archive.read_indexes(fetcher, mirrors.suites(engine_suite), engine_suite, arches, board.note)
    )
    document = lockfile.resolve(
        cat,
        indexes,
        suites=[suite for _, suite in mirrors.suites(release)],
        tools=lockfile.tool_versions(Runner()),
        engine_suite=engine_suite,
        engine_indexes=engine_indexes,
        engine_packages=ENGINE_PACKAGES,
    )
    text = lockfile.dumps(document)
    path = workspace.project.root / lockfile.LOCK_FILE
    old = path.read_text(encoding="utf-8") if path.is_file() else None
    current = old == text
    changes = [] if current or old is None else _lock_changes(old, document)
    written = not check and not current
    if written:
        records.atomic_write(path, text)
    return LockOutcome(path, document, changes, old is not None, current, written)


def _lock_changes(old_text: str, document: dict[str, Any]) -> list[lockfile.Change]:
    """What moved from the old file's text to `document`; a file that differs only in form says so."""
    try:
        old = lockfile.loads(old_text)
    except DefinitionError as exc:
        return [lockfile.Change(lockfile.LOCK_FILE, f"unreadable ({exc})", "as `factory lock` writes it")]
    return lockfile.diff(old, document) or [
        lockfile.Change(lockfile.LOCK_FILE, "edited by hand or by another factory", "as `factory lock` writes it")
    ]


def stale_files(difference: str) -> list[str]:
    """The paths under rendered/ that a `drift` diff changes, adds or removes (those changed first)."""
    named = [line.split("\t")[0] for line in difference.splitlines() if line.startswith(("+++ b/", "--- a/"))]
    changed = sorted({n[6:] for n in named if n.startswith("+++ b/")})
    removed = sorted({n[6:] for n in named if n.startswith("--- a/")} - set(changed))
    return [p.removeprefix("rendered/") for p in [*changed, *removed]]


# -- lint ----------------------------------------------------------------------------------


def lint(
    workspace: Workspace | None,
    paths: Sequence[Path] = (),
    *,
    tools: Sequence[str] = TOOLS,
    ignore_file: IgnoreFile | None = None,
    allow_images: Sequence[str] = (),
    frontends: Sequence[str] = (),
    require_digest: bool = True,
    invalid_catalogue: bool = False,
) -> Report:
    """Lint Dockerfiles: `paths` (directories searched), or every rendered Dockerfile of the workspace.

    With a workspace the policy is the catalogue's (bases: the unified OS and
    its images, plus `allow_images`; `# syntax=` frontends: docker/dockerfile,
    factory.yaml build.syntax and `frontends`); without one only `allow_images`
    is checked. Inside a project whose catalogue is invalid the policy fails
    closed: a base not in `allow_images` is an error (FB003), none given or not.
    """
    from factory.lint import lint_paths, policy

    if workspace is None:
        source = "--allow-image (the catalogue is invalid: its images are unknown)" if invalid_catalogue else ""
        rules = policy.Policy(
            allowed_images=tuple(allow_images), allowed_source=source or "--allow-image", closed=invalid_catalogue
        )
    else:
        syntax = (workspace.site.build.syntax,) if workspace.site.build.syntax else ()
        rules = policy.for_catalogue(
            workspace.catalogue, extra_allowed=tuple(allow_images), extra_frontends=(*syntax, *frontends)
        )
    rules = dataclasses.replace(rules, require_digest=require_digest)
    if not paths:
        if workspace is None:
            raise UsageProblem("no Dockerfile given and no project here")
        paths = sorted(workspace.project.rendered.rglob("Dockerfile"))
        if not paths:
            raise UsageProblem(f"no Dockerfile under {workspace.project.rendered}: run `factory render` first")
    return lint_paths(paths, policy=rules, tools_selected=tuple(tools), ignore_file=ignore_file)


# -- the OS base ---------------------------------------------------------------------------


def bootstrapper(workspace: Workspace, *, refresh: bool = False) -> Bootstrapper:
    """The OS root filesystem bootstrapper, with the recipe rendered into rendered/os/<release>/."""
    from factory import osbase

    catalogue = workspace.catalogue
    recipe = osbase.Recipe.rendered(workspace.project.rendered / catalogue.os_target.directory)
    return osbase.Bootstrapper(catalogue.os, workspace.site, recipe, refresh=refresh)


def bootstrap(
    workspace: Workspace, board: Board, platforms: Sequence[str] = (), *, refresh: bool = False
) -> list[Rootfs]:
    """Bootstrap (or reuse from the cache) the OS root filesystem of each platform (default: all of the OS)."""
    boot = bootstrapper(workspace, refresh=refresh)
    return [boot.rootfs(p.split("/")[1], board.note) for p in (platforms or workspace.catalogue.os.platforms)]


# -- preview -------------------------------------------------------------------------------


def preview(
    project: Project,
    base_ref: str,
    *,
    tools: Sequence[str] = TOOLS,
    ignore_file: IgnoreFile | None = None,
) -> Preview:
    """The PR preview: the working tree's render against the base ref's, both in memory, with the plan and lint.

    The base is rendered from git itself (a temporary worktree of `base_ref`,
    with its own stacks and templates), never from its committed rendered/;
    the working tree's rendered/ on disk is only compared with its own render
    (stale: the check fails).
    """
    from factory import preview as previewing
    from factory import worktree

    workspace = Workspace.open(project)
    files = render(workspace)
    stale = stale_files(drift(workspace, files))
    head = previewing.Side(project.root, workspace.catalogue, {f.path: f.content for f in files})
    with worktree.checkout(project.root, base_ref) as base:
        changes = previewing.compare(_base_side(base.project, base_ref), head)
        base_lock = lockfile.read(base.project / lockfile.LOCK_FILE)
    head_lock = lockfile.read(project.root / lockfile.LOCK_FILE)
    report = _lint_render(workspace, files, tools, ignore_file)
    reasons = {c.target: c.reasons for c in changes if c.status is not previewing.Status.REMOVED}
    plan = previewing.plan(workspace.catalogue, reasons)
    expected = previewing.expected_packages(base_lock, head_lock, [r.target for r in plan])
    locked = base_lock is not None and head_lock is not None
    return previewing.Preview(
        base_ref, base.commit, tuple(changes), tuple(plan), workspace.catalogue, report, tuple(stale), expected, locked
    )


def _base_side(root: Path, ref: str) -> Side:
    """The base ref's catalogue rendered in memory; a ref without stacks/ has no images yet."""
    from factory import preview as previewing

    if not (root / "stacks").is_dir():
        return previewing.Side(root, None, {})
    try:
        workspace = Workspace.open(Project(root))
        files = render(workspace)
    except DefinitionError as exc:
        raise DefinitionError([dataclasses.replace(p, file=f"{ref}:{p.file}") for p in exc.problems]) from exc
    except RenderError as exc:
        raise RenderError(f"{ref}: {exc}") from exc
    return previewing.Side(root, workspace.catalogue, {f.path: f.content for f in files})


def _lint_render(
    workspace: Workspace, files: list[RenderedFile], tools: Sequence[str], ignore_file: IgnoreFile | None
) -> Report:
    """Lint a render held in memory: written to a temporary rendered/, findings named as in the project."""
    import tempfile

    from factory.lint.runner import display_name

    with tempfile.TemporaryDirectory(prefix="factory-preview-") as temporary:
        top = Path(temporary).resolve()
        rendered.write(top / "rendered", files)
        # the ignore file's paths are relative to the project root: here, to the temporary directory
        moved = dataclasses.replace(ignore_file, directory=top) if ignore_file is not None else None
        report = lint(workspace, [top / "rendered"], tools=tools, ignore_file=moved)
        return report.moved(display_name(top / "rendered"), "rendered")


# -- build ---------------------------------------------------------------------------------


def build(
    workspace: Workspace,
    board: Board,
    selection: Sequence[str] = (),
    platforms: Sequence[str] = (),
    *,
    no_cache: bool = False,
    refresh_os: bool = False,
    rebuild: Any = None,
    bases: Mapping[str, str] | None = None,
) -> records.BuildRecord:
    """Build the selected targets and their bases from a current rendered/; the record of the run.

    With `rebuild` (a factory.plan.Plan), exactly the plan's targets: a child whose parent is not in the
    plan is built FROM the parent as published, and each target's record carries the plan's reasons.
    With `bases` (target id -> repository@digest), exactly the selected targets, each FROM the image given
    for its parent (a CI job of a later wave builds FROM what an earlier wave pushed).
    """
    from factory import build as building
    from factory import buildplan
    from factory.docker import Docker

    require_current(workspace)
    project, catalogue, config = workspace.project, workspace.catalogue, workspace.site
    outside: dict[str, records.TargetResult] = {}
    if rebuild is not None:
        selection = [entry.target for entry in rebuild.rebuild]
        outside = building.published_bases(rebuild.published, selection)
    if bases:
        outside.update(building.given_bases(catalogue, bases))
    ancestors = rebuild is None and not bases
    steps = buildplan.plan(catalogue, project, selection, platforms or config.platforms, ancestors=ancestors)
    boot = bootstrapper(workspace, refresh=refresh_os)
    board.note(f"building {len(steps)} targets: {', '.join(s.id for s in steps)}")
    run = building.BuildRun(
        project,
        config,
        Docker.discover(),
        prepare_os=boot.prepare_context,
        board=board,
        no_cache=no_cache,
        bases=outside,
    )
    record = run.execute(steps)
    if rebuild is not None:
        for entry in rebuild.rebuild:
            record.result(entry.target).reasons = [reason.line() for reason in entry.reasons if reason.triggers]
        records.write(record, workspace.builds / record.run_id)
    return record


# -- plan ----------------------------------------------------------------------------------

PLAN_READERS = 16  # registry reads in flight while planning


def plan(
    workspace: Workspace,
    board: Board,
    selection: Sequence[str] = (),
    *,
    now: dt.datetime | None = None,
    rescan: bool = True,
) -> Any:
    """Which targets to rebuild and why (factory.plan), from a current rendered/ and the published images.

    Reads only: the final tag of every target in the publish registry (its
    labels), git for which sources changed since an image's commit, each
    version's lifecycle, and (`rescan`) each published image's SBOM against
    factory.lock (the archive's package versions) and today's vulnerability
    DB (the SBOM cached by digest, else its signed attestation, else made from the registry).
    """
    from factory import plan as planning
    from factory.buildinfo import BASE_ARG, build_key
    from factory.oci import RegistryClient
    from factory.process import Runner

    require_current(workspace)
    now = now or dt.datetime.now(dt.UTC)
    catalogue, settings = workspace.catalogue, workspace.site.publish
    client = RegistryClient(settings.registry)
    board.note(f"plan: reading the final tags in {settings.registry}/{settings.namespace}")
    targets = list(catalogue.targets)
    # The reads are independent and wait on the network: a pool keeps 500 targets within seconds.
    with ThreadPoolExecutor(max_workers=PLAN_READERS) as pool:
        images = list(
            pool.map(lambda t: planning.read_published(client, f"{settings.namespace}/{t.image}", t.tags[0]), targets)
        )
    published: dict[str, planning.Published | None] = {t.id: image for t, image in zip(targets, images, strict=True)}
    today: list[planning.Today] = []
    for target in targets:
        parent = catalogue.parent(target)
        parent_image = published.get(parent.id) if parent is not None else None
        args: dict[str, str] = {}
        if parent is not None and parent_image is not None:
            args[BASE_ARG] = parent_image.pinned
        dockerfile = workspace.project.rendered / target.dockerfile
        key = build_key(dockerfile.parent, args, target.platforms)
        today.append(
            planning.Today(
                target,
                key,
                parent.id if parent is not None else None,
                parent_image.digest if parent_image is not None else None,
                rendered.sources_of(dockerfile),
            )
        )
    extra = planning.lifecycle_reasons(catalogue.targets, now.date())
    if rescan:
        for target_id, reasons in _rescan(workspace, board, published, now.date()).items():
            extra.setdefault(target_id, []).extend(reasons)
    result = planning.decide(
        today,
        published,
        now=now,
        changed_sources=planning.git_changes(workspace.project.root, Runner()),
        extra=extra,
    )
    return result.only(selection, catalogue) if selection else result


def scanner(workspace: Workspace, day: dt.date) -> Any:
    """The site's scanner (factory.scan.Scanner): its policy, DB, cache and the project's exceptions on `day`."""
    from factory import exceptions as excs
    from factory import scan as scanning

    root, settings = workspace.project.root, workspace.site.scan
    exceptions = excs.load(root, day, root / settings.exceptions)
    database = scanning.Database.of(settings, workspace.site.cache_dir)
    return scanning.Scanner(settings, database, workspace.site.cache_dir, exceptions, day)


def _rescan(workspace: Workspace, board: Board, published: Mapping[str, Any], day: dt.date) -> dict[str, list[Any]]:
    """The plan's rescan of the published SBOMs, with the site's scanner and the project's factory.lock."""
    from factory import plan as planning

    lock = lockfile.read(workspace.project.root / lockfile.LOCK_FILE)
    if lock is None:
        board.note(f"plan: no {lockfile.LOCK_FILE}: package updates not checked (run `factory lock`)")
    return planning.rescan_reasons(published, scanner(workspace, day), lock, board.note, _attested_sbom(workspace))


def _attested_sbom(workspace: Workspace) -> Callable[[str], Mapping[str, Any] | None]:
    """The signed CycloneDX SBOM of a published manifest (None: no public key here, or none verifies)."""
    from factory import publish as publishing
    from factory.process import Runner

    try:
        cosign = publishing.Cosign(
            Runner(), publishing.SigningKey.at(workspace.site.publish.key_path, verify_only=True)
        )
    except FactoryError:
        return lambda pinned: None
    return lambda pinned: cosign.predicate(pinned, "cyclonedx")


# -- verify --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    """What verify decided: the record with its verdicts, the detailed results and where they were written."""

    record: records.BuildRecord
    results: list[ImageVerification]
    report: Path

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.passed for r in self.results)


def verify(workspace: Workspace, record_path: Path, board: Board, selection: Sequence[str] = ()) -> Verification:
    """Run every built image of the record on each platform; write the verdicts into the record."""
    from factory import verify as verifying
    from factory.docker import Docker

    record = records.read(record_path)
    wanted = _selected(record, record_path, selection)
    verifier = verifying.Verifier(
        Docker.discover(), workspace.catalogue, board, concurrency=workspace.site.build.concurrency
    )
    results = verifier.verify(record, wanted)
    directory = workspace.builds / record.run_id
    suffix = "" if wanted is None else "-" + "-".join(sorted(t.replace(":", "_") for t in wanted))[:80]
    report = directory / f"verify{suffix}.json"
    verifying.write(results, report)
    at = records.now()
    for result in results:
        verdict = result.verdict(at, str(report))
        record.result(result.target).verdicts.setdefault("verify", {})[result.platform] = verdict
    save(workspace, record, record_path)
    return Verification(record, list(results), report)


def save(workspace: Workspace, record: records.BuildRecord, read_from: Path) -> None:
    """Write a record a stage has added to: its run's record.json, and latest.json if it is the latest run."""
    directory = workspace.builds / record.run_id
    latest = workspace.builds / LATEST
    is_latest = read_from.name == LATEST or (latest.is_file() and records.read(latest).run_id == record.run_id)
    records.write(record, directory, latest=is_latest)


def record_path(config: site.Site, given: Path | None) -> Path:
    """The record a stage reads: the one given, else the latest finished run's (of the site's state dir)."""
    from factory.errors import EnvironmentProblem

    path = given or builds_directory(config) / LATEST
    if not path.exists():  # anything else there, records.read names what it is
        raise EnvironmentProblem(f"no build record at {path}: run `factory build` first")
    return path


# -- pin -----------------------------------------------------------------------------------


def pin(project: Project, given: Path | None) -> tuple[Path, list[str]]:
    """Record the digests of a build (the one given, else the latest) in pins/images.yaml.

    Reads factory.yaml and the record only, so it works while the catalogue is
    invalid. Returns the file and the ids that changed.
    """
    from factory import pins

    path = record_path(site.load(project.root), given)
    return pins.write(project.root, records.read(path), project.pin_repositories())


# -- scan ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScanOutcome:
    """What the gate decided: the record with its verdicts, every image's scan and the report files."""

    record: records.BuildRecord
    scans: list[ImageScan]
    db: DbInfo
    exceptions: dict[str, str]  # exception id -> state over every image scanned
    reports: dict[str, Path]  # json, markdown, sarif

    @property
    def passed(self) -> bool:
        return bool(self.scans) and all(s.passed for s in self.scans)


def scan(
    workspace: Workspace,
    record_path: Path,
    board: Board,
    selection: Sequence[str] = (),
    *,
    today: dt.date | None = None,
    now: dt.datetime | None = None,
) -> ScanOutcome:
    """Scan every built image of the record per platform; write the verdicts into the record and the reports."""
    from factory import scan as scanning
    from factory import scan_reports
    from factory.progress import Phase

    today = today or dt.date.today()
    now = now or dt.datetime.now(dt.UTC)
    record = records.read(record_path)
    wanted = _selected(record, record_path, selection)
    settings = workspace.site.scan
    gate = scanner(workspace, today)
    exceptions = gate.exceptions
    board.note("vulnerability DB: preparing")
    db = gate.prepare_db()
    age = db.age_days(now)
    board.note(f"vulnerability DB: version {db.version}, updated {db.updated_at} ({age} days ago)")
    by_id = {t.id: t for t in record.targets}
    scans: list[scanning.ImageScan] = []
    for target in record.targets:
        if target.status != records.Status.BUILT or (wanted is not None and target.id not in wanted):
            continue
        parent = by_id.get(target.base_id or "")
        for platform in target.platforms:
            board.update(target.id, platform, Phase.SCANNING, "sbom")
            image = target.images.get(platform)
            repository = target.repository
            if image is None or repository is None:
                raise UsageProblem(f"{target.id} has no {platform} digest in {record_path}: build it again")
            reference = f"{repository}@{image.digest}"
            sbom = gate.sbom(reference, image.digest, platform)
            parent_layers: list[str] = []
            if parent is not None and parent.repository and platform in parent.images:
                parent_digest = parent.images[platform].digest
                parent_sbom = gate.sbom(f"{parent.repository}@{parent_digest}", parent_digest, platform)
                parent_layers = scanning.sbom_layers(parent_sbom)
            board.update(target.id, platform, Phase.SCANNING, "vulnerabilities, secrets")
            result = scanning.ImageScan(target.id, platform, image.digest, str(sbom), db, target.dockerfile)
            result.findings = gate.vulnerabilities(sbom, target.id, parent_layers, parent.id if parent else None)
            result.secrets = gate.secrets(reference, image.digest, platform)
            gate.judge(result, age)
            scans.append(result)
            board.update(target.id, platform, Phase.SCANNED if result.passed else Phase.FAILED, result.summary)
    states = _exception_states(exceptions, scans, today)
    directory = workspace.builds / record.run_id
    reports = scan_reports.write(directory, scans, db, states, settings)
    at = records.now()
    for result in scans:
        verdict = result.verdict(at, str(reports["json"]))
        record.result(result.target).verdicts.setdefault("scan", {})[result.platform] = verdict
    save(workspace, record, record_path)
    return ScanOutcome(record, scans, db, states, reports)


def _selected(record: records.BuildRecord, path: Path, selection: Sequence[str]) -> set[str] | None:
    built = {t.id for t in record.targets}
    unknown = sorted(set(selection) - built)
    if unknown:
        raise UsageProblem(f"{', '.join(unknown)} not in the record {path} (it has: {', '.join(sorted(built))})")
    return set(selection) if selection else None


def _choose(
    record: records.BuildRecord,
    path: Path,
    selection: Sequence[str],
    refusal: Callable[[records.TargetResult], str | None],
) -> tuple[list[records.TargetResult], dict[str, str]]:
    """The selected targets of a record that a stage may act on, and why it may not act on the others."""
    wanted = _selected(record, path, selection)
    chosen, refused = [], {}
    for target in record.targets:
        if wanted is not None and target.id not in wanted:
            continue
        reason = refusal(target)
        if reason is None:
            chosen.append(target)
        else:
            refused[target.id] = reason
    return chosen, refused


def _not_published(target: records.TargetResult) -> str | None:
    if target.published is None or target.published.digest != target.digest:
        return "not published: nothing to copy"
    return None


def _exception_states(exceptions: Sequence[Any], scans: Sequence[ImageScan], today: dt.date) -> dict[str, str]:
    """Each exception's state over the whole scan: stale when it matched no finding of any image."""
    from factory import exceptions as excs

    states: dict[str, str] = {}
    for item in exceptions:
        seen = [s.exceptions[item.id] for s in scans if item.id in s.exceptions]
        matched = any(state != excs.State.STALE for state in seen)
        states[item.id] = str(item.state(today, matched=matched))
    return states


# -- publish -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublishOutcome:
    """What publish did: each promoted target, the intended tag map it printed first, and what it refused."""

    record: records.BuildRecord
    published: list[Any]  # publish.Outcome
    plans: list[Any]  # publish.Plan, before any write
    refused: dict[str, str]  # target -> why it was not published

    @property
    def passed(self) -> bool:
        return bool(self.published) and not self.refused


def publish(
    workspace: Workspace,
    record_path: Path,
    board: Board,
    selection: Sequence[str] = (),
    *,
    today: dt.date | None = None,
    allow_removal: bool = False,
) -> PublishOutcome:
    """Promote every target of the record that passed build, verify and scan on every platform, by digest.

    The whole tag -> digest map and each target's why-rebuilt note (against
    the digest its rolling tag names now) are computed and reported before
    the first write; a target whose packages disappeared is refused unless
    `allow_removal`, and one rebuilt for package updates alone whose packages
    did not change is not promoted. Then each target is copied, signed,
    attested and tagged (see factory.publish). One publisher at a time per
    state directory.
    """
    from factory import attestations as attesting
    from factory import exceptions as excs
    from factory import publish as publishing
    from factory.oci import RegistryClient
    from factory.process import Runner

    today = today or dt.date.today()
    settings = workspace.site.publish
    runner = Runner()
    with publishing.lock(workspace.site.state_dir / "publish.lock", board.note):
        record = records.read(record_path)  # read under the lock: as the previous publisher left it
        chosen, refused = _choose(record, record_path, selection, publishing.refusal)
        for target_id, reason in refused.items():
            board.note(f"{target_id}: not published: {reason}")
        if not chosen:
            return PublishOutcome(record, [], [], refused)
        oras = publishing.Oras(runner)
        cosign = publishing.Cosign(runner, publishing.SigningKey.at(settings.key_path))
        client = RegistryClient(settings.registry)
        root = workspace.project.root
        exceptions = excs.load(root, today, root / workspace.site.scan.exceptions)
        plans = []
        for target in chosen:
            assert target.repository is not None  # built
            image = references.parse(target.repository).name
            item = publishing.plan(target, settings.repository(image), oras, [], today)
            scans = attesting.scan_images(target)
            note = publishing.release_note(record, target, item, cosign, client, scans)
            why_not = publishing.note_refusal(target, note, allow_removal)
            if why_not is not None:
                refused[target.id] = why_not
                board.note(f"{target.id}: not published: {why_not}")
                continue
            inputs = attesting.Inputs(record, target, root, scans, exceptions, today, settings.large_sbom_bytes, note)
            directory = workspace.builds / record.run_id / "attestations" / target.id.replace(":", "_")
            item.attestations = attesting.prepare(inputs, directory)
            plans.append(item)
        for item in plans:
            for line in item.describe():
                board.note(f"{item.target}: {line}")
        done = []
        for item in plans:
            outcome = publishing.execute(item, oras, cosign, board.note)
            if not outcome.writes:
                board.note(f"{item.target}: already published as {item.pinned}: nothing written")
            result = record.result(item.target)
            notes_file = next((a.predicate for a in item.attestations if a.kind == attesting.REASONS), None)
            result.published = publishing.publication(outcome, records.now(), result.published, notes_file)
            save(workspace, record, record_path)
            done.append(outcome)
    return PublishOutcome(record, done, plans, refused)


@dataclass(frozen=True)
class CopyOutcome:
    """What `publish --to` did: each published target copied (with what it wrote), and what it could not copy."""

    copies: list[tuple[Any, list[str]]]  # (publish.Copy, writes)
    refused: dict[str, str]


def copy(workspace: Workspace, record_path: Path, board: Board, to: str, selection: Sequence[str] = ()) -> CopyOutcome:
    """Copy the published targets of a record to another registry: digests, signatures and referrers unchanged.

    The tag map at the destination is printed before the first write; an
    immutable tag there that points elsewhere stops everything before it
    starts. Each target's copies are recorded in its publication.
    """
    from factory import publish as publishing
    from factory.process import Runner

    settings = workspace.site.publish
    registry, namespace = publishing.destination(to, settings.namespace)
    runner = Runner()
    with publishing.lock(workspace.site.state_dir / "publish.lock", board.note):
        record = records.read(record_path)
        chosen, refused = _choose(record, record_path, selection, _not_published)
        oras = publishing.Oras(runner)
        cosign = publishing.Cosign(runner, publishing.SigningKey.at(settings.key_path))
        plans = []
        for target in chosen:
            assert target.published is not None
            image = references.parse(target.published.repository).name
            platforms = [i.digest for i in target.images.values()]
            item = publishing.copy_plan(target.id, target.published, platforms, f"{registry}/{namespace}/{image}", oras)
            plans.append(item)
            for line in item.describe():
                board.note(f"{target.id}: {line}")
        done = []
        for item in plans:
            writes = publishing.execute_copy(item, oras, cosign, board.note)
            if not writes:
                board.note(f"{item.target}: already in {item.destination}: nothing written")
            publication = record.result(item.target).published
            assert publication is not None
            if item.destination not in publication.copies:
                publication.copies.append(item.destination)
                save(workspace, record, record_path)
            done.append((item, writes))
    return CopyOutcome(done, refused)


def changelog(workspace: Workspace, reference: str) -> tuple[str, list[Any]]:
    """The history of a published tag (`python:3.13`): its immutable tags, newest first, with their notes."""
    from factory import publish as publishing
    from factory.process import Runner

    image, _, tag = reference.partition(":")
    if not image or not tag:
        raise UsageProblem(f"{reference!r}: expected IMAGE:TAG, e.g. python:3.13")
    settings = workspace.site.publish
    repository = settings.repository(image)
    runner = Runner()
    cosign = publishing.Cosign(runner, publishing.SigningKey.at(settings.key_path, verify_only=True))
    return repository, publishing.history(repository, tag, publishing.Oras(runner), cosign)


# -- prune ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PruneOutcome:
    """What prune deleted (or, with dry_run, would delete) and the old tags it kept, with why."""

    deleted: list[Any]  # prune.Deletion
    kept: list[str]
    dry_run: bool


def prune(
    workspace: Workspace,
    board: Board,
    older_than_days: int,
    *,
    dry_run: bool = False,
    now: dt.datetime | None = None,
) -> PruneOutcome:
    """Delete the staging tags and build caches of runs older than `older_than_days` (see factory.prune).

    Never a digest that a final tag (and the signature beside it), a pin or
    the latest run points at, nor a manifest under an index that stays.
    Holds the publish lock, so no publish reads staging while it runs.
    """
    from factory import prune as pruning
    from factory import publish as publishing
    from factory.process import Runner

    now = now or dt.datetime.now(dt.UTC)
    cutoff = now - dt.timedelta(days=older_than_days)
    registry, settings = workspace.site.registry, workspace.site.publish
    oras = publishing.Oras(Runner())
    with publishing.lock(workspace.site.state_dir / "publish.lock", board.note):
        board.note(f"prune: reading {registry.address} (runs before {cutoff:%Y-%m-%d %H:%M} UTC)")
        staging_namespace = f"{registry.address}/{registry.staging_namespace}"
        staging = [pruning.read_repository(oras, name) for name in oras.repositories(staging_namespace)]
        cache_namespace = f"{registry.address}/{registry.namespace}-cache"
        caches = [pruning.read_repository(oras, name) for name in oras.repositories(cache_namespace)]
        finals = [settings.repository(references.parse(r.name).name) for r in staging]
        pins = [pin.digest for pin in workspace.catalogue.pins.values()]
        protected = pruning.in_use(oras, finals, pins, workspace.builds / LATEST)
        old_staging, kept = pruning.decide(staging, pruning.staging_age(cutoff), protected)
        last_built = pruning.cache_owners(workspace.builds.glob("*/record.json"))
        in_catalogue = pruning.catalogue_caches(workspace.catalogue.targets)
        old_caches, kept_caches = pruning.decide(caches, pruning.cache_age(cutoff, last_built, in_catalogue), protected)
        deletions = old_staging + old_caches
        for item in deletions:
            pinned = f"{item.repository}@{item.digest}"
            board.note(f"{'would delete' if dry_run else 'deleting'} {pinned} ({', '.join(item.tags)}): {item.why}")
            if dry_run:
                continue
            oras.delete(pinned)
            if oras.resolve(pinned) is not None:
                raise publishing.PublishFailed(f"{pinned} is still there after deleting it: is delete enabled?")
    return PruneOutcome(deletions, kept + kept_caches, dry_run)


# -- report --------------------------------------------------------------------------------


def report(workspace: Workspace, record_path: Path) -> dict[str, Path]:
    """Write the run's report (report.json, report.md) beside its record, from the record alone."""
    from factory import report as reporting

    record = records.read(record_path)
    return reporting.write(record, workspace.builds / record.run_id)


# -- site ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SiteOutcome:
    """What `site` wrote: the directory, its data (the document of site.json) and the records it left out."""

    directory: Path
    document: dict[str, Any]
    skipped: list[str]  # an unreadable record under the state dir, each with why


def site_directory(config: site.Site) -> Path:
    """Where the catalogue site goes by default: .factory/site/."""
    return config.state_dir / "site"


def write_site(
    workspace: Workspace, out: Path | None = None, record_paths: Sequence[Path] = (), *, day: dt.date | None = None
) -> SiteOutcome:
    """Write the catalogue site (factory.website) from the records given, else from every run's record.

    A record named on the command line that cannot be read is an error; one
    found under the state directory is left out and said so (an old run tells
    history, not today). The public key goes with the pages when it is here.
    """
    from factory import lifecycle, website
    from factory.errors import EnvironmentProblem

    runs, skipped = [], []
    if record_paths:
        runs = [records.read(path) for path in record_paths]
    else:
        for path in sorted(workspace.builds.glob("*/record.json")):
            try:
                runs.append(records.read(path))
            except FactoryError as exc:
                skipped.append(str(exc))
    if not runs:
        raise EnvironmentProblem(f"no build record under {workspace.builds}: run `factory run` (or `factory build`)")
    root = workspace.project.root
    public_key = workspace.site.publish.key_path.with_suffix(".pub")
    document = website.document(
        runs,
        catalogue=workspace.catalogue,
        root=root,
        official=website.official_sizes(root),
        day=day or lifecycle.today(),
        public_key=public_key.is_file(),
    )
    directory = website.write(
        document,
        out or site_directory(workspace.site),
        workspace.project.templates,
        public_key if public_key.is_file() else None,
    )
    return SiteOutcome(directory, document, skipped)


def ensure_signing_key(workspace: Workspace, board: Board) -> None:
    """On the embedded defaults, make the signing key once (and say so); a configured key must exist."""
    from factory import publish as publishing
    from factory.process import Runner

    path = workspace.site.publish.key_path
    if path.is_file():
        return
    default = site.PublishSettings().key_path
    if path != default:
        publishing.SigningKey.at(path)  # raises: a configured key that is missing is the user's to fix
    key = publishing.generate_key(path, Runner())
    board.note(
        f"no signing key yet: generated {key.private} (public key {key.public}); set publish.signing_key in"
        " factory.yaml to sign with your own"
    )


# -- the main job ----------------------------------------------------------------------------


@dataclass(frozen=True)
class MainJob:
    """What the main job did: the record it built, the report and the site it wrote (also on failure); with a
    plan that was empty, only the plan (nothing built, nothing pushed)."""

    record_path: Path | None
    reports: dict[str, Path]
    published: PublishOutcome | None
    plan: Any = None  # factory.plan.Plan with --plan
    site: Path | None = None  # the catalogue site's directory


RUN_LOCK_WAIT_S = 3 * 3600.0  # a scheduled run waits for one in progress (a cold catalogue takes most of an hour)


def main_job(
    workspace: Workspace,
    board: Board,
    lint_passes: Callable[[Report], bool],
    *,
    ignore_file: IgnoreFile | None = None,
    no_cache: bool = False,
    use_plan: bool = False,
    allow_removal: bool = False,
) -> MainJob:
    """render --check -> lint -> [plan ->] build -> verify -> scan -> publish -> report -> site, each after the
    one before passed.

    `lint_passes` sees the lint report (the CLI shows it and applies the
    failure threshold). With `use_plan` only what the rebuild plan chose is
    built, and an empty plan ends the job there (no build, no push). Once a
    build record exists, the report and then the catalogue site
    (.factory/site/) are written whatever happens next, so a failed run still
    says what was not published and why. One main job at a time per state
    directory: a second waits for the first.
    """
    from factory import locks

    lock = workspace.site.state_dir / "run.lock"
    held = f"another `factory run` holds {lock}"
    with locks.exclusive(lock, RUN_LOCK_WAIT_S, f"{held}: waiting for it", f"{held}: gave up waiting", board.note):
        return _main_job(
            workspace,
            board,
            lint_passes,
            ignore_file=ignore_file,
            no_cache=no_cache,
            use_plan=use_plan,
            allow_removal=allow_removal,
        )


def _main_job(
    workspace: Workspace,
    board: Board,
    lint_passes: Callable[[Report], bool],
    *,
    ignore_file: IgnoreFile | None,
    no_cache: bool,
    use_plan: bool,
    allow_removal: bool,
) -> MainJob:
    from factory.errors import LintFailed

    board.note(
        "main job: render --check, lint, "
        + ("plan, " if use_plan else "")
        + "build, verify, scan, publish, report, site"
    )
    require_current(workspace)
    if not lint_passes(lint(workspace, ignore_file=ignore_file)):
        raise LintFailed("lint findings at or above the failure threshold")
    rebuild = plan(workspace, board) if use_plan else None
    if rebuild is not None and not rebuild.rebuild:
        board.note("nothing to rebuild: no build, no push")
        return MainJob(None, {}, None, rebuild)
    record = build(workspace, board, no_cache=no_cache, rebuild=rebuild)
    path = workspace.builds / record.run_id / "record.json"
    try:
        outcome = _stages_after_build(workspace, board, record, path, allow_removal)
    except FactoryError as exc:
        _report_and_site(workspace, board, path, after_failure=True)
        raise exc
    written, pages = _report_and_site(workspace, board, path)
    return MainJob(path, written, outcome, rebuild, pages)


def _report_and_site(
    workspace: Workspace, board: Board, path: Path, *, after_failure: bool = False
) -> tuple[dict[str, Path], Path | None]:
    """The run's report, then the catalogue site, each said where. The report is written first, so a site that
    fails never loses it; after a failed stage neither error is raised (the stage's is the one to show)."""
    written: dict[str, Path] = {}
    try:
        written = report(workspace, path)
        board.note(f"report: {written['markdown']}")
        pages = write_site(workspace).directory
        board.note(f"site: {pages / 'index.html'}")
    except FactoryError as unwritten:
        if not after_failure:
            raise
        board.note(f"no {'site' if written else 'report'}: {unwritten}")
        return written, None
    return written, pages


def _stages_after_build(
    workspace: Workspace, board: Board, record: records.BuildRecord, path: Path, allow_removal: bool
) -> PublishOutcome:
    from factory.errors import BuildFailed, NotPublished, ScanFailed, VerifyFailed

    if record.failed:
        raise BuildFailed("; ".join(f"{t.id}: {t.status}: {_first_line(t.reason)}" for t in record.failed))
    verification = verify(workspace, path, board)
    if not verification.passed:
        failed = sorted({r.target for r in verification.results if not r.passed})
        raise VerifyFailed(f"verification failed for {', '.join(failed)} (details: {verification.report})")
    gate = scan(workspace, path, board)
    if not gate.passed:
        failed = sorted({s.target for s in gate.scans if not s.passed})
        raise ScanFailed(f"the security gate failed for {', '.join(failed)} (details: {gate.reports['markdown']})")
    ensure_signing_key(workspace, board)
    outcome = publish(workspace, path, board, allow_removal=allow_removal)
    if not outcome.passed:
        raise NotPublished("not published: " + "; ".join(f"{t}: {r}" for t, r in sorted(outcome.refused.items())))
    return outcome


def _first_line(text: str | None) -> str:
    return text.strip().splitlines()[0] if text and text.strip() else "no reason recorded"
