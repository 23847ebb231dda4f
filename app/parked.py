"""Parked events: the stored events whose resolution kept raising, listed and sent back to be resolved.

`stitch events failed` and `stitch events retry`, and the retry button of the ops failures page, all
come here. A retried event is made pending again and resolved at once through `Pipeline.settle`, so
one that still fails is parked again (its attempts add up) instead of waiting unseen.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.errors import NotFound
from core.records import EventStatus

if TYPE_CHECKING:
    from app.ingest import Pipeline
    from core.config import Settings
    from store.base import BaseStore

# `retry` with no id takes every parked event: far more than an incident leaves behind.
RETRY_ALL_MAX = 100_000


@dataclass(frozen=True, slots=True, kw_only=True)
class RetrySummary:
    retried: int = 0
    resolved: int = 0
    parked: int = 0  # failed again, parked again

    def line(self) -> str:
        return f"retried {self.retried}: {self.resolved} resolved, {self.parked} parked again"


async def retry_parked(pipeline: Pipeline, event_ids: Sequence[str] = ()) -> RetrySummary:
    """Resolve these parked events again (every one when none is named).

    Raises NotFound, before anything changes, when a named event is not parked.
    """
    # The pipeline's module is imported when used: `stitch` builds this command's parser at start-up.
    from app.ingest import Outcome

    store = pipeline.store
    if event_ids:
        for event_id in event_ids:
            if await store.event_status(event_id) is not EventStatus.FAILED:
                raise NotFound("parked event", event_id)
        ids = list(dict.fromkeys(event_ids))
    else:
        ids = [p.event_id for p in await store.parked_events(RETRY_ALL_MAX)]
    retried = resolved = parked = 0
    for event_id in ids:
        async with store.atomic():
            if not await store.unpark_event(event_id):
                continue  # retried meanwhile by someone else
        retried += 1
        result = await pipeline.settle(event_id)
        if result.outcome is Outcome.PARKED:
            parked += 1
        else:
            resolved += 1
    return RetrySummary(retried=retried, resolved=resolved, parked=parked)


def add_events_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], store_option: object) -> None:
    events = sub.add_parser("events", help="events parked after their resolution kept failing")
    actions = events.add_subparsers(dest="action", required=True)
    failed = actions.add_parser("failed", help="list parked events: id, channel, received_at, attempts, reason")
    retry = actions.add_parser("retry", help="make parked events pending again and resolve them")
    retry.add_argument("ids", nargs="*", metavar="ID", help="event ids (default: every parked event)")
    for parser in (failed, retry):
        store_option(parser)  # type: ignore[operator]


async def run_events(args: argparse.Namespace, store: BaseStore, settings: Settings) -> int:
    if args.action == "failed":
        parked = await store.parked_events(RETRY_ALL_MAX)
        if not parked:
            print("no parked events")
            return 0
        print("id\tchannel\treceived_at\tattempts\treason")
        for p in parked:
            print(f"{p.event_id}\t{p.channel}\t{p.received_at.isoformat()}\t{p.attempts}\t{p.reason}")
        return 0
    from app.ingest import Pipeline

    summary = await retry_parked(Pipeline(store, settings), args.ids)
    print(summary.line())
    return 0 if summary.parked == 0 else 1
