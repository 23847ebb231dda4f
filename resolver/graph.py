"""The identity graph of a person, as networkx draws and explains it.

Nodes are profiles ("telegram:5651074222") and identifiers ("phone:+79123456789"); edges are
"has" links (profile -> identifier) and evidence links (profile -- profile, with score and rules).
The graph is built from the store on demand: no process holds it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx

from core.errors import NotFound
from core.records import Evidence
from store.base import BaseStore


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """One hop on the path of evidence between two profiles."""

    a: str
    b: str
    kind: str  # "identifier" or "evidence"
    detail: str
    score: float  # an evidence link's match weight in bits: its parts' scores summed
    parts: tuple[Evidence, ...] = ()  # the prior and each comparison's weight, as the resolver kept them


async def person_graph(store: BaseStore, person_id: str) -> nx.Graph[str]:
    """Profiles, identifiers and evidence edges of a person (and edges to profiles outside it)."""
    root = await store.root_of(person_id)
    if await store.get_person(root) is None:
        raise NotFound("person", person_id)
    profiles = await store.profiles_of(root)
    return await profiles_graph(store, [p.key for p in profiles], person=root)


async def profiles_graph(store: BaseStore, keys: Sequence[str], *, person: str = "") -> nx.Graph[str]:
    graph: nx.Graph[str] = nx.Graph(person=person)
    profiles = await store.get_profiles(keys)
    for key, profile in profiles.items():
        graph.add_node(key, kind="profile", channel=profile.channel.value, name=profile.name, handle=profile.handle)
    identifiers = await store.identifiers_of(list(profiles))
    shared = await store.shared_among(sorted({i.key for ids in identifiers.values() for i in ids}))
    for key, idents in identifiers.items():
        for ident in idents:
            graph.add_node(ident.key, kind="identifier", shared=ident.key in shared)
            graph.add_edge(key, ident.key, kind="identifier", provenance=ident.provenance.value, score=0.0)
    for a, b, score, evidence in await store.edges_of(list(profiles)):
        if a in graph and b in graph:
            graph.add_edge(a, b, kind="evidence", score=score, evidence=_words(evidence), parts=tuple(evidence))
    return graph


def _words(evidence: Sequence[Evidence]) -> str:
    return "; ".join(e.detail for e in evidence if e.detail)


def explain_path(graph: nx.Graph[str], a: str, b: str) -> list[Step]:
    """The strongest-looking path of evidence between two profiles (fewest hops, identifiers first)."""
    if a not in graph or b not in graph:
        raise NotFound("profile", a if a not in graph else b)

    def weight(u: str, v: str, data: dict[str, object]) -> float:
        # Identifier links are exact; evidence links cost more the weaker they are.
        if data.get("kind") == "identifier":
            return 0.5
        score = float(data.get("score", 0.0))  # type: ignore[arg-type]
        return 1.0 + max(0.0, 20.0 - score) / 10.0

    try:
        path = nx.shortest_path(graph, a, b, weight=weight)
    except nx.NetworkXNoPath:
        return []
    steps = []
    for u, v in itertools.pairwise(path):
        data = graph.edges[u, v]
        if data.get("kind") == "identifier":
            ident = v if graph.nodes[v].get("kind") == "identifier" else u
            steps.append(Step(a=u, b=v, kind="identifier", detail=f"shares {ident}", score=0.0))
        else:
            parts = data.get("parts", ())
            steps.append(
                Step(
                    a=u,
                    b=v,
                    kind="evidence",
                    detail=str(data.get("evidence", "")),
                    score=float(data["score"]),
                    parts=tuple(parts) if isinstance(parts, tuple) else (),
                )
            )
    return steps
