"""Expands merged stack definitions into targets, and checks what only the whole catalogue shows.

One stack file gives one target per version and variant (plus its unversioned
variants); the OS definition gives the OS base target. Checks here need more
than one value: variant graphs, releases, platforms against parents, and
target ids and tags that must be unique across every file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from factory import model, pins
from factory.errors import Problem
from factory.suggest import did_you_mean
from factory.yamlmarks import Path_, format_path

if TYPE_CHECKING:
    from factory.catalogue import Chain

OS_TEMPLATE = "os"  # renders the OS base only
SCRATCH_TEMPLATE = "static"  # the template whose final stage is FROM scratch


class Expander:
    """Turns chains into targets, appending every problem to a shared list."""

    def __init__(
        self,
        os_base: model.OSBase,
        templates: frozenset[str],
        problems: list[Problem],
        repositories: tuple[str, ...] = (),
    ) -> None:
        self.os = os_base
        self.templates = templates
        self.problems = problems
        self.repositories = repositories  # what copy-from images may name, as pins (empty: any)
        self.paths: dict[str, Path_] = {}  # target id -> where in its chain the target is defined

    def os_target(self) -> model.Target:
        """The OS base as a target: an unversioned variant named after its release (`os:trixie`)."""
        os_base = self.os
        return model.Target(
            stack="os",
            version=None,
            variant=os_base.release,
            image=os_base.image,
            tags=os_base.tags,
            platforms=os_base.platforms,
            base=model.BaseRef(model.BaseKind.ROOTFS),
            template=OS_TEMPLATE,
            description=os_base.description,
            install=(),
            run="",
            env=os_base.env,
            labels=os_base.labels,
            verify=os_base.verify,
            cmd=os_base.cmd,
            sources=(os_base.source,),
            origin=(os_base.source, None),
            support=os_base.support,
        )

    # -- one stack -------------------------------------------------------------

    def expand(self, chain: Chain) -> list[model.Target]:
        data = chain.data
        variants: dict[str, dict[str, Any]] = data.get("variants") or {}
        if not variants:
            self.problems.append(chain.problem(("variants",), "a stack needs at least one variant"))
            return []
        stack_platforms = data.get("platforms") or list(self.os.platforms)
        outside_os = sorted(set(stack_platforms) - set(self.os.platforms))
        if outside_os:
            self.problems.append(
                chain.problem(("platforms",), f"{', '.join(outside_os)} not built by the OS base ({self.os.source})")
            )
            return []
        if not self._variant_graph_is_sound(chain, variants):
            return []
        if data.get("image", chain.name) == self.os.image:
            # Its tags would sit beside the OS base's (bookworm, 12, latest) and be taken for other releases.
            owner = f"image {self.os.image!r} is the OS base's ({self.os.source})"
            at: Path_ = ("image",) if "image" in data else ()
            self.problems.append(chain.problem(at, f"{owner}: a stack publishes an image of its own"))
            return []
        found: list[model.Target] = []
        versioned = [v for v, spec in variants.items() if spec.get("versioned", True)]
        versions = data.get("versions") or []
        if versioned and not versions:
            self.problems.append(
                chain.problem(("versions",), f"variants {', '.join(versioned)} need at least one version")
            )
        current = 0
        seen_versions: dict[tuple[str, str], int] = {}
        for index, entry in enumerate(versions):
            where: Path_ = ("versions", index)
            releases = entry.get("releases")
            if not self._releases_are_known(chain, where, releases):
                continue
            if self._is_duplicate(chain, where, entry, seen_versions):
                continue
            if releases and self.os.release not in releases:
                continue  # this version belongs to another OS release
            current += 1
            if "tags" not in entry:
                self.problems.append(chain.problem((*where, "tags"), "required field is missing"))
                continue
            found.extend(self._version_targets(chain, variants, versioned, entry, index))
        if versioned and versions and not current:
            self.problems.append(
                chain.problem(
                    ("versions",),
                    f"no version of {chain.name} is for release {self.os.release} (stacks/os.yaml):"
                    " the stack would build nothing",
                )
            )
        self._check_parent_platforms(chain, found)
        for name, spec in variants.items():
            if spec.get("versioned", True):
                continue
            if "tags" not in spec:
                self.problems.append(
                    chain.problem(("variants", name, "tags"), "an unversioned variant needs its own tags")
                )
                continue
            found.append(self._target(chain, name, None, None, {}))
        return found

    def _releases_are_known(self, chain: Chain, where: Path_, releases: list[str] | None) -> bool:
        unknown = [r for r in releases or () if r not in self.os.known_releases]
        for release in unknown:
            index = (releases or []).index(release)
            self.problems.append(
                chain.problem(
                    (*where, "releases", index),
                    f"{release!r} is not a release of {self.os.source}"
                    f" ({', '.join(self.os.known_releases)}){did_you_mean(release, self.os.known_releases)}",
                )
            )
        return not unknown

    def _is_duplicate(
        self, chain: Chain, where: Path_, entry: Mapping[str, Any], seen: dict[tuple[str, str], int]
    ) -> bool:
        duplicate = False
        for release in entry.get("releases") or ["*"]:
            first = seen.setdefault((entry["version"], release), int(where[1]))
            if first != where[1]:
                duplicate = True
                self.problems.append(
                    chain.problem((*where, "version"), f"version {entry['version']!r} is already versions[{first}]")
                )
        return duplicate

    def _version_targets(
        self,
        chain: Chain,
        variants: Mapping[str, Mapping[str, Any]],
        versioned: list[str],
        entry: Mapping[str, Any],
        index: int,
    ) -> list[model.Target]:
        where: Path_ = ("versions", index)
        selected = entry.get("variants")
        names = list(selected) if selected is not None else versioned
        found = []
        for name in names:
            if name not in variants:
                self.problems.append(
                    chain.problem(
                        (*where, "variants", name), f"no variant {name!r} in this stack{did_you_mean(name, variants)}"
                    )
                )
                continue
            if name not in versioned:
                self.problems.append(
                    chain.problem((*where, "variants", name), f"variant {name!r} is unversioned (versioned: false)")
                )
                continue
            base = variants[name].get("from", "os")
            if base in variants and base not in names:
                self.problems.append(
                    chain.problem(
                        (*where, "variants"),
                        f"variant {name!r} is built from {base!r}, which this version does not build",
                    )
                )
                continue
            extra = (selected or {}).get(name) or {}
            found.append(self._target(chain, name, entry, index, extra))
        return found

    def _check_parent_platforms(self, chain: Chain, found: list[model.Target]) -> None:
        """A variant built FROM another needs that image for each of its platforms."""
        by_id = {t.id: t for t in found}
        for target in found:
            parent = by_id.get(target.base.target_id or "") if target.base.kind is model.BaseKind.TARGET else None
            if parent is not None:
                missing = sorted(set(target.platforms) - set(parent.platforms))
                if missing:
                    self.problems.append(
                        chain.problem(
                            self.paths[target.id],
                            f"{target.id} needs {parent.id} for {', '.join(missing)}, which it is not built for",
                        )
                    )

    def _variant_graph_is_sound(self, chain: Chain, variants: Mapping[str, Mapping[str, Any]]) -> bool:
        """Report unknown or cyclic `from` between variants and misused templates; True when sound."""
        before = len(self.problems)
        for name, spec in variants.items():
            base = spec.get("from", "os")
            template = spec.get("template")
            if template == OS_TEMPLATE:
                self.problems.append(
                    chain.problem(("variants", name, "template"), "the os template renders the OS base only")
                )
            if base == "scratch" and (template or "stack") != SCRATCH_TEMPLATE:
                self.problems.append(
                    chain.problem(
                        ("variants", name, "from"),
                        f"from: scratch needs template: {SCRATCH_TEMPLATE} (the only template whose final stage"
                        " is FROM scratch); any other would build FROM the OS base",
                    )
                )
            if template == SCRATCH_TEMPLATE and base != "scratch":
                self.problems.append(
                    chain.problem(("variants", name, "template"), f"template: {SCRATCH_TEMPLATE} needs from: scratch")
                )
            if base in ("os", "scratch"):
                continue
            if base not in variants:
                self.problems.append(
                    chain.problem(
                        ("variants", name, "from"),
                        f"expected 'os', 'scratch' or a variant of this stack, got {base!r}"
                        f"{did_you_mean(base, variants)}",
                    )
                )
            elif spec.get("versioned", True) != variants[base].get("versioned", True):
                self.problems.append(
                    chain.problem(
                        ("variants", name, "from"), f"{name!r} and {base!r} must both be versioned or both unversioned"
                    )
                )
            seen = [name]
            while base in variants and base not in ("os", "scratch"):
                if base in seen:
                    self.problems.append(
                        chain.problem(("variants", name, "from"), f"cycle in from: {' -> '.join([*seen, base])}")
                    )
                    break
                seen.append(base)
                base = variants[base].get("from", "os")
        return len(self.problems) == before

    def _target(
        self,
        chain: Chain,
        variant: str,
        entry: Mapping[str, Any] | None,
        index: int | None,
        extra: Mapping[str, Any],
    ) -> model.Target:
        data = chain.data
        spec = data["variants"][variant]
        image = data.get("image", chain.name)
        version = entry["version"] if entry else None
        tag_path: Path_ = ("versions", index, "tags") if index is not None else ("variants", variant, "tags")
        tags = model.published_tags(
            tuple(entry["tags"] if entry else spec["tags"]), variant, entry is not None, spec.get("tag_suffix")
        )
        for tag in tags:
            if len(tag) > model.MAX_PUBLISHED_TAG:
                self.problems.append(
                    chain.problem(
                        tag_path,
                        f"tag {tag[:40]}... is {len(tag)} characters with its suffix: at most"
                        f" {model.MAX_PUBLISHED_TAG}, so that publish's dated tag (-20261207.1) stays within 128",
                    )
                )
        staging = model.staging_tag(version, variant)
        if len(staging) > model.MAX_STAGING_TAG:
            self.problems.append(
                chain.problem(
                    ("versions", index, "version") if index is not None else ("variants", variant),
                    f"version and variant make the staging tag {staging[:40]}... of {len(staging)} characters:"
                    f" at most {model.MAX_STAGING_TAG}, so that the build's run id and platform"
                    " (-20261207T093508Z-4bd6-linux-riscv64) keep it within 128",
                )
            )
        platforms = list(data.get("platforms") or self.os.platforms)
        for narrower in ((entry or {}).get("platforms"), spec.get("platforms")):
            if narrower is not None:
                platforms = [p for p in platforms if p in narrower]
        where: Path_ = ("versions", index) if index is not None else ("variants", variant)
        if not platforms:
            self.problems.append(chain.problem(where, "no platform left after narrowing by version and variant"))
        self.paths[model.target_id(image, version, variant)] = where
        base_name = spec.get("from", "os")
        if base_name == "os":
            base = model.BaseRef(model.BaseKind.OS, self.os.id)
        elif base_name == "scratch":  # the final stage is scratch; its helper stages use the OS base
            base = model.BaseRef(model.BaseKind.SCRATCH, self.os.id)
        else:
            base = model.BaseRef(model.BaseKind.TARGET, model.target_id(image, version, base_name))
        own: list[tuple[Path_, Mapping[str, Any]]] = [
            (("variants", variant, "install", i), step) for i, step in enumerate(spec.get("install", ()))
        ]
        own += [
            (("versions", index or 0, "variants", variant, "install", i), step)
            for i, step in enumerate(extra.get("install", ()))
        ]
        steps = tuple(self._install_step(chain, path, step, platforms) for path, step in own)
        template = spec.get("template") or (chain.name if chain.name in self.templates else "stack")
        if template not in self.templates:
            self.problems.append(
                chain.problem(("variants", variant, "template"), f"no template templates/{template}.Dockerfile.j2")
            )
        run = "\n".join(s.strip("\n") for s in (spec.get("run", ""), extra.get("run", "")) if s.strip())
        artifact = self._artifact(chain, variant, spec, image, version)
        support = None
        if entry is not None and index is not None:
            support = support_of(chain.name, entry, ("versions", index), chain.locate, self.problems)
        return model.Target(
            stack=chain.name,
            version=version,
            variant=variant,
            image=image,
            tags=tags,
            platforms=tuple(platforms),
            base=base,
            template=template,
            description=spec.get("description") or data.get("description") or chain.name,
            install=steps,
            run=run,
            env=model.frozen_map(
                {**data.get("env", {}), **(entry or {}).get("env", {}), **spec.get("env", {}), **extra.get("env", {})}
            ),
            labels=model.frozen_map(
                {
                    **data.get("labels", {}),
                    **(entry or {}).get("labels", {}),
                    **spec.get("labels", {}),
                    **extra.get("labels", {}),
                }
            ),
            verify=tuple(
                v if isinstance(v, str) else tuple(v) for v in (*spec.get("verify", ()), *extra.get("verify", ()))
            ),
            cmd=tuple(extra.get("cmd") or spec.get("cmd") or ()),
            sources=tuple(m.file for m in chain.files),
            origin=chain.locate(tag_path),
            artifact=artifact,
            support=support,
        )

    def _artifact(
        self, chain: Chain, variant: str, spec: Mapping[str, Any], image: str, version: str | None
    ) -> model.Artifact | None:
        """The variant's artifact, run_in names resolved to target ids (same version, or unversioned)."""
        data = spec.get("artifact")
        if data is None:
            return None
        variants = chain.data["variants"]
        run_in = []
        for index, name in enumerate(data["run_in"]):
            if name not in variants:
                self.problems.append(
                    chain.problem(
                        ("variants", variant, "artifact", "run_in", index),
                        f"no variant {name!r} in this stack{did_you_mean(name, variants)}",
                    )
                )
                continue
            versioned = variants[name].get("versioned", True)
            run_in.append(model.target_id(image, version if versioned else None, name))
        return model.Artifact(data["script"], tuple(data["run"]), tuple(run_in))

    def _install_step(
        self, chain: Chain, path: Path_, step: Mapping[str, Any], platforms: list[str]
    ) -> model.InstallStep:
        method = step["method"]
        if method == "os-packages":
            return model.OsPackages(tuple(step["packages"]))
        if method == "copy-from":
            foreign = pins.outside(step["image"], self.repositories)
            if foreign is not None:
                self.problems.append(chain.problem((*path, "image"), foreign))
            return model.CopyFrom(step["image"], step["src"], step["dest"])
        missing = sorted({p.split("/")[1] for p in platforms} - set(step["url"]))
        if missing:
            self.problems.append(
                chain.problem((*path, "url"), f"download {step['name']!r} has no url for {', '.join(missing)}")
            )
        return model.Download(
            name=step["name"],
            urls=model.frozen_map(step["url"]),
            sha256=model.frozen_map(step["sha256"]),
            dest=step["dest"],
            archive=step.get("archive", False),
            strip_components=step.get("strip_components", 0),
            mode=step.get("mode", "0755"),
        )

    # -- the whole catalogue ---------------------------------------------------------

    def check_and_order(self, found: list[model.Target], chains: Mapping[str, Chain]) -> list[model.Target]:
        """Unique ids and tags across every file; then parents before children (the OS first)."""
        self._check_unique(found, chains)
        return _order(found)

    def _problem(self, target: model.Target, chains: Mapping[str, Chain], field: str, message: str) -> Problem:
        """A problem at where `target` is defined (its version or variant entry, and `field` in it)."""
        chain = chains.get(target.stack)
        if chain is None or target.id not in self.paths:
            return Problem(*target.origin, field, message)
        return chain.problem((*self.paths[target.id], field) if field else self.paths[target.id], message)

    def _check_unique(self, found: list[model.Target], chains: Mapping[str, Chain]) -> None:
        ids: dict[str, model.Target] = {}
        references: dict[str, model.Target] = {}
        for target in found:
            other = ids.setdefault(target.id, target)
            if other is not target:
                message = f"target {target.id} is also defined by {_where(other)}: each id must be defined once"
                self.problems.append(self._problem(target, chains, "", message))
                continue
            for reference in target.references:
                owner = references.setdefault(reference, target)
                if owner is not target:
                    message = f"tag {reference} of {target.id} is also a tag of {owner.id} ({_where(owner)})"
                    self.problems.append(self._problem(target, chains, "tags", message))


def support_of(
    name: str,
    entry: Mapping[str, Any],
    path: Path_,
    locate: Callable[[Path_], tuple[str, int | None]],
    problems: list[Problem],
) -> model.Support | None:
    """The end of life a version entry (or an OS release) declares, located; None when it declares none.

    The dates are judged later, against a day (factory.lifecycle); here only what needs no day.
    """
    if "eol" not in entry:
        return None

    def origin(*parts: str | int) -> model.Origin:
        where = (*path, *parts)
        file, line = locate(where)
        return (file, line, format_path(where))

    version = entry["version"]
    replaced_by = tuple(entry.get("replaced_by", ()))
    if version in replaced_by:
        itself = origin("replaced_by", replaced_by.index(version))
        problems.append(Problem(*itself, f"{version!r} is this version itself"))
    override = entry.get("eol_override")
    return model.Support(
        name=name,
        version=version,
        eol=entry["eol"],
        replaced_by=replaced_by,
        override=(
            model.EolOverride(override["reason"], override["expires"], origin("eol_override", "expires"))
            if override
            else None
        ),
        origin=origin("eol"),
    )


def _where(target: model.Target) -> str:
    file, line = target.origin
    return f"{file}:{line}" if line is not None else file


def _order(found: list[model.Target]) -> list[model.Target]:
    # Parents before children; otherwise the definition order is kept (the OS target comes first).
    by_id = {t.id: t for t in found}
    ordered: list[model.Target] = []
    placed: set[str] = set()

    def place(target: model.Target) -> None:
        if target.id in placed:
            return
        parent = target.base.target_id
        if parent is not None and parent in by_id:
            place(by_id[parent])
        placed.add(target.id)
        ordered.append(target)

    for target in found:
        place(target)
    return ordered
