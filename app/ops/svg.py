"""A person's identity graph as a server-side SVG picture (no script, prints and screenshots as is).

Profiles are circles coloured by channel, identifiers are grey rounded boxes (shared ones red and
dashed), evidence edges are thick and labelled with their strength and why, in the inbox's words
(app/ops/words.py), "has" edges are thin. The layout is networkx's spring layout with a fixed seed,
so the same graph always looks the same. An edge's label sits where it covers no node and no other
label. The picture's frame is measured around everything drawn, labels included, so none is cut at
an edge; it scales down to the page's width. Keys are named through `shown` (masked unless revealed).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from html import escape

import networkx as nx

from app.inbox.explain import Bands
from app.masking import KeyShown, as_is
from app.ops.words import colour, edge_line
from core.config import ResolverSettings

WIDTH = 960
HEIGHT = 640
MARGIN = 90
LAYOUT_SEED = 7
# Beyond this many nodes a picture stops being readable; the page lists the rest as a table.
MAX_DRAWN_NODES = 120
LABEL_CHARS = 34
# Text width estimates (font-size 12): generous, since a frame too wide costs a little air, too narrow cuts.
CHAR_W = 7.2
BOLD_CHAR_W = 7.8
PAD = 12
DEFAULT_BANDS = Bands.of(ResolverSettings())

CHANNEL_COLOURS = {
    "telegram": "#2aabee",
    "whatsapp": "#25a55f",
    "avito": "#8e44ad",
    "webform": "#e67e22",
    "max": "#2c5bff",
}


def _short(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _layout(graph: nx.Graph[str]) -> dict[str, tuple[float, float]]:
    if graph.number_of_nodes() == 0:
        return {}
    if graph.number_of_nodes() == 1:
        return {next(iter(graph.nodes)): (WIDTH / 2, HEIGHT / 2)}
    k = 1.6 / math.sqrt(graph.number_of_nodes())  # wider spacing than the default: labels need room
    raw = nx.spring_layout(graph, seed=LAYOUT_SEED, k=k, iterations=200)
    xs = [float(p[0]) for p in raw.values()]
    ys = [float(p[1]) for p in raw.values()]
    span_x = (max(xs) - min(xs)) or 1.0
    span_y = (max(ys) - min(ys)) or 1.0
    return {
        node: (
            MARGIN + (float(p[0]) - min(xs)) / span_x * (WIDTH - 2 * MARGIN),
            MARGIN / 2 + (float(p[1]) - min(ys)) / span_y * (HEIGHT - 1.5 * MARGIN),
        )
        for node, p in raw.items()
    }


# Where along its edge a label may sit (0.5 is the middle), then how far above or below that.
ALONG = (0.5, 0.4, 0.6, 0.3, 0.7)
SHIFTS = (0, 18, -18, 36, -36, 54, -54, 72, -72, 90, -90)
LINE_H = 18  # labels whose baselines are this far apart never touch


def _free_spot(
    placed: list[tuple[float, float, float]], ends: tuple[tuple[float, float], tuple[float, float]], w: float
) -> tuple[float, float]:
    """A spot for a label of width `w` on the edge between `ends` (baseline y), away from every text
    placed before it; near the middle first. Records it."""
    (x1, y1), (x2, y2) = ends
    for shift in SHIFTS:
        for t in ALONG:
            x, y = x1 + (x2 - x1) * t, y1 + (y2 - y1) * t + shift
            if all(abs(y - py) >= LINE_H or abs(x - px) >= (w + pw) / 2 for px, py, pw in placed):
                placed.append((x, y, w))
                return x, y
    x, y = (x1 + x2) / 2, (y1 + y2) / 2
    placed.append((x, y, w))
    return x, y


def _node_spots(x: float, y: float, name_w: float, key_w: float) -> list[tuple[float, float, float]]:
    """What a profile's drawing covers, as label baselines: the circle (two rows), its name, its key."""
    return [(x, y - 3, 34), (x, y + 10, 34), (x, y + 30, name_w), (x, y + 44, key_w)]


class _Frame:
    """The extent of everything drawn so far."""

    def __init__(self) -> None:
        self.left, self.top, self.right, self.bottom = math.inf, math.inf, -math.inf, -math.inf

    def cover(self, x: float, y: float, w: float, h: float) -> None:
        """A box centred on x horizontally, from y (top) down h."""
        self.left, self.right = min(self.left, x - w / 2), max(self.right, x + w / 2)
        self.top, self.bottom = min(self.top, y), max(self.bottom, y + h)

    def box(self) -> tuple[float, float, float, float]:
        if self.left > self.right:
            return 0.0, 0.0, float(WIDTH), float(HEIGHT)
        return self.left - PAD, self.top - PAD, self.right - self.left + 2 * PAD, self.bottom - self.top + 2 * PAD


def render_graph(
    graph: nx.Graph[str],
    *,
    highlight: Collection[tuple[str, str]] = (),
    bands: Bands = DEFAULT_BANDS,
    shown: KeyShown = as_is,
) -> str:
    """The graph as an SVG document; `highlight` edges (a path of evidence) are drawn on top in blue.
    `bands` word each evidence edge's strength (the resolver's thresholds: `Bands.of(settings.resolver)`);
    `shown` names each key on the picture (`app.masking.mask_key` unless the viewer may see it whole)."""
    if graph.number_of_nodes() > MAX_DRAWN_NODES:
        keep = [n for n, d in graph.nodes(data=True) if d.get("kind") == "profile"][:MAX_DRAWN_NODES]
        keep_set = set(keep) | {n for p in keep for n in graph.neighbors(p)}
        graph = graph.subgraph(list(keep_set)[:MAX_DRAWN_NODES]).copy()
    pos = _layout(graph)
    marked = {frozenset(e) for e in highlight}
    frame = _Frame()
    out: list[str] = []
    labels: list[str] = []
    placed: list[tuple[float, float, float]] = []
    # Nodes claim their room first, so no edge's label covers a profile's name.
    for node, attrs in graph.nodes(data=True):
        x, y = pos[node]
        if attrs.get("kind") == "profile":
            name = _short(str(attrs.get("name") or attrs.get("handle") or "") or "—", 24)
            placed += _node_spots(x, y, BOLD_CHAR_W * len(name), CHAR_W * len(_short(shown(node))))
        else:
            placed.append((x, y + 4, CHAR_W * len(_short(shown(node))) + 14))
    # "Has" edges first, evidence edges over them.
    pairs = sorted(graph.edges(), key=lambda e: graph.edges[e].get("kind") == "evidence")
    for u, v in pairs:
        data = graph.edges[u, v]
        (x1, y1), (x2, y2) = pos[u], pos[v]
        on_path = frozenset((u, v)) in marked
        if data.get("kind") == "evidence":
            line = edge_line(graph, u, v, bands)
            stroke, width = colour(line), 3.5
            title = f"{line.strength} ({line.as_dict()['likelihood']}): {line.text}"
            label = _short(f"{line.strength}: {line.text}", LABEL_CHARS + 6)
            w = CHAR_W * len(label) + 10
            mx, my = _free_spot(placed, ((x1, y1), (x2, y2)), w)
            frame.cover(mx, my - 12, w, 17)
            labels.append(
                f'<g class="edge-label"><title>{escape(title)}</title>'
                f'<rect x="{mx - w / 2:.1f}" y="{my - 12:.1f}" width="{w:.0f}" height="17" rx="3" fill="#fff"'
                f' fill-opacity="0.9" stroke="{stroke}" stroke-width="0.6"/>'
                f'<text x="{mx:.1f}" y="{my:.1f}" text-anchor="middle" fill="{stroke}" font-weight="600">'
                f"{escape(label)}</text></g>"
            )
        else:
            stroke, width = "#b8bcc8", 1.2
        if on_path:
            stroke, width = "#1b4fd8", width + 2.5
        dash = ' stroke-dasharray="6 4"' if data.get("kind") == "evidence" and not on_path else ""
        out.append(
            f'<line class="edge {escape(str(data.get("kind", "")))}" x1="{x1:.1f}" y1="{y1:.1f}"'
            f' x2="{x2:.1f}" y2="{y2:.1f}" stroke="{stroke}" stroke-width="{width}"{dash}/>'
        )
    for node in sorted(graph.nodes):
        attrs = graph.nodes[node]
        x, y = pos[node]
        if attrs.get("kind") == "profile":
            fill = CHANNEL_COLOURS.get(str(attrs.get("channel", "")), "#555")
            name = _short(str(attrs.get("name") or attrs.get("handle") or "") or "—", 24)
            key = shown(node)
            frame.cover(x, y - 16, 32, 32)
            frame.cover(x, y + 18, BOLD_CHAR_W * len(name), 16)
            frame.cover(x, y + 32, CHAR_W * len(_short(key)), 16)
            out.append(
                f'<g class="node profile" data-key="{escape(key)}"><title>{escape(key)} {escape(name)}</title>'
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="16" fill="{fill}" stroke="#fff" stroke-width="2"/>'
                f'<text x="{x:.1f}" y="{y + 30:.1f}" text-anchor="middle" font-weight="600">'
                f"{escape(name)}</text>"
                f'<text x="{x:.1f}" y="{y + 44:.1f}" text-anchor="middle" fill="#667">{escape(_short(key))}</text></g>'
            )
        else:
            shared = bool(attrs.get("shared"))
            stroke = "#c0392b" if shared else "#8a8f9c"
            dash = ' stroke-dasharray="4 3"' if shared else ""
            text = _short(shown(node)) + (" (shared)" if shared else "")
            w = CHAR_W * len(text) + 14
            frame.cover(x, y - 11, w, 22)
            out.append(
                f'<g class="node identifier{" shared" if shared else ""}"><title>{escape(shown(node))}</title>'
                f'<rect x="{x - w / 2:.1f}" y="{y - 11:.1f}" width="{w:.0f}" height="22" rx="6" fill="#eef0f5"'
                f' stroke="{stroke}" stroke-width="1.5"{dash}/>'
                f'<text x="{x:.1f}" y="{y + 4:.1f}" text-anchor="middle" fill="{stroke}">{escape(text)}</text></g>'
            )
    left, top, width, height = frame.box()
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{left:.0f} {top:.0f} {width:.0f} {height:.0f}"'
        f' width="{width:.0f}" height="{height:.0f}" role="img" aria-label="identity graph"'
        ' font-family="system-ui, sans-serif" font-size="12">'
        f'<rect x="{left:.0f}" y="{top:.0f}" width="{width:.0f}" height="{height:.0f}" fill="#fbfbfd" stroke="#dde"/>'
    )
    # Labels last, so they stay readable above nodes and lines.
    return head + "".join(out) + "".join(labels) + "</svg>"
