"""Charts for the catalogue site as inline SVG: horizontal bars, lines over time, and the image graph.

Drawn here, with no library and nothing fetched: each function returns one
`<svg>` element as markup, every text in it escaped, with a `<title>` and a
`<desc>` that name what it shows (its accessible name and description), and
a `<title>` on each bar, point and box for the exact figure. Colours are
attributes, so a chart saved on its own looks the same as on the page.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

FONT = 'font-family="system-ui, sans-serif" font-size="12"'
COLOURS = {  # fill by kind of bar or line; the legend names each
    "image": "#1f6feb",
    "os": "#8c959f",
    "official": "#bf8700",
    "vulnerabilities": "#cf222e",
}
PALETTE = ("#1f6feb", "#2da44e", "#8250df", "#bf8700", "#cf222e", "#57606a")  # one per line in a chart


@dataclass(frozen=True)
class Bar:
    """One bar: its label, its value and its kind (a key of COLOURS)."""

    label: str
    value: float
    kind: str = "image"


@dataclass(frozen=True)
class Series:
    """One line of a line chart: a value per x label (None: no value there)."""

    name: str
    values: Sequence[float | None]


@dataclass(frozen=True)
class Node:
    """One box of the graph: an image, the image it is built FROM (None: none), and where the box links."""

    id: str
    parent: str | None
    href: str | None = None


def _svg(width: float, height: float, title: str, description: str, body: list[str], *, chart_id: str) -> Markup:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{width:.0f}" height="{height:.0f}"'
        f' viewBox="0 0 {width:.0f} {height:.0f}" aria-labelledby="{chart_id}-title {chart_id}-desc" {FONT}>'
        f'<title id="{chart_id}-title">{escape(title)}</title><desc id="{chart_id}-desc">{escape(description)}</desc>'
    )
    return Markup(head + "".join(body) + "</svg>")


def bars(title: str, rows: Sequence[Bar], fmt: Callable[[float], str], *, chart_id: str, width: int = 640) -> Markup:
    """Horizontal bars, one row each, scaled to the largest value, each with its figure at its end."""
    label_w, row_h, value_w = 230, 24, 90
    plot_w = width - label_w - value_w
    top = max((r.value for r in rows), default=0.0) or 1.0
    height = row_h * len(rows) + 8
    body: list[str] = []
    for index, row in enumerate(rows):
        y = 4 + index * row_h
        length = max(1.0, plot_w * row.value / top)
        figure = fmt(row.value)
        body.append(
            f'<g class="bar bar-{escape(row.kind)}"><title>{escape(row.label)}: {escape(figure)}</title>'
            + _text(label_w - 8, y + 16, _clip(row.label, 34), anchor="end")
            + f'<rect x="{label_w}" y="{y + 4}" width="{length:.1f}" height="{row_h - 8}" rx="2"'
            f' fill="{COLOURS.get(row.kind, COLOURS["image"])}"/>'
            + _text(label_w + length + 6, y + 16, figure)
            + "</g>"
        )
    description = "; ".join(f"{r.label}: {fmt(r.value)}" for r in rows)
    return _svg(width, height, title, description, body, chart_id=chart_id)


def lines(
    title: str,
    x_labels: Sequence[str],
    series: Sequence[Series],
    fmt: Callable[[float], str],
    *,
    chart_id: str,
    width: int = 640,
    height: int = 220,
    whole: bool = False,
) -> Markup:
    """A line per series over the x labels (oldest left), from zero, with a grid line per round step and a
    legend; `whole`: the values are counts (steps of at least 1)."""
    left, right, top_pad, bottom = 70, 48, 16, 58
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    values = [v for s in series for v in s.values if v is not None]
    step = _step(max(values, default=0.0) / 4, whole=whole)
    ticks = max(1, math.ceil(max(values, default=0.0) / step))
    top = step * ticks
    count = max(1, len(x_labels) - 1)

    def x(i: int) -> float:
        return left + (plot_w * i / count if len(x_labels) > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top_pad + plot_h * (1 - v / top)

    body: list[str] = []
    for tick in range(ticks + 1):
        value = step * tick
        body.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(value):.1f}" y2="{y(value):.1f}" stroke="#d0d7de"/>'
            + _text(left - 12, y(value) + 4, fmt(value), anchor="end", fill="#57606a")
        )
    for i, label in enumerate(x_labels):
        # the first and last labels end at the plot's edges, clear of the axis figures and the border
        anchor = "middle" if len(x_labels) == 1 or 0 < i < len(x_labels) - 1 else "start" if i == 0 else "end"
        body.append(_text(x(i), top_pad + plot_h + 18, label, anchor=anchor, fill="#57606a"))
    for number, line in enumerate(series):
        colour = PALETTE[number % len(PALETTE)]
        wide = 2 * (len(series) - number)  # earlier lines wider: one under another still shows at its edges
        points = [(x(i), y(v), v, x_labels[i]) for i, v in enumerate(line.values) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py, _, _ in points)
            body.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="{wide}"/>')
        body += [
            f'<circle cx="{px:.1f}" cy="{py:.1f}" r="{wide + 1.5}" fill="{colour}">'
            f"<title>{escape(line.name)}, {escape(label)}: {escape(fmt(v))}</title></circle>"
            for px, py, v, label in points
        ]
        legend_x = left + number * 160
        body.append(
            f'<rect x="{legend_x}" y="{height - 18}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{legend_x + 16}" y="{height - 8}" fill="#24292f">{escape(_clip(line.name, 22))}</text>'
        )
    description = "; ".join(
        f"{s.name}: "
        + ", ".join(f"{label} {fmt(v)}" for label, v in zip(x_labels, s.values, strict=False) if v is not None)
        for s in series
    )
    return _svg(width, height, title, description, body, chart_id=chart_id)


def graph(title: str, nodes: Sequence[Node], *, chart_id: str) -> Markup:
    """Boxes in columns by depth (an image with no parent in the graph first), an arrow from each parent.

    Children sit in their parents' order, so the arrows between two columns
    seldom cross.
    """
    box_w, box_h, col_gap, row_gap, pad = 190, 28, 70, 12, 10
    by_id = {n.id: n for n in nodes}
    depth = {n.id: _depth(n.id, by_id) for n in nodes}
    columns: dict[int, list[Node]] = {}
    placed: dict[str, tuple[float, float]] = {}
    for level in sorted(set(depth.values())):
        members = [n for n in nodes if depth[n.id] == level]
        order = {nid: i for i, nid in enumerate(placed)}
        members.sort(key=lambda n: (order.get(n.parent or "", -1), n.id))
        columns[level] = members
        for row, node in enumerate(members):
            placed[node.id] = (pad + level * (box_w + col_gap), pad + row * (box_h + row_gap))
    rows = max((len(c) for c in columns.values()), default=0)
    width = pad * 2 + len(columns) * box_w + max(0, len(columns) - 1) * col_gap
    height = pad * 2 + rows * box_h + max(0, rows - 1) * row_gap
    marker = f"{chart_id}-arrow"
    body = [
        f'<defs><marker id="{marker}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8"'
        ' orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#57606a"/></marker></defs>'
    ]
    for node in nodes:
        if node.parent in placed:
            px, py = placed[node.parent]
            cx, cy = placed[node.id]
            x1, y1, x2, y2 = px + box_w, py + box_h / 2, cx, cy + box_h / 2
            mid = (x1 + x2) / 2
            body.append(
                f'<path d="M {x1:.1f} {y1:.1f} C {mid:.1f} {y1:.1f}, {mid:.1f} {y2:.1f}, {x2 - 1:.1f} {y2:.1f}"'
                f' fill="none" stroke="#57606a" stroke-width="1.2" marker-end="url(#{marker})"/>'
            )
    for node in nodes:
        nx, ny = placed[node.id]
        parent = f", built FROM {node.parent}" if node.parent else ""
        box = (
            f'<g class="node"><title>{escape(node.id)}{escape(parent)}</title>'
            f'<rect x="{nx}" y="{ny}" width="{box_w}" height="{box_h}" rx="4" fill="#ddf4ff" stroke="#1f6feb"/>'
            f'<text x="{nx + box_w / 2}" y="{ny + 18}" text-anchor="middle" fill="#0a3069">'
            f"{escape(_clip(node.id, 28))}</text></g>"
        )
        body.append(f'<a href="{escape(node.href)}">{box}</a>' if node.href else box)
    description = "; ".join(f"{n.id} is built FROM {n.parent}" for n in nodes if n.parent) or "no image has a parent"
    return _svg(width, height, title, description, body, chart_id=chart_id)


def _depth(node_id: str, by_id: Mapping[str, Node]) -> int:
    """How many parents above this node are in the graph (a cycle, which a catalogue refuses, stops the count)."""
    seen = {node_id}
    depth, parent = 0, by_id[node_id].parent
    while parent is not None and parent in by_id and parent not in seen:
        seen.add(parent)
        depth += 1
        parent = by_id[parent].parent
    return depth


def _step(value: float, *, whole: bool) -> float:
    """A round step at or above `value`: 1, 2 or 5 times a power of ten (at least 1 for counts)."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= value)
    return max(step, 1.0) if whole else step


def _text(x: float, y: float, text: str, *, anchor: str = "start", fill: str = "#24292f") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{fill}">{escape(text)}</text>'


def _clip(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"
