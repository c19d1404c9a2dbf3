"""The site's charts: valid SVG, accessible names, text escaped, bars to scale, lines from zero, graph by depth."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from factory import svg

NS = "{http://www.w3.org/2000/svg}"


def parsed(markup: str) -> ET.Element:
    return ET.fromstring(markup)  # well-formed XML, or this raises


def mb(value: float) -> str:
    return f"{value / 1e6:.1f} MB"


def test_bars_are_to_scale_and_name_each_figure() -> None:
    chart = parsed(
        svg.bars("sizes", [svg.Bar("image", 80e6), svg.Bar("base", 40e6, "os"), svg.Bar("x", 0)], mb, chart_id="c")
    )
    assert chart.get("role") == "img" and chart.get("aria-labelledby") == "c-title c-desc"
    assert chart.find(f"{NS}title").text == "sizes"  # type: ignore[union-attr]
    assert chart.find(f"{NS}desc").text == "image: 80.0 MB; base: 40.0 MB; x: 0.0 MB"  # type: ignore[union-attr]
    widths = [float(r.get("width", "")) for r in chart.iter(f"{NS}rect")]
    assert widths[0] == 2 * widths[1] and widths[2] == 1.0  # the largest fills the plot; none vanishes
    assert [r.get("fill") for r in chart.iter(f"{NS}rect")][:2] == [svg.COLOURS["image"], svg.COLOURS["os"]]


def test_every_text_is_escaped() -> None:
    label = '<script>alert("x")</script> & co'
    markup = svg.bars(label, [svg.Bar(label, 1)], str, chart_id="c")
    assert "<script>" not in markup
    chart = parsed(markup)
    assert chart.find(f"{NS}title").text == label  # type: ignore[union-attr]
    markup = svg.graph("g", [svg.Node("a", None, 'x.html" onload="alert(1)')], chart_id="g")
    assert parsed(markup).find(f".//{NS}a").get("href") == 'x.html" onload="alert(1)'  # type: ignore[union-attr]


def test_lines_start_at_zero_on_round_steps() -> None:
    chart = parsed(
        svg.lines(
            "trend",
            ["d1", "d2", "d3"],
            [svg.Series("amd64", [46.2, None, 46.4]), svg.Series("arm64", [45.1, 45.2, 45.3])],
            lambda v: f"{v:g} MB",
            chart_id="t",
        )
    )
    figures = [t.text for t in chart.iter(f"{NS}text") if (t.text or "").endswith("MB")]
    assert figures == ["0 MB", "20 MB", "40 MB", "60 MB"]
    points = [c.find(f"{NS}title").text for c in chart.iter(f"{NS}circle")]  # type: ignore[union-attr]
    assert points == ["amd64, d1: 46.2 MB", "amd64, d3: 46.4 MB", "arm64, d1: 45.1 MB", "arm64, d2: 45.2 MB",
                      "arm64, d3: 45.3 MB"]  # fmt: skip
    counts = parsed(svg.lines("n", ["a", "b"], [svg.Series("s", [2, 1])], str, chart_id="n", whole=True))
    assert [t.text for t in counts.iter(f"{NS}text")][:3] == ["0.0", "1.0", "2.0"]  # steps of one for counts


def test_the_graph_puts_each_image_right_of_its_parent() -> None:
    nodes = [
        svg.Node("os", None),
        svg.Node("python", "os", "p.html"),
        svg.Node("python-build", "python"),
        svg.Node("node", "os"),
        svg.Node("orphan", "not-in-the-graph"),
    ]
    chart = parsed(svg.graph("g", nodes, chart_id="g"))
    boxes = {}
    for group in chart.iter(f"{NS}g"):
        name = group.find(f"{NS}title").text.split(",")[0]  # type: ignore[union-attr]
        rect = group.find(f"{NS}rect")
        boxes[name] = (float(rect.get("x", "")), float(rect.get("y", "")))  # type: ignore[union-attr]
    assert boxes["os"][0] == boxes["orphan"][0] < boxes["python"][0] == boxes["node"][0] < boxes["python-build"][0]
    assert len([p for p in chart.iter(f"{NS}path") if p.get("marker-end")]) == 3
    assert chart.find(f"{NS}desc").text == (  # type: ignore[union-attr]
        "python is built FROM os; python-build is built FROM python; node is built FROM os;"
        " orphan is built FROM not-in-the-graph"
    )
