"""Wiring of the Bitrix24 push into `stitch serve` and the `stitch bitrix24` commands.

With STITCH_BITRIX24_WEBHOOK_URL set, `stitch serve` checks the webhook at start-up. A refused
webhook (wrong or deleted code) or one without the `crm` scope stops the service with one line
naming the variable: a CRM push that silently does nothing is worse than a service that says why it
will not start. A portal that is merely unreachable does not stop it: pushes wait in the queue.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import timedelta

from aiohttp import web

from app.inbox.service import InboxService
from app.ingest import IngestResult, Outcome, Pipeline
from app.keys import PIPELINE, STORE
from app.outbox import Outbox
from app.personal import CrmEraser, Found
from core.config import Settings
from core.inbox import Deal, DealKind
from core.records import CrmJobStatus
from crm.bitrix24.client import Bitrix24Client, CheckResult, Entity
from crm.bitrix24.errors import Bitrix24AuthError, Bitrix24Error, Bitrix24NotFound
from crm.bitrix24.sync import Bitrix24Pusher, Bitrix24Sink, PushWorker, connect_portal
from crm.bitrix24.throttle import LeakyBucket
from store import open_store
from store.base import BaseStore

log = logging.getLogger("stitch.bitrix24")


@dataclass(slots=True)
class Bitrix24Push:
    """The running push: the client, the enqueue side, the pusher and its worker."""

    client: Bitrix24Client
    sink: Bitrix24Sink
    pusher: Bitrix24Pusher
    worker: PushWorker

    async def close(self) -> None:
        await self.worker.stop()
        await self.client.close()


BITRIX24 = web.AppKey("bitrix24", Bitrix24Push)


def build_client(settings: Settings, url: str | None = None) -> Bitrix24Client:
    bucket = LeakyBucket(rate=settings.bitrix24_rate, burst=settings.bitrix24_burst)
    return Bitrix24Client.from_url(url or settings.bitrix24_webhook_url, bucket=bucket, max_retries=2)


def build_push(store: BaseStore, client: Bitrix24Client, settings: Settings) -> Bitrix24Push:
    pusher = Bitrix24Pusher(store, client)
    worker = PushWorker(store, pusher, max_attempts=settings.bitrix24_job_attempts)
    sink = Bitrix24Sink(store, first_response=timedelta(minutes=settings.bitrix24_first_response_min), wake=worker.kick)
    return Bitrix24Push(client=client, sink=sink, pusher=pusher, worker=worker)


def attach(
    push: Bitrix24Push, pipeline: Pipeline, outbox: Outbox | None = None, inbox: InboxService | None = None
) -> None:
    """Make Stitch's changes enqueue pushes in their own units of work."""

    async def effect(result: IngestResult) -> None:
        if result.outcome is not Outcome.INGESTED or result.message is None:
            return
        await push.sink.message_ingested(
            person_id=result.person_id,
            lead_id=result.lead_id,
            message=result.message,
            new_person=result.new_person,
            merged=bool(result.merges),
        )

    pipeline.effects.append(effect)
    pipeline.merger.listeners.append(push.sink)
    if outbox is not None:
        outbox.sent_hooks.append(push.sink.reply_sent)
    if inbox is not None:

        async def converted(deal: Deal) -> None:
            lead = await pipeline.store.get_lead(deal.lead_id)
            await push.sink.converted(
                deal.person_id,
                deal_id=deal.deal_id,
                lead_id=deal.lead_id,
                title=deal.title,
                company_title=deal.company_name if deal.kind is DealKind.CONTACT_COMPANY else "",
                repeat=bool(lead and lead.is_repeat),
            )

        inbox.conversion_hooks.append(converted)


# Erasure deletes a lead or deal before the contact and company it is bound to.
_ERASE_ORDER: tuple[Entity, ...] = ("lead", "deal", "contact", "company")


def crm_eraser(client: Bitrix24Client) -> CrmEraser:
    """Erasing a person deletes what the push mirrored: their leads, deals, contact and company.

    Deleted, not anonymised: Bitrix24 deletes a record's timeline with it, so the comments carrying
    message texts go too, and an anonymised contact would still hold the leads' history. A record
    already gone (deleted by hand, merged away by the portal) counts as done.
    """

    async def erase(found: Found) -> int:
        removed = 0
        for entity in _ERASE_ORDER:
            for kind, _, remote in found.crm_links:
                if kind != entity:
                    continue
                try:
                    await client.delete(entity, remote)
                except Bitrix24NotFound:
                    continue
                removed += 1
        return removed

    return erase


async def connect(push: Bitrix24Push) -> CheckResult | None:
    """Check the webhook; ConfigError when it is refused, None when the portal cannot be reached now."""
    try:
        return await push.pusher.connect()
    except Bitrix24AuthError:
        raise
    except Bitrix24Error as e:
        log.warning(
            "bitrix24 unreachable at start-up; pushes wait in the queue",
            extra={"portal": push.client.portal, "code": e.code, "status": e.status},
        )
        return None


def setup_bitrix24(app: web.Application, settings: Settings) -> None:
    """Start the push worker in a cleanup context when the webhook is configured (after the inbox's)."""
    if not settings.bitrix24_webhook_url:
        log.info("bitrix24 push disabled", extra={"missing": "STITCH_BITRIX24_WEBHOOK_URL"})
        return

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        from app.inbox.keys import SERVICE
        from app.webhooks import OUTBOX

        push = build_push(app[STORE], build_client(settings), settings)
        try:
            await connect(push)
        except BaseException:
            await push.client.close()
            raise
        if SERVICE in app:
            app[SERVICE].crm_eraser = crm_eraser(push.client)
        attach(push, app[PIPELINE], app.get(OUTBOX), app.get(SERVICE))
        app[BITRIX24] = push
        await push.worker.start()
        yield
        await push.close()

    app.cleanup_ctx.append(ctx)


async def check_webhook(settings: Settings) -> CheckResult:
    """The start-up check of `stitch serve` and `stitch bitrix24 check`.

    ConfigError (one line naming the variable) when the webhook is refused; Bitrix24Error when the
    portal does not answer.
    """
    async with build_client(settings) as client:
        return await connect_portal(client)


async def preflight(settings: Settings) -> None:
    """`stitch serve` before binding the port: a refused webhook stops it (ConfigError), an outage does not."""
    try:
        await check_webhook(settings)
    except Bitrix24AuthError:
        raise
    except Bitrix24Error as e:
        log.warning("bitrix24 unreachable at start-up; pushes wait in the queue", extra={"code": e.code})


async def command(action: str, settings: Settings) -> int:
    """`stitch bitrix24 check|sync|jobs`."""
    if action == "check":
        check = await check_webhook(settings)
        print(f"bitrix24: portal {check.portal} accepts the webhook; CRM mode {check.mode}")
        print(f"  scopes: {', '.join(sorted(check.scopes))}")
        if check.missing_optional:
            print(f"  optional scopes not granted: {', '.join(check.missing_optional)} (the push works without)")
        return 0
    store = open_store(settings.store_url, existing=True)  # jobs and sync read a store, never create one
    await store.open()
    try:
        if action == "jobs":
            return await _jobs(store)
        async with build_client(settings) as client:
            push = build_push(store, client, settings)
            await push.pusher.connect()
            return await _sync(store, push)
    finally:
        await store.close()


async def _sync(store: BaseStore, push: Bitrix24Push) -> int:
    persons = [p.person_id async for p in store.iter_persons() if p.merged_into is None]
    leads = [lead.lead_id async for lead in store.iter_leads() if lead.merged_into is None]
    async with store.atomic():
        # Failed pushes get another chance; everything is enqueued again under this run's tag.
        for job in await store.crm_jobs(CrmJobStatus.FAILED, limit=100_000):
            await store.put_crm_job(replace(job, status=CrmJobStatus.QUEUED, attempts=0, due_at=push.sink.clock()))
        await push.sink.resync(persons, leads, secrets.token_hex(4))
    await push.worker.drain()
    counts = await store.crm_job_counts()
    print(f"bitrix24: {len(persons)} persons and {len(leads)} leads pushed; jobs {counts}")
    return 0 if not counts.get("failed") and not counts.get("queued") else 1


async def _jobs(store: BaseStore) -> int:
    print(f"bitrix24 jobs: {await store.crm_job_counts()}")
    for status in (CrmJobStatus.REVIEW, CrmJobStatus.FAILED):
        for job in await store.crm_jobs(status):
            print(f"  {status}: {job.job_id} ({job.kind}, {job.attempts} attempts) {job.error}")
    return 0
