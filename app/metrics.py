"""Prometheus metrics: one CollectorRegistry per app (tests build many apps; the global one would clash).

Two kinds of series:
- counted in this process as things happen: events ingested per channel and outcome, resolve
  latency (both from the pipeline's observers), webhook authentication failures (the webhooks'
  counter, read at scrape time);
- read from the store at scrape time, so every worker's and every process's work is counted once:
  persons, profiles, pending suggestions, merges by kind, replies by status, person sizes. The
  store is async and prometheus-client's collectors are not, so `/metrics` first takes a snapshot
  (`Metrics.refresh`) and the collectors read it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from app.ingest import IngestResult
from app.probes import QueueLag
from core.records import EventStatus
from store.base import BaseStore

# Resolution takes milliseconds on SQLite and tens of milliseconds through Redis round trips.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Person sizes scan every profile: on a busy store, re-read them at most this often.
SIZES_EVERY_S = 60.0


@dataclass(slots=True)
class Snapshot:
    """What the store said at the last scrape."""

    counts: dict[str, int] = field(default_factory=dict)
    merges: dict[str, int] = field(default_factory=dict)
    outbox: dict[str, int] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    largest: int = 0
    over_alarm: int = 0
    queue_lag: float = 0.0
    backlog: int = 0
    sizes_at: float = float("-inf")


class _StoreCollector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        snap = self.metrics.snapshot
        for name, key, doc in (
            ("stitch_persons", "persons", "Current persons (merged-away ids not counted)"),
            ("stitch_profiles", "profiles", "Channel profiles"),
            ("stitch_suggestions_pending", "suggestions", "Suggestions waiting in the review queue"),
            ("stitch_leads", "leads", "Leads (folded ones not counted)"),
        ):
            yield GaugeMetricFamily(name, doc, value=snap.counts.get(key, 0))
        merges = CounterMetricFamily("stitch_merges", "Merge audit records by kind", labels=["kind"])
        for kind in ("auto", "manual", "split"):
            merges.add_metric([kind], snap.merges.get(kind, 0))
        yield merges
        outbox = GaugeMetricFamily("stitch_outbox_replies", "Managers' replies by status", labels=["status"])
        for status in ("queued", "sent", "delivered", "read", "failed"):
            outbox.add_metric([status], snap.outbox.get(status, 0))
        yield outbox
        events = GaugeMetricFamily("stitch_events_stored", "Stored raw events by status", labels=["status"])
        for status in sorted({s.value for s in EventStatus} | set(snap.events)):
            events.add_metric([status], snap.events.get(status, 0))
        yield events
        yield GaugeMetricFamily(
            "stitch_events_parked",
            "Events parked as failed after their resolution kept raising (stitch events retry)",
            value=snap.events.get(EventStatus.FAILED.value, 0),
        )
        yield GaugeMetricFamily("stitch_person_profiles_max", "Profiles of the largest person", value=snap.largest)
        yield GaugeMetricFamily(
            "stitch_persons_over_alarm", "Persons larger than the ops alarm size", value=snap.over_alarm
        )
        yield GaugeMetricFamily("stitch_person_alarm_size", "The ops alarm size", value=self.metrics.alarm_profiles)
        yield GaugeMetricFamily("stitch_queue_lag", "Entries waiting in the Redis ingest stream", value=snap.queue_lag)
        yield GaugeMetricFamily(
            "stitch_processor_backlog", "Accepted events this process has not resolved yet", value=snap.backlog
        )
        failures = CounterMetricFamily(
            "stitch_webhook_auth_failures", "Webhook deliveries rejected by authentication", labels=["channel"]
        )
        for channel, n in sorted(self.metrics.auth_failures().items()):
            failures.add_metric([channel], n)
        yield failures


class Metrics:
    """The app's Prometheus registry, its in-process counters and the store snapshot."""

    def __init__(self, *, alarm_profiles: int, auth_failures: Callable[[], Mapping[str, int]] = dict) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.alarm_profiles = alarm_profiles
        # Read at scrape time: the webhooks count rejections in their own Counter.
        self.auth_failures = auth_failures
        self.snapshot = Snapshot()
        self.events = Counter(
            "stitch_events_ingested",
            "Events resolved, by channel and outcome",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.resolve_seconds = Histogram(
            "stitch_resolve_seconds",
            "Time to resolve one event (locks, resolver, lead, commit)",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_StoreCollector(self))

    async def observe(self, result: IngestResult) -> None:
        """A pipeline observer: counts the event and its resolve time."""
        channel = result.channel or "unknown"
        self.events.labels(channel=channel, outcome=result.outcome.value).inc()
        if result.elapsed_s > 0:
            self.resolve_seconds.labels(channel=channel).observe(result.elapsed_s)

    async def refresh(self, store: BaseStore, *, queue_lag: QueueLag, backlog: int) -> None:
        snap = self.snapshot
        snap.counts = await store.counts()
        snap.merges = await store.merge_counts()
        snap.outbox = await store.outbox_counts()
        snap.events = await store.event_counts()
        snap.queue_lag = await queue_lag()
        snap.backlog = backlog
        now = time.monotonic()
        if now - snap.sizes_at >= SIZES_EVERY_S:
            sizes = await store.person_sizes()
            snap.largest = max(sizes, default=0)
            snap.over_alarm = sum(n for size, n in sizes.items() if size > self.alarm_profiles)
            snap.sizes_at = now

    def expose(self) -> bytes:
        return generate_latest(self.registry)


def authorized(request: web.Request, token: str) -> bool:
    """No token configured: open (like most exporters). Else `Authorization: Bearer <token>`."""
    if not token:
        return True
    header = request.headers.get("Authorization", "")
    given = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    return secrets.compare_digest(given.encode(), token.encode())


CONTENT_TYPE = CONTENT_TYPE_LATEST
