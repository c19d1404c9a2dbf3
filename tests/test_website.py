"""The catalogue site rendered from a recorded fixture run (tests/fixtures/site), checked by parsing its HTML."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from factory import pipeline, rendered, report, website
from factory import record as records
from factory.cli import main
from factory.errors import DefinitionError, EnvironmentProblem, UsageProblem
from factory.project import Project
from tests.conftest import FIXTURES, REPO
from tests.support.html import Element, parse

FIXTURE = FIXTURES / "site"
RUN_A, RUN_B = "20261102T030000Z-a1b2", "20261201T030000Z-c3d4"
DAY = dt.date(2026, 12, 7)


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[records.BuildRecord]:
    """The fixture's two runs; their paths are relative to the fixture, so the test runs from there."""
    monkeypatch.chdir(FIXTURE)
    return [records.read(FIXTURE / "builds" / run / "record.json") for run in (RUN_A, RUN_B)]


def make_document(runs: list[records.BuildRecord]) -> dict[str, Any]:
    return website.document(
        runs,
        catalogue=Project(REPO).load(),
        root=FIXTURE,
        official=website.official_sizes(REPO),
        day=DAY,
        public_key=True,
    )


@pytest.fixture
def site(runs: list[records.BuildRecord], tmp_path: Path) -> Path:
    key = tmp_path / "cosign.pub"
    key.write_text("-----BEGIN PUBLIC KEY-----\nfixture\n-----END PUBLIC KEY-----\n")
    return website.write(make_document(runs), tmp_path / "site", REPO / "templates", key)


def page(site: Path, relative: str) -> Element:
    return parse((site / relative).read_text(encoding="utf-8"))


def published(runs: list[records.BuildRecord]) -> Iterator[tuple[records.BuildRecord, records.TargetResult]]:
    for record in runs:
        for target in record.targets:
            if target.published is not None and target.published.digest == target.digest:
                yield record, target


def current(runs: list[records.BuildRecord]) -> dict[str, records.TargetResult]:
    """Each target as its last publication left it."""
    return {target.id: target for _, target in published(runs)}


# -- the index -------------------------------------------------------------------------------------


def test_the_index_lists_every_image_with_its_tags_platforms_digests_and_sizes(
    site: Path, runs: list[records.BuildRecord]
) -> None:
    index = page(site, "index.html")
    rows = {
        row.attrs["data-target"]: row
        for row in index.find("table", id="images").find_all("tr")
        if "data-target" in row.attrs
    }
    targets = current(runs)
    assert set(rows) == set(targets) == {"os:trixie", "python:3.13-runtime", "python:3.13-build", "node:20-runtime"}
    for target_id, target in targets.items():
        row = rows[target_id]
        link = row.find("a")
        assert link.text == target_id and (site / str(link.attrs["href"])).is_file()
        assert target.published is not None
        tags = [span.text for span in row.find_all("span", class_="tag")]
        assert tags == [*target.published.tags, target.published.immutable_tag]  # rolling, then immutable
        for platform, image in target.images.items():
            assert f"{platform[6:]} {image.digest[7:19]}… {image.compressed_size / 1e6:.1f} MB" in row.text
            assert row.find("code", title=image.digest)
        assert row.find("span", class_="state", title=target.published.signature).text == "signed"
    assert "3.13-20261201" in rows["python:3.13-runtime"].text  # the second run's digest, not the first
    assert "20-20261102" in rows["node:20-runtime"].text  # the second run did not publish node


def test_the_index_counts_vulnerabilities_by_severity_per_platform(site: Path, runs: list[records.BuildRecord]) -> None:
    rows = {r.attrs["data-target"]: r for r in page(site, "index.html").find_all("tr") if "data-target" in r.attrs}
    for target_id, target in current(runs).items():
        record = next(r for r, t in published(runs) if t is target)
        entries = report.scan_entries(record)
        cells = rows[target_id].find_all("td")[3].find_all("li")
        for platform, cell in zip(target.platforms, cells, strict=True):
            counts = entries[(target_id, platform)]["counts"]
            shown = {s: sum(counts.get(s, {}).values()) for s in ("CRITICAL", "HIGH", "MEDIUM", "LOW")}
            assert cell.text == (
                f"{platform[6:]} C{shown['CRITICAL']} H{shown['HIGH']} M{shown['MEDIUM']} L{shown['LOW']}"
            )
    # the suppressed MEDIUM finding is not counted; the first run's HIGH openssl finding is fixed
    assert "H0 M0 L1" in rows["python:3.13-runtime"].text


def test_the_index_says_why_each_was_rebuilt_its_end_of_life_and_a_newer_build_not_published(site: Path) -> None:
    index = page(site, "index.html")
    rows = {r.attrs["data-target"]: r for r in index.find_all("tr") if "data-target" in r.attrs}
    cells = {target: row.find_all("td") for target, row in rows.items()}
    assert cells["python:3.13-runtime"][5].text == "2026-12-01 package updates available (openssl 3.5.1-1 -> 3.5.4-1)"
    assert cells["python:3.13-build"][5].text == "2026-12-01 parent rebuilt (python:3.13-runtime)"
    node = cells["node:20-runtime"]
    assert node[5].text == "2026-11-02 never published newer build not published"
    assert "CVE-2026-4004" in str(node[5].find("span", class_="warning").attrs["title"])
    eol = node[6].find("span", class_="state")
    assert eol.text == "2026-04-30" and "warning" in str(eol.attrs["class"])  # kept past its end by an override
    assert "override" in str(eol.attrs["title"])
    python = cells["python:3.13-runtime"][6].find("span", class_="state")
    assert (python.text, python.attrs["class"]) == ("2029-10-31", "state ok")


def test_the_index_is_readable_without_javascript_and_accessible(site: Path) -> None:
    index = page(site, "index.html")
    table = index.find("table", id="images")
    assert table.find("caption").text
    assert [th.attrs.get("scope") for th in table.find("thead").find_all("th")] == ["col"] * 8
    assert all(row.find_all("th", scope="row") for row in table.find("tbody").find_all("tr"))
    box = index.find("div", id="filter")
    assert "hidden" in box.attrs  # shown by the script only: no dead control without JavaScript
    assert index.find("label").attrs["for"] == index.find("input").attrs["id"] == "filter-text"
    scripts = index.find_all("script")
    assert len(scripts) == 1 and "src" not in scripts[0].attrs  # inline, the filter only
    assert index.find("html").attrs["lang"] == "en"


def test_nothing_is_loaded_from_anywhere(site: Path) -> None:
    for path in [site / "index.html", *sorted((site / "images").glob("*.html"))]:
        html = parse(path.read_text())
        assert not [e for e in html.iter() if e.tag in ("script", "img", "iframe") and "src" in e.attrs]
        links = [str(e.attrs.get("href")) for e in html.find_all("link")]
        assert links == ["data:,"]  # the empty icon: no favicon request
        policy = html.find("meta", http_equiv="Content-Security-Policy").attrs["content"]
        assert str(policy).startswith("default-src 'none'")
        for anchor in html.find_all("a"):
            href = str(anchor.attrs["href"])
            if href.startswith("https://"):
                assert href.startswith("https://hub.docker.com/")  # a source named on the index, never loaded
            elif not href.startswith("#"):
                assert (path.parent / href.split("#")[0]).exists(), href  # relative, and there


def test_the_graph_draws_every_image_with_an_arrow_from_its_parent(site: Path) -> None:
    svg = page(site, "index.html").find("svg")
    assert svg.attrs["role"] == "img"
    title_id, desc_id = str(svg.attrs["aria-labelledby"]).split()
    assert svg.find("title", id=title_id).text == "Which image is built FROM which"
    assert svg.find("desc", id=desc_id).text == (
        "node:20-runtime is built FROM os:trixie; python:3.13-runtime is built FROM os:trixie;"
        " python:3.13-build is built FROM python:3.13-runtime"
    )
    boxes = {g.find("title").text.split(",")[0]: g for g in svg.find_all("g", class_="node")}
    assert set(boxes) == {"os:trixie", "node:20-runtime", "python:3.13-runtime", "python:3.13-build"}
    assert len(svg.find_all("path", fill="none")) == 3  # one arrow per parent
    links = {a.find("title").text.split(",")[0]: a.attrs["href"] for a in svg.find_all("a")}
    assert links["python:3.13-build"] == "images/python-3.13-build.html"


# -- an image's page -------------------------------------------------------------------------------


def test_an_image_page_has_the_commands_to_pull_verify_and_fetch_the_sbom(
    site: Path, runs: list[records.BuildRecord]
) -> None:
    target = current(runs)["python:3.13-runtime"]
    assert target.published is not None
    repository, digest = target.published.repository, target.published.digest
    commands = [pre.raw_text for pre in page(site, "images/python-3.13-runtime.html").find_all("pre", class_="command")]
    assert commands[0] == f"docker pull {repository}@{digest}"
    assert commands[1] == f"cosign verify --key cosign.pub --insecure-ignore-tlog {repository}@{digest}"
    for platform, text in zip(target.platforms, commands[2:], strict=True):
        manifest = f"{repository}@{target.images[platform].digest}"
        assert text == (
            f"docker pull {manifest}\n"
            f"cosign verify-attestation --key cosign.pub --insecure-ignore-tlog --type cyclonedx {manifest}"
            " | jq -r .payload | base64 -d | jq .predicate"
        )
    assert (site / "cosign.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")


def test_an_image_page_has_the_history_of_each_tag_with_why(site: Path, runs: list[records.BuildRecord]) -> None:
    html = page(site, "images/python-3.13-runtime.html")
    versions = [t for _, t in published(runs) if t.id == "python:3.13-runtime"]
    assert len(versions) == 2
    for tag in ("3.13", "3"):
        table = html.find("table", class_="history", data_tag=tag)
        rows = [[td.text for td in tr.find_all("td")] for tr in table.find("tbody").find_all("tr")]
        assert [r[1] for r in rows] == [v.published.immutable_tag for v in reversed(versions) if v.published]
        assert [r[2] for r in rows] == [f"{v.digest[:19]}…" for v in reversed(versions) if v.digest]
        assert [r[0] for r in rows] == ["2026-12-01", "2026-11-02"]
        assert rows[0][4] == (
            "package updates available (openssl 3.5.1-1 -> 3.5.4-1)"
            " amd64: openssl 3.5.1-1 → 3.5.4-1; fixed CVE-2026-1001"
            " arm64: openssl 3.5.1-1 → 3.5.4-1; fixed CVE-2026-1001"
        )
        assert rows[1][4] == "never published"  # a tag's first image: every package is new, none is listed
    trend = [svg for svg in html.find_all("svg") if "published digests" in svg.first("title").text]
    assert len(trend) == 2
    points = [c.find("title").text for c in trend[1].find_all("circle")]
    assert points == [
        "linux/amd64, 2026-11-02: 2",
        "linux/amd64, 2026-12-01: 1",
        "linux/arm64, 2026-11-02: 2",
        "linux/arm64, 2026-12-01: 1",
    ]


def test_an_image_page_has_every_finding_with_its_suppression(site: Path, runs: list[records.BuildRecord]) -> None:
    html = page(site, "images/python-3.13-runtime.html")
    record = runs[1]
    for platform in ("linux/amd64", "linux/arm64"):
        table = html.find("table", class_="findings", data_platform=platform)
        rows = {tr.find("th").text: [td.text for td in tr.find_all("td")] for tr in table.find("tbody").find_all("tr")}
        findings = report.scan_entries(record)[("python:3.13-runtime", platform)]["findings"]
        assert set(rows) == {f["id"] for f in findings}
        assert rows["CVE-2026-3003"] == [
            "medium", "libsqlite3-0", "3.46.1-7", "no fix yet", "the parent image",
            "suppressed (not affected): the image never opens an untrusted database; expires 2027-01-31",
        ]  # fmt: skip
        assert rows["CVE-2025-2002"][-1] == "open"
        assert table.find("caption").text == f"2 findings on {platform}, 1 of them suppressed by an exception."


def test_an_image_page_lists_the_packages_of_each_sbom(site: Path, runs: list[records.BuildRecord]) -> None:
    html = page(site, "images/python-3.13-runtime.html")
    target = runs[1].result("python:3.13-runtime")
    for platform, verdict in target.verdicts["scan"].items():
        assert verdict.sbom is not None
        components = json.loads((FIXTURE / verdict.sbom).read_text())["components"]
        table = html.find("table", class_="packages", data_platform=platform)
        rows = [(tr.find("th").text, tr.first("td").text) for tr in table.find("tbody").find_all("tr")]
        assert rows == sorted((c["name"], c["version"]) for c in components)
        assert ("openssl", "3.5.4-1") in rows and ("pip", "25.1.1") in rows


def test_an_image_page_shows_the_rendered_dockerfile_and_its_sources(site: Path) -> None:
    html = page(site, "images/python-3.13-runtime.html")
    text = (FIXTURE / "rendered/python/3.13/runtime/Dockerfile").read_text()
    section = html.find("section", aria_labelledby="dockerfile-heading")
    assert section.find("pre").raw_text == text
    assert [li.text for li in section.find("ul", class_="sources").find_all("li")] == list(rendered.sources(text))
    assert "stacks/python.yaml" in section.text
    assert not section.find_all("p", class_="notice")  # the file is the one the run built from


def test_an_image_page_compares_sizes_with_the_os_base_and_the_official_image(site: Path) -> None:
    html = page(site, "images/python-3.13-runtime.html")
    charts = [svg for svg in html.find_all("svg") if svg.first("title").text.endswith("compressed size")]
    assert [svg.first("title").text for svg in charts] == [
        "python:3.13-runtime on linux/amd64: compressed size",
        "python:3.13-runtime on linux/arm64: compressed size",
    ]
    bars = [g.find("title").text for g in charts[0].find_all("g")]
    assert bars == [
        "python:3.13-runtime: 46.4 MB",
        "the OS base: 30.1 MB",  # from the first run: the second rebuilt only python and node
        "python:3.13-slim (official): 41.7 MB",
    ]
    platforms = html.find("section", aria_labelledby="platforms-heading").find("tbody").find_all("tr")
    assert [td.text for td in platforms[0].find_all("td")][:3] == ["sha256:d5e9b07ed3ec…", "46.4 MB", "16.3 MB"]


def test_an_image_whose_newer_build_was_refused_says_so(site: Path) -> None:
    html = page(site, "images/node-20-runtime.html")
    notice = html.find("p", class_="notice")
    assert notice.text.startswith(f"A newer run, {RUN_B} (2026-12-01), built this image but did not publish it:")
    assert "CVE-2026-4004" in notice.text
    assert "node:20 reaches" in html.text or "kept until" in html.text  # its lifecycle message


# -- the data --------------------------------------------------------------------------------------


def test_site_json_is_the_report_document_extended(site: Path, runs: list[records.BuildRecord]) -> None:
    data = json.loads((site / "site.json").read_text())
    assert data == json.loads(json.dumps(make_document(runs)))
    newest = report.document(runs[1])
    assert data["schema"] == report.SCHEMA and data["run"] == newest["run"] == RUN_B
    assert set(newest) <= set(data)
    by_id = {i["target"]: i for i in data["images"]}
    for image in newest["images"]:
        assert set(image) <= set(by_id[image["target"]])  # every report key is kept
        assert set(image["platforms"]["linux/amd64"]) <= set(by_id[image["target"]]["platforms"]["linux/amd64"])
    assert data["site"] == {
        "schema": website.SCHEMA,
        "runs": [RUN_A, RUN_B],
        "lifecycle_day": "2026-12-07",
        "public_key": "cosign.pub",
    }
    assert [o["image"] for o in data["official_sizes"]][:2] == ["python:3.13-slim", "node:20-slim"]


def test_the_fixture_records_are_what_this_factory_reads(runs: list[records.BuildRecord]) -> None:
    for record in runs:
        assert record.schema == records.SCHEMA_VERSION
        for target in record.targets:
            assert (FIXTURE / target.dockerfile).is_file()
            for verdict in target.verdicts["scan"].values():
                assert verdict.report and verdict.sbom and (FIXTURE / verdict.report).is_file()
            if target.published and target.published.note:
                assert (FIXTURE / target.published.note).is_file()


def test_the_official_sizes_name_catalogue_targets_and_their_sources() -> None:
    targets = {t.id for t in Project(REPO).load().targets}
    for entry in website.official_sizes(REPO):
        assert set(entry["compares_with"]) <= targets
        assert entry["source"].startswith("https://") and entry["read"]
        assert set(entry["sizes"]) == {"linux/amd64", "linux/arm64"}


def test_an_invalid_official_sizes_file_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / website.OFFICIAL_SIZES).write_text(
        "images:\n  - image: python:3.13-slim\n    compares_with: [python:3.13-runtime]\n"
        "    sizes: {linux/amd64: big}\n    source: https://example.org/\n    read: 2026-12-07\n"
    )
    with pytest.raises(DefinitionError) as caught:
        website.official_sizes(tmp_path)
    assert str(caught.value).startswith("data/official-sizes.yaml:4: images[0].sizes.linux/amd64:")


def test_values_from_records_are_text_never_markup(runs: list[records.BuildRecord], tmp_path: Path) -> None:
    hostile = runs[1].result("python:3.13-build")
    hostile.reasons = ['definition changed: <script>alert("x")</script>']
    assert hostile.published is not None
    hostile.published.note = None  # the reasons come from the record then
    site = website.write(make_document(runs), tmp_path / "site", REPO / "templates")
    for relative in ("index.html", "images/python-3.13-build.html"):
        html = (site / relative).read_text()
        assert "<script>alert" not in html and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert not (site / "cosign.pub").exists()  # no public key at hand: none published with the pages


# -- writing ---------------------------------------------------------------------------------------


def test_the_site_replaces_its_own_tree_at_once_and_never_a_foreign_one(
    runs: list[records.BuildRecord], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = make_document(runs)
    out = tmp_path / "site"
    website.write(doc, out, REPO / "templates")
    (out / "images" / "gone.html").write_text("a page of an image no longer made")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def broken(staging: Path, output: Path) -> None:
        raise OSError(28, "No space left on device", str(output))

    monkeypatch.setattr(rendered, "_swap", broken)
    with pytest.raises(EnvironmentProblem, match=r"No space left on device.*it is left as it was"):
        website.write(doc, out, REPO / "templates")
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]  # no half-written tree beside it
    monkeypatch.undo()
    monkeypatch.chdir(FIXTURE)
    website.write(doc, out, REPO / "templates")
    assert not (out / "images" / "gone.html").exists()

    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(UsageProblem, match="not a site `factory site` wrote"):
        website.write(doc, foreign, REPO / "templates")
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]


# -- the command and the main job ------------------------------------------------------------------


def _project_with_fixture_runs(make_project: Callable[..., Path]) -> Path:
    root = make_project()
    shutil.copytree(FIXTURE / "builds", root / ".factory" / "builds")
    return root


def test_factory_site_prints_its_data_and_says_where(
    make_project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _project_with_fixture_runs(make_project)
    monkeypatch.chdir(root / ".factory")  # the fixture's paths are relative to its folder, copied here as builds/
    result = CliRunner().invoke(main, ["--root", str(root), "site", "--output", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    written = root / ".factory" / "site"
    assert data == json.loads((written / "site.json").read_text())
    assert data["site"]["runs"] == [RUN_A, RUN_B] and data["summary"]["images"] == 4
    unknown = {i["target"] for i in data["images"] if i["lifecycle"] is None}  # not in this project's catalogue
    assert unknown == {"python:3.13-runtime", "python:3.13-build", "node:20-runtime"}

    out = root / "elsewhere"
    record = root / ".factory" / "builds" / RUN_A / "record.json"
    result = CliRunner().invoke(main, ["--root", str(root), "site", "--out", str(out), "--record", str(record)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"wrote {out}/index.html and 4 image pages (4 published) from 1 run\n"
    assert json.loads((out / "site.json").read_text())["site"]["runs"] == [RUN_A]


def test_factory_site_without_a_record_is_exit_5(make_project: Callable[..., Path]) -> None:
    root = make_project()
    result = CliRunner().invoke(main, ["--root", str(root), "site", "--output", "json"])
    assert result.exit_code == 5
    assert json.loads(result.stdout)["message"].startswith("no build record under ")


def test_an_unreadable_old_record_is_left_out_and_said(
    make_project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _project_with_fixture_runs(make_project)
    (root / ".factory" / "builds" / "old").mkdir()
    (root / ".factory" / "builds" / "old" / "record.json").write_text('{"schema": 99}')
    monkeypatch.chdir(root / ".factory")
    result = CliRunner().invoke(main, ["--root", str(root), "site"])
    assert result.exit_code == 0, result.output
    assert "left out: " in result.stderr and "newer factory" in result.stderr


def _main_job_project(
    make_project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, publish: Callable[..., Any]
) -> Path:
    """A project with the fixture's runs, rendered, whose main job is faked at the seams (no engine): build
    gives the fixture's second run, verify and scan pass, publish is `publish`."""
    root = _project_with_fixture_runs(make_project)
    assert CliRunner().invoke(main, ["--root", str(root), "render", "--no-lint"]).exit_code == 0
    monkeypatch.chdir(root / ".factory")
    lint_clean = type("L", (), {"failed": lambda self, threshold: False, "findings": []})()
    monkeypatch.setattr(pipeline, "lint", lambda *a, **k: lint_clean)
    monkeypatch.setattr("factory.present.lint", lambda *a, **k: None)
    monkeypatch.setattr(
        pipeline, "build", lambda *a, **k: records.read(root / ".factory/builds" / RUN_B / "record.json")
    )
    monkeypatch.setattr(pipeline, "verify", lambda *a, **k: type("V", (), {"passed": True})())
    monkeypatch.setattr(pipeline, "scan", lambda *a, **k: type("G", (), {"passed": True})())
    monkeypatch.setattr(pipeline, "ensure_signing_key", lambda *a, **k: None)
    monkeypatch.setattr(pipeline, "publish", publish)
    return root


def _published(*_: Any, **__: Any) -> Any:
    return type("P", (), {"passed": True})()


def test_the_main_job_writes_the_site_after_the_report_and_says_where(
    make_project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _main_job_project(make_project, monkeypatch, _published)
    result = CliRunner().invoke(main, ["--root", str(root), "run"])
    assert result.exit_code == 0, result.output
    index = root / ".factory" / "site" / "index.html"
    assert f"site: {index}" in result.stderr and index.is_file()
    assert (root / ".factory" / "builds" / RUN_B / "report.json").is_file()


def test_a_site_that_fails_never_loses_the_report(
    make_project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _main_job_project(make_project, monkeypatch, _published)

    def unwritable(*_: Any, **__: Any) -> Any:
        raise EnvironmentProblem("cannot write the site to /nowhere: Read-only file system")

    monkeypatch.setattr(pipeline, "write_site", unwritable)
    result = CliRunner().invoke(main, ["--root", str(root), "run", "--output", "json"])
    assert result.exit_code == 5
    assert json.loads(result.stdout)["message"] == "cannot write the site to /nowhere: Read-only file system"
    assert (root / ".factory" / "builds" / RUN_B / "report.json").is_file()
    assert "report: " in result.stderr


def test_a_failed_stage_still_writes_the_site(
    make_project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from factory.errors import NotPublished

    def refused(*_: Any, **__: Any) -> Any:
        raise NotPublished("not published: node:20-runtime: scan failed")

    root = _main_job_project(make_project, monkeypatch, refused)
    result = CliRunner().invoke(main, ["--root", str(root), "run"])
    assert result.exit_code == 10
    assert (root / ".factory" / "site" / "images" / "node-20-runtime.html").is_file()
    assert "site: " in result.stderr


def test_text_from_the_data_is_escaped_never_markup(runs: list[records.BuildRecord], tmp_path: Path) -> None:
    """What the repository's data says (a note, a source) is shown as text: one Jinja environment escapes every
    value of an .html.j2 template, so a hostile value cannot add markup or a script to the page."""
    document = make_document(runs)
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    for item in document["official_sizes"]:
        item["note"] = hostile
    written = website.write(document, tmp_path / "site", REPO / "templates", None)
    html = "".join(p.read_text(encoding="utf-8") for p in written.rglob("*.html"))
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert '<script>alert("x")' not in html and "<img src=x" not in html
