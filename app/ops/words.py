"""The identity graph's evidence links in the inbox's words (app/inbox/explain.py).

An evidence edge keeps its match weight in bits and the parts that add up to it; the ops pages show
the same strength word, bar and sentence a manager reads under "Why is this one person?", naming
the two channels, so a number on the ops pages never has to be read as a score. The weights in bits
stay on the command line (`stitch graph explain`), where they add up part by part.
"""

from __future__ import annotations

from html import escape

import networkx as nx

from app.inbox.explain import Bands, End, Line, Strength, explain_link
from core.values import Channel, Provenance

# Strengths drawn green on the graph: what merges on its own, or what is sure whatever its weight.
MERGING = frozenset({Strength.CERTAIN, Strength.CONFIRMED, Strength.STRONG})
GREEN = "#1f7a3a"
AMBER = "#b7791f"
GREY = "#8a8f9c"

# The bar beside a strength, coloured as the inbox draws it (inbox.css), for the ops pages' style sheet.
STRENGTH_CSS = (
    ".strength{display:inline-flex;align-items:center;gap:4px;font-size:.85em;color:#556;white-space:nowrap}"
    ".strength .bar{display:inline-flex;gap:1px;background:none;height:auto}"
    ".strength .bar i{width:5px;height:10px;border-radius:1px;background:#d5dae3}"
    ".strength .bar i.on{background:#2f6fde}"
    ".strength.s-certain .bar i.on,.strength.s-confirmed .bar i.on{background:#1f8a4c}"
    f".strength.s-weak .bar i.on{{background:{AMBER}}}"
)


def end_of(graph: nx.Graph[str], key: str) -> End:
    """A profile node as an end of a link: its channel and how it holds each identifier."""
    held = {
        ident: Provenance(str(data.get("provenance")))
        for ident, data in graph[key].items()
        if data.get("kind") == "identifier" and data.get("provenance") in set(Provenance)
    }
    return End(key=key, channel=Channel(str(graph.nodes[key].get("channel"))), held=held)


def edge_line(graph: nx.Graph[str], a: str, b: str, bands: Bands) -> Line:
    """The evidence edge between profiles `a` and `b` as the inbox words a link."""
    parts = graph.edges[a, b].get("parts", ())
    return explain_link(tuple(parts), (end_of(graph, a), end_of(graph, b)), bands)


def colour(line: Line) -> str:
    if line.strength in MERGING:
        return GREEN
    return GREY if line.strength is Strength.UNRATED else AMBER


def strength_html(line: Line) -> str:
    """A strength as a word beside a bar of four; the match probability in the tooltip."""
    bars = "".join(f'<i class="{"on" if n < line.strength.bars else ""}"></i>' for n in range(4))
    kind = f"s-{str(line.strength).replace(' ', '-')}"
    title = escape(line.as_dict()["likelihood"])
    return (
        f'<span class="strength {kind}" title="{title}"><span class="bar">{bars}</span>{escape(line.strength)}</span>'
    )
