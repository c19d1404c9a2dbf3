"""The catalogue site: static pages about every image the factory made, to pick and trust a base image.

One JSON document (site.json) is the data: the run report's document
(factory.report, schema 1) of the newest run with, per image, the entry of
the run that last published it (or last built it), extended with what only
the whole history and the catalogue know: the digests each tag named with
why, the end of life, the rendered Dockerfile and its sources, the packages
of each platform's SBOM, every finding (suppressed ones with their reason
and expiry), the consumer's commands, and the official images' published
sizes from data/official-sizes.yaml. The pages are drawn from that document
alone, through the one Jinja environment, with inline SVG charts
(factory.svg).

Nothing is fetched when a page is viewed (no CDN, font or script from
elsewhere) and every link is relative, so the tree works opened from disk and
served from any path of any web server. It is written beside the old tree and
swapped in: never half-written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2

from factory import lifecycle, model, notes, rendered, report, svg
from factory import record as records
from factory.errors import DefinitionError, EnvironmentProblem, RenderError, UsageProblem
from factory.render import make_environment
from factory.schema import SEVERITIES, validate
from factory.yamlmarks import load_file

SCHEMA = 1  # of the site's additions (`site.schema`); the report's keys keep the report's `schema`
OFFICIAL_SIZES = "data/official-sizes.yaml"
DATA_FILE = "site.json"  # also how a directory is known to be a site this module wrote
PUBLIC_KEY = "cosign.pub"
TREND_POINTS = 10  # rebuilds shown in the trend charts
SEVERITY_ORDER = tuple(reversed(SEVERITIES))  # CRITICAL first


# -- the data --------------------------------------------------------------------------------------


def official_sizes(root: Path) -> list[dict[str, Any]]:
    """data/official-sizes.yaml, validated ([] when the project has none)."""
    path = root / OFFICIAL_SIZES
    if not path.exists():
        return []
    marked = load_file(path, OFFICIAL_SIZES)
    problems = validate(marked, "official_sizes")
    if problems:
        raise DefinitionError(problems)
    return [
        {**entry, "read": entry["read"].isoformat(), "compares_with": list(entry["compares_with"])}
        for entry in marked.data["images"]
    ]


def document(
    runs: Iterable[records.BuildRecord],
    *,
    catalogue: model.Catalogue | None,
    root: Path,
    official: Sequence[Mapping[str, Any]] = (),
    day: dt.date,
    public_key: bool = False,
) -> dict[str, Any]:
    """site.json: the report document of the newest run, with every image of every run (see the module)."""
    ordered = sorted({r.run_id: r for r in runs}.values(), key=lambda r: (r.started, r.run_id))
    if not ordered:
        raise UsageProblem("no build record to make a site from: run `factory build` (or `factory run`) first")
    seen: dict[str, list[tuple[records.BuildRecord, dict[str, Any]]]] = {}
    newest: dict[str, Any] = {}
    for record in ordered:
        newest = report.document(record)
        for image in newest["images"]:
            seen.setdefault(image["target"], []).append((record, image))
    targets = {t.id: t for t in catalogue.targets} if catalogue is not None else {}
    order = {target_id: index for index, target_id in enumerate(targets)}
    images = [
        _image(seen[target_id], targets.get(target_id), root, official, day)
        for target_id in sorted(seen, key=lambda t: (order.get(t, len(order)), t))
    ]
    _compare_with_os(images)
    published = sum(1 for image in images if image["published"])
    return {
        **newest,
        "summary": {"images": len(images), "published": published, "not_published": len(images) - published},
        "images": images,
        "official_sizes": [dict(entry) for entry in official],
        "site": {
            "schema": SCHEMA,
            "runs": [r.run_id for r in ordered],
            "lifecycle_day": day.isoformat(),
            "public_key": PUBLIC_KEY if public_key else None,
        },
    }


def _compare_with_os(images: Sequence[dict[str, Any]]) -> None:
    """Fill the OS base's size where an image's run did not build the OS base (a run of the rebuild plan holds
    only what it rebuilt): the OS base the site shows is the one to compare with."""
    base = next((i for i in images if i["stack"] == "os" and not i["base"]), None)
    if base is None:
        return
    for image in images:
        if image is base:
            continue
        for platform, entry in image["platforms"].items():
            size = base["platforms"].get(platform, {}).get("compressed_size")
            if entry["os_base_size"] is None and size is not None:
                entry["os_base_size"] = size
                if entry["compressed_size"] is not None:
                    entry["over_os_base"] = entry["compressed_size"] - size


def page_of(target_id: str) -> str:
    """The image's page, relative to the site: images/python-3.13-runtime.html."""
    return f"images/{re.sub(r'[^A-Za-z0-9._-]+', '-', target_id)}.html"


def _image(
    seen: Sequence[tuple[records.BuildRecord, dict[str, Any]]],
    target: model.Target | None,
    root: Path,
    official: Sequence[Mapping[str, Any]],
    day: dt.date,
) -> dict[str, Any]:
    """The report's entry of the run that last published the image (else last built it), extended."""
    published = [(record, image) for record, image in seen if image["published"]]
    record, entry = published[-1] if published else seen[-1]
    result = record.result(entry["target"])
    scans = report.scan_entries(record)
    platforms = {}
    for platform, item in entry["platforms"].items():
        verdict = result.verdicts.get("scan", {}).get(platform)
        scanned = scans.get((result.id, platform), {})
        platforms[platform] = {
            **item,
            "packages": _packages(verdict.sbom if verdict and verdict.sbom else scanned.get("sbom")),
            "vulnerabilities": _vulnerabilities(scanned),
        }
    last_record, last = seen[-1]
    history = _history(seen)
    return {
        **entry,
        "platforms": platforms,
        "run": record.run_id,
        "built": record.started,
        "page": page_of(entry["target"]),
        "description": target.description if target is not None else None,
        "why": _why(entry),
        "lifecycle": _lifecycle(target, day),
        "rendered": _dockerfile(root, result),
        "history": history,
        "history_tags": list(dict.fromkeys(tag for h in history for tag in h["tags"])),  # rolling, newest first
        "commands": _commands(entry),
        "official": [str(o["image"]) for o in official if entry["target"] in o["compares_with"]],
        "latest_attempt": (
            {"run": last_record.run_id, "started": last_record.started, "not_published": last["not_published"]}
            if last_record is not record
            else None
        ),
    }


def _why(image: Mapping[str, Any]) -> list[str]:
    """Why the image was built: the note's reasons, else the plan's, else it was asked for."""
    note = image.get("note") or {}
    reasons = [
        f"{r['reason']} ({r['evidence']})" if r.get("evidence") else str(r["reason"]) for r in note.get("reasons", [])
    ]
    return reasons or list(image.get("reasons") or []) or ["built on request"]


def _lifecycle(target: model.Target | None, day: dt.date) -> dict[str, Any] | None:
    if target is None:
        return None  # no longer in the catalogue
    found = lifecycle.state(target, day)
    return {
        "status": str(found.status),
        "level": str(found.level),
        "message": found.message,
        "eol": found.eol.isoformat() if found.eol else None,
        "replaced_by": list(found.replaced_by),
    }


def _dockerfile(root: Path, result: records.TargetResult) -> dict[str, Any] | None:
    """The rendered Dockerfile the run built from, its source files, and whether it is still the one built."""
    path = Path(result.dockerfile)
    try:
        data = (path if path.is_absolute() else root / path).read_bytes()
    except OSError:
        return None
    text = data.decode("utf-8", errors="replace")
    return {
        "path": result.dockerfile,
        "text": text,
        "sources": list(rendered.sources(text)),
        "as_built": hashlib.sha256(data).hexdigest() == result.dockerfile_sha256,
    }


def _packages(sbom: str | None) -> list[dict[str, str]] | None:
    """Every component of a CycloneDX SBOM (name, version, type from its purl), by name; None: unreadable."""
    if not sbom:
        return None
    try:
        document = json.loads(Path(sbom).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    found = []
    for component in document.get("components") or []:
        purl = str(component.get("purl") or "")
        kind = purl[4:].split("/", 1)[0] if purl.startswith("pkg:") else str(component.get("type") or "")
        found.append(
            {"name": str(component.get("name", "")), "version": str(component.get("version", "")), "type": kind}
        )
    return sorted(found, key=lambda c: (c["name"], c["type"], c["version"]))


def _vulnerabilities(scanned: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """Every finding of the scan report, suppressed ones included, most severe first; None: not scanned."""
    if "findings" not in scanned:
        return None
    keys = ("id", "package", "installed", "fixed", "severity", "title", "origin", "suppressed", "statement", "expires")
    found = [{k: f.get(k) for k in keys} for f in scanned["findings"]]
    rank = {severity: index for index, severity in enumerate(SEVERITY_ORDER)}
    return sorted(found, key=lambda f: (rank.get(str(f["severity"]), len(rank)), str(f["id"]), str(f["package"])))


def _history(seen: Sequence[tuple[records.BuildRecord, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Every digest published for the image, newest first, once each (at its first publication)."""
    entries: dict[str, dict[str, Any]] = {}
    for record, image in seen:
        where = image["published"]
        if not where or where["digest"] in entries:
            continue
        entries[where["digest"]] = {
            "run": record.run_id,
            "at": where["at"],
            "digest": where["digest"],
            "immutable_tag": where["immutable_tag"],
            "tags": list(where["tags"]),
            "why": _why(image),
            "sizes": {p: e["compressed_size"] for p, e in image["platforms"].items()},
            "findings": {
                p: sum(e["findings"].values()) if e["findings"] else None for p, e in image["platforms"].items()
            },
            "note": image["note"],
            "changes": _changes(image["note"]),
        }
    return sorted(entries.values(), key=lambda e: (str(e["at"]), e["digest"]), reverse=True)


def _changes(note: Mapping[str, Any] | None) -> dict[str, list[str]]:
    """Per platform, one line per change the why-rebuilt note found against the previous digest ({} for the
    tag's first image, where every package and finding is new)."""
    if not note or not note.get("previous"):
        return {}
    read = notes.from_json(note)
    changes = {}
    for platform, item in sorted(read.platforms.items()):
        lines = [f"{name} {old} \N{RIGHTWARDS ARROW} {new}" for name, (old, new) in item.packages.upgraded.items()]
        lines += [f"added {name} {version}" for name, version in item.packages.added.items()]
        lines += [f"removed {name} {version}" for name, version in item.packages.removed.items()]
        lines += [f"fixed {', '.join(item.fixed)}"] if item.fixed else []
        lines += [f"introduced {', '.join(item.introduced)}"] if item.introduced else []
        changes[platform] = lines or ["no package changed"]
    return changes


def _commands(image: Mapping[str, Any]) -> dict[str, Any] | None:
    """What a consumer runs: pull by digest, verify the signature, fetch each platform's signed SBOM."""
    where = image["published"]
    if not where:
        return None
    pinned = f"{where['repository']}@{where['digest']}"
    cosign = f"cosign verify-attestation --key {PUBLIC_KEY} --insecure-ignore-tlog --type cyclonedx"
    platforms = {}
    for platform, entry in image["platforms"].items():
        if entry["digest"]:
            manifest = f"{where['repository']}@{entry['digest']}"
            platforms[platform] = {
                "pull": f"docker pull {manifest}",
                "sbom": f"{cosign} {manifest} | jq -r .payload | base64 -d | jq .predicate",
            }
    return {
        "pull": f"docker pull {pinned}",
        "verify": f"cosign verify --key {PUBLIC_KEY} --insecure-ignore-tlog {pinned}",
        "platforms": platforms,
    }


# -- the pages -------------------------------------------------------------------------------------


def pages(doc: Mapping[str, Any], template_dir: Path) -> dict[str, str]:
    """index.html, a page per image and site.json: relative path -> text."""
    env = make_environment(template_dir)  # the one environment: .html.j2 pages are autoescaped there
    images = doc["images"]
    graph = svg.graph(
        "Which image is built FROM which",
        [svg.Node(i["target"], i["base"] if i["base"] else None, i["page"]) for i in images],
        chart_id="graph",
    )
    files = {"index.html": _render(env, "site-index.html.j2", site=doc, graph=graph, up="", **HELPERS)}
    by_id = {image["target"]: image for image in images}
    for image in images:
        charts = {"sizes": _size_charts(image, by_id, doc["official_sizes"]), "trend": _trend_charts(image)}
        files[image["page"]] = _render(
            env, "site-image.html.j2", site=doc, image=image, charts=charts, up="../", by_id=by_id, **HELPERS
        )
    files[DATA_FILE] = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    return files


def _render(env: jinja2.Environment, name: str, **context: Any) -> str:
    try:
        return env.get_template(name).render(**context)
    except jinja2.TemplateSyntaxError as exc:
        raise RenderError(f"templates/{exc.name or name}:{exc.lineno}: {exc.message}") from exc
    except jinja2.TemplateError as exc:
        raise RenderError(f"templates/{name}: {exc}") from exc


def megabytes(size: float | None) -> str:
    return "\N{EN DASH}" if size is None else f"{size / 1e6:.1f} MB"


def _size_charts(
    image: Mapping[str, Any], by_id: Mapping[str, Any], official: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """Per platform: this image, the OS base (and the parent when it is another), the official images compared."""
    charts = {}
    parent = by_id.get(image["base"] or "")
    for platform, entry in image["platforms"].items():
        if entry["compressed_size"] is None:
            continue
        rows = [svg.Bar(image["target"], entry["compressed_size"])]
        if parent is not None and parent["stack"] != "os":
            size = parent["platforms"].get(platform, {}).get("compressed_size")
            if size is not None:
                rows.append(svg.Bar(f"{parent['target']} (its parent)", size, "os"))
        if entry["os_base_size"] is not None:
            rows.append(svg.Bar("the OS base", entry["os_base_size"], "os"))
        for item in official:
            if image["target"] in item["compares_with"] and platform in item["sizes"]:
                rows.append(svg.Bar(f"{item['image']} (official)", item["sizes"][platform], "official"))
        charts[platform] = svg.bars(
            f"{image['target']} on {platform}: compressed size",
            rows,
            megabytes,
            chart_id=f"size-{platform.replace('/', '-')}",
        )
    return charts


def _trend_charts(image: Mapping[str, Any]) -> dict[str, Any]:
    """Size and unsuppressed findings per platform over the last published digests (oldest left)."""
    history = list(reversed(image["history"][:TREND_POINTS]))
    if len(history) < 2:
        return {}
    labels = [str(h["at"])[:10] for h in history]
    platforms = sorted({p for h in history for p in h["sizes"]})

    def series(key: str, scale: float) -> list[svg.Series]:
        return [
            svg.Series(p, [None if h[key].get(p) is None else h[key][p] / scale for h in history]) for p in platforms
        ]

    return {
        "size": svg.lines(
            f"{image['target']}: compressed size of the last {len(history)} published digests",
            labels,
            series("sizes", 1e6),
            lambda v: f"{v:g} MB",
            chart_id="trend-size",
        ),
        "findings": svg.lines(
            f"{image['target']}: vulnerabilities (not suppressed) of the last {len(history)} published digests",
            labels,
            series("findings", 1),
            lambda v: f"{v:.0f}",
            chart_id="trend-findings",
            whole=True,
        ),
    }


HELPERS = {"mb": megabytes, "severities": SEVERITY_ORDER}


# -- writing ---------------------------------------------------------------------------------------


def write(doc: Mapping[str, Any], out: Path, template_dir: Path, public_key: Path | None = None) -> Path:
    """Render every page and replace `out` with them at once; `out` (absolute).

    A directory that is there already is replaced only when it is a site this
    module wrote (its site.json): `--out` naming anything else is refused.
    """
    out = out.absolute()
    files: dict[str, str | bytes] = dict(pages(doc, template_dir))
    if public_key is not None:
        try:
            files[PUBLIC_KEY] = public_key.read_bytes()
        except OSError as exc:
            raise EnvironmentProblem(f"cannot read the public key {public_key}: {exc.strerror}") from exc
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with rendered.locked(out.parent):
            _refuse_foreign(out)
            rendered.replace_tree(out, files)
    except OSError as exc:
        raise EnvironmentProblem(
            f"cannot write the site to {out}: {exc.strerror or exc} ({exc.filename or out}); it is left as it was"
        ) from exc
    return out


def _refuse_foreign(out: Path) -> None:
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise UsageProblem(f"{out} is not a directory: choose another --out")
    if out.is_dir() and any(out.iterdir()) and not (out / DATA_FILE).is_file():
        raise UsageProblem(
            f"{out} holds files but no {DATA_FILE}: not a site `factory site` wrote, so it is not replaced;"
            " choose another --out or empty it"
        )
