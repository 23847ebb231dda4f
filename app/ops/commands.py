"""`stitch graph stats | explain A B | split MERGE_ID`: the ops pages' answers on the command line."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.config import Settings
    from store.base import BaseStore


def add_graph_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], store_option: object) -> None:
    graph = sub.add_parser("graph", help="see and steer the identity graph")
    actions = graph.add_subparsers(dest="action", required=True)
    stats = actions.add_parser("stats", help="persons by size, the largest, alarms, shared identifiers, review backlog")
    stats.add_argument("--top", type=int, default=10, help="how many of the largest persons to list")
    exp = actions.add_parser("explain", help="the path of evidence between two profiles or persons")
    exp.add_argument("a", help="profile key (telegram:42) or person id")
    exp.add_argument("b", help="profile key or person id")
    split = actions.add_parser("split", help="undo a merge: both sides get their profiles and leads back")
    split.add_argument("merge_id")
    split.add_argument("--actor", default="ops-cli", help="who splits (kept in the audit record)")
    for parser in (stats, exp, split):
        store_option(parser)  # type: ignore[operator]


async def run_graph(args: argparse.Namespace, store: BaseStore, settings: Settings) -> int:
    """Print the answer; the exit status is 1 for `stats` when a person is past the alarm size."""
    # Imported here, not at the top: `stitch` builds every command's parser at start-up, and these
    # pull in the web application.
    from app.inbox.index import InboxIndex
    from app.inbox.live import Broker
    from app.ingest import Pipeline
    from app.ops.reports import explain
    from resolver.model import probability
    from resolver.scoring import explain_parts, percent

    if args.action == "stats":
        return await _stats(store, settings, args.top)
    if args.action == "explain":
        found = await explain(store, args.a, args.b)
        if not found.connected:
            print(f"no path of evidence joins {args.a} and {args.b}")
            return 1
        print(f"{found.a_key} (person {found.a.person_id}) -> {found.b_key} (person {found.b.person_id})")
        for n, step in enumerate(found.steps, 1):
            if step.kind == "identifier":
                print(f"  {n}. {step.a} -> {step.b}: {step.detail}")
                continue
            print(f"  {n}. {step.a} -> {step.b}: match probability {percent(probability(step.score))}")
            for line in explain_parts(step.parts, step.score):
                print(f"       {line}")
        return 0
    pipeline = Pipeline(store, settings)  # its merger carries the lead book: leads are split too
    async with store.atomic():
        record = await pipeline.merger.split(args.merge_id, actor=args.actor, at=datetime.now(UTC))
        # Rows exist once the inbox has run; before that its first start builds them all.
        if await store.inbox_row_count():
            await InboxIndex(store, Broker()).split(record)
    print(f"split {args.merge_id} ({record.merge_id}): {record.from_} is separate from {record.into} again")
    return 0


async def _stats(store: BaseStore, settings: Settings, top: int) -> int:
    from app.ops.reports import review_backlog, shared_report, size_report

    counts = await store.counts()
    sizes = await size_report(store, settings, limit=top)
    backlog = await review_backlog(store, limit=0)
    shared = await shared_report(store)
    print(f"persons {counts.get('persons', 0)}, profiles {counts.get('profiles', 0)}, merges {counts.get('merges', 0)}")
    print(
        f"review queue: {backlog.pending} pending"
        + (f", oldest {backlog.oldest:%Y-%m-%d %H:%M}" if backlog.oldest else "")
    )
    print(f"shared identifiers: {len(shared)}")
    print("person sizes (profiles: persons):")
    for size, n in sizes.histogram.items():
        print(f"  {size:>4}: {n}{'  ALARM' if size > sizes.alarm_size else ''}")
    print(f"largest persons (alarm above {sizes.alarm_size} profiles):")
    for p in sizes.largest:
        print(f"  {p.person_id}  {p.profiles:>4}  {p.display_name}{'  ALARM' if p.alarmed else ''}")
    if sizes.alarmed:
        print(f"ALARM: {len(sizes.alarmed)} person(s) larger than {sizes.alarm_size} profiles")
        return 1
    return 0
