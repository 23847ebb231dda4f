"""`/metrics` (Prometheus text format, one registry per app), `/healthz` and `/readyz`."""

from __future__ import annotations

from dataclasses import replace

from ops_support import Running, start
from prometheus_client.parser import text_string_to_metric_families

from app.ingest import Pipeline
from app.observability import METRICS
from app.probes import PROBES
from app.webhooks import AUTH_FAILURES
from core.config import Settings
from store.sqlite import SqliteStore


async def scrape(
    running: Running, headers: dict[str, str] | None = None
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with running.session.get(running.url("/metrics"), headers=headers) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain")
        text = await r.text()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_every_metric_is_exposed(running: Running, ops_store: SqliteStore, ops_settings: Settings) -> None:
    # Events go through the app's own pipeline so its observers (the metrics) see them.
    pipeline = running.app[__import__("app.keys").keys.PIPELINE]
    assert isinstance(pipeline, Pipeline)
    from ops_support import SAMPLE

    from app.replay import replay

    await replay(pipeline, [str(SAMPLE)], progress=False)
    running.app[AUTH_FAILURES]["telegram"] += 2

    async def lag() -> float:
        return 17.0

    running.app[PROBES].queue_lag = lag
    m = await scrape(running)
    channels = {"telegram", "whatsapp", "avito", "webform"}
    for channel in channels:
        assert m[("stitch_events_ingested_total", (("channel", channel), ("outcome", "ingested")))] == 1
        assert m[("stitch_resolve_seconds_count", (("channel", channel),))] == 1
    assert m[("stitch_webhook_auth_failures_total", (("channel", "telegram"),))] == 2
    assert m[("stitch_merges_total", (("kind", "auto"),))] == 3
    assert m[("stitch_merges_total", (("kind", "manual"),))] == 0
    assert m[("stitch_merges_total", (("kind", "split"),))] == 0
    assert m[("stitch_persons", ())] == 1
    assert m[("stitch_profiles", ())] == 4
    assert ("stitch_suggestions_pending", ()) in m
    assert m[("stitch_outbox_replies", (("status", "failed"),))] == 0
    assert m[("stitch_outbox_replies", (("status", "sent"),))] == 0
    assert m[("stitch_queue_lag", ())] == 17.0
    assert m[("stitch_processor_backlog", ())] == 0
    assert m[("stitch_person_profiles_max", ())] == 4
    assert m[("stitch_persons_over_alarm", ())] == 0
    assert m[("stitch_person_alarm_size", ())] == 4

    # A split is counted from the store at the next scrape.
    merge = (await ops_store.merges(limit=1))[0]
    async with ops_store.atomic():
        await pipeline.merger.split(merge.merge_id, actor="t", at=merge.at)
    assert (await scrape(running))[("stitch_merges_total", (("kind", "split"),))] == 1


async def test_registries_are_per_app(ops_settings: Settings, ops_store: SqliteStore) -> None:
    a = await start(ops_settings, ops_store)
    b = await start(ops_settings, ops_store)
    try:
        assert a.app[METRICS].registry is not b.app[METRICS].registry
        await scrape(a)
        await scrape(b)
    finally:
        await a.stop()
        await b.stop()


async def test_metrics_token(ops_settings: Settings, ops_store: SqliteStore) -> None:
    running = await start(replace(ops_settings, metrics_token="scrape-me"), ops_store)
    try:
        async with running.session.get(running.url("/metrics")) as r:
            assert r.status == 401
        async with running.session.get(running.url("/metrics"), headers={"Authorization": "Bearer wrong"}) as r:
            assert r.status == 401
        assert ("stitch_persons", ()) in await scrape(running, {"Authorization": "Bearer scrape-me"})
    finally:
        await running.stop()


async def test_healthz_and_readyz_follow_store_and_backlog(running: Running, ops_store: SqliteStore) -> None:
    async with running.session.get(running.url("/healthz")) as r:
        assert r.status == 200 and (await r.json())["ok"] is True
    async with running.session.get(running.url("/readyz")) as r:
        body = await r.json()
        assert r.status == 200 and body["store"] and body["keeping_up"] and body["backlog"] == 0

    async def behind() -> int:
        return 5000

    running.app[PROBES].backlog = behind
    async with running.session.get(running.url("/readyz")) as r:
        body = await r.json()
        assert r.status == 503 and body["store"] and not body["keeping_up"] and body["max_backlog"] == 1000


async def test_readyz_when_the_store_is_gone(ops_settings: Settings, tmp_path: object) -> None:
    store = SqliteStore.from_url(ops_settings.store_url)
    running = await start(ops_settings, store)
    try:
        await store.close()
        async with running.session.get(running.url("/readyz")) as r:
            assert r.status == 503 and (await r.json())["store"] is False
    finally:
        await running.stop()
        await store.close()
