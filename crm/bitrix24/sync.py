"""The Bitrix24 sink: Stitch's persons, leads, messages and merges pushed to the user's portal.

Three parts, one concept each::

    Bitrix24Sink    enqueue side: store-only, runs inside the unit of work of the Stitch change
                    (ingest effect, merge listener, outbox hook, conversion hook)
    Bitrix24Pusher  does one job against the portal, idempotently (mapping, ORIGIN_ID, findbycomm)
    PushWorker      drains the durable queue in the background: leases, backoff, attempts, failure

Durability. A job is a row in Stitch's store written in the same transaction as its cause, so a
push is never promised for a change that rolled back and never forgotten for one that committed.
The worker leases due jobs (a crashed worker's lease runs out and the job comes back), and on an
outage or throttling it puts the job back with exponential backoff: outages never fail a job, they
only delay it. A job the portal itself refuses (a 400) is retried `max_attempts` times, then marked
failed and listed by `stitch bitrix24 jobs`.

Idempotency. Jobs are convergent: "make this person's contact exist and carry these identifiers",
not "create a contact". Every entity Stitch creates carries ORIGINATOR_ID="stitch" and
ORIGIN_ID=<Stitch id>, and the mapping (Stitch id -> CRM id) lives in Stitch's store. Before
creating, the pusher asks the mapping, then the portal by ORIGIN_ID (an add whose answer was lost
did happen), then, for contacts, crm.duplicate.findbycomm by phone and e-mail (a customer the
business already had). Only then does it add. Two processes pushing the same person or lead at
once (web processes and workers on one Redis store) can both find nothing and both add: so after
each add the pusher reads the portal by ORIGIN_ID again, keeps the copy with the lowest ID, deletes
the others and records the kept one; every racer keeps the same copy without talking to the others.
Multifield updates only ever add values.
Timeline comments and to-dos cannot be looked up afterwards, so a lost answer to one of those
(never an outage or a refusal, which are known not to have run) may repeat that one comment.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from core.errors import ConfigError, StitchError, WriteConflict
from core.records import CrmJob, CrmJobStatus, Lead, MergeRecord, OutboxItem, Profile, StoredMessage
from core.values import Channel, IdKind, Message
from crm.bitrix24.client import URL_KEY, Bitrix24Client, CheckResult, CommType, CrmMode, Entity
from crm.bitrix24.errors import Bitrix24AuthError, Bitrix24Error, Bitrix24NotFound
from store.base import BaseStore

log = logging.getLogger("stitch.crm.bitrix24.sync")

ORIGINATOR = "stitch"  # ORIGINATOR_ID on everything Stitch creates; ORIGIN_ID is the Stitch id
CONTACT_TYPE_ID, LEAD_TYPE_ID, DEAL_TYPE_ID = 3, 1, 2  # crm.entity.mergeBatch / todo owner types
LEASE = timedelta(seconds=60)  # a claimed job comes back to the queue if its worker dies
CLAIM_BATCH = 20
BACKOFF_BASE = timedelta(seconds=2)
BACKOFF_MAX = timedelta(minutes=10)
STOP_GRACE_S = 10.0
POLL_S = 5.0  # the worker also wakes when a job is enqueued; polling catches other processes' jobs
COMMENT_LIMIT = 4000  # long messages are cut; the full text stays in Stitch's timeline

# The lead's SOURCE_ID names the channel; custom ones are created at connect time if missing.
SOURCES: Mapping[Channel, tuple[str, str]] = {
    Channel.TELEGRAM: ("STITCH_TELEGRAM", "Telegram (Stitch)"),
    Channel.WHATSAPP: ("STITCH_WHATSAPP", "WhatsApp (Stitch)"),
    Channel.AVITO: ("STITCH_AVITO", "Avito (Stitch)"),
    Channel.WEBFORM: ("WEB", "Website"),  # Bitrix24's own "Website" source
    Channel.MAX: ("STITCH_MAX", "MAX (Stitch)"),
}
CHANNEL_NAMES: Mapping[Channel, str] = {
    Channel.TELEGRAM: "Telegram",
    Channel.WHATSAPP: "WhatsApp",
    Channel.AVITO: "Avito",
    Channel.WEBFORM: "website form",
    Channel.MAX: "MAX",
}


class JobKind(StrEnum):
    PERSON = "person"  # contact exists and carries every identifier (new person, new identifiers)
    LEAD = "lead"  # the lead (or, in simple mode, the deal) exists, linked to the contact
    COMMENT = "comment"  # a timeline comment on the lead: an inbound message or a manager's reply
    TODO = "todo"  # the first-response deadline of a new lead
    MERGE = "merge"  # two persons became one: merge their contacts
    SPLIT = "split"  # a merge was undone: the split-off side gets its own contact
    COMPANY = "company"  # conversion of a legal entity: a company linked to the contact
    DEAL = "deal"  # conversion: a deal linked to the contact


def _now() -> datetime:
    return datetime.now(UTC)


async def connect_portal(client: Bitrix24Client) -> CheckResult:
    """Check the webhook, learn the CRM mode and create the channel sources that are missing.

    A refused webhook or a missing `crm` scope raises ConfigError naming the variable (never the
    code); an unreachable portal raises Bitrix24Error (the caller decides whether to wait).
    """
    try:
        check = await client.check()
    except Bitrix24AuthError as e:
        raise ConfigError(URL_KEY, f"Bitrix24 portal {client.portal} refused the webhook: {e.reason}") from e
    if not check.ok:
        raise ConfigError(
            URL_KEY,
            f"the webhook on {check.portal} lacks the scope(s) {', '.join(check.missing)}; "
            "grant them in the incoming webhook's settings",
        )
    have = {str(row.get("STATUS_ID")) for row in await client.status_list("SOURCE")}
    for status_id, name in SOURCES.values():
        if status_id not in have:
            await client.status_add("SOURCE", status_id, name)
            have.add(status_id)
    log.info("bitrix24 connected", extra={"portal": check.portal, "mode": check.mode})
    return check


# -- enqueue side ------------------------------------------------------------------------------


class Bitrix24Sink:
    """Turns Stitch changes into queued push jobs. Store writes only: call inside the unit of work.

    A MergeListener of the resolver's merger; `message_ingested` is the ingest pipeline's effect,
    `reply_sent` the outbox's hook and `converted` the conversion hook.
    """

    def __init__(
        self,
        store: BaseStore,
        *,
        first_response: timedelta = timedelta(minutes=15),
        clock: Callable[[], datetime] = _now,
        wake: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.first_response = first_response
        self.clock = clock
        self._wake = wake or (lambda: None)

    async def _add(self, job_id: str, kind: JobKind, subject: str, payload: Mapping[str, str] | None = None) -> bool:
        now = self.clock()
        job = CrmJob(job_id=job_id, kind=kind.value, subject=subject, created_at=now, due_at=now, payload=payload or {})
        added = await self.store.add_crm_job(job)
        if added:
            self._wake()
        return added

    async def message_ingested(
        self, *, person_id: str, lead_id: str, message: Message, new_person: bool, merged: bool
    ) -> None:
        """An inbound message was resolved to a person and a lead."""
        event = message.event_id
        if new_person or merged or message.identifiers:
            # Identity changed or the message brought identifiers: the contact must carry them.
            await self._add(f"person:{person_id}:{event}", JobKind.PERSON, person_id)
        if await self._add(f"lead:{lead_id}", JobKind.LEAD, lead_id):
            # First message of a new lead: the manager gets a deadline to answer.
            deadline = message.received_at + self.first_response
            await self._add(
                f"todo:{lead_id}",
                JobKind.TODO,
                lead_id,
                {"deadline": deadline.astimezone(UTC).isoformat(timespec="seconds")},
            )
        if message.text.strip():
            header = f"{CHANNEL_NAMES.get(message.channel, str(message.channel))} · {message.name or 'customer'}"
            await self._add(f"comment:{event}", JobKind.COMMENT, lead_id, {"text": f"{header}:\n{message.text}"})

    async def reply_sent(self, item: OutboxItem, message: StoredMessage) -> None:
        """A manager's reply went out; it is mirrored on the lead's timeline."""
        who = item.actor or "manager"
        text = f"Reply by {who} on {CHANNEL_NAMES.get(item.channel, str(item.channel))}:\n{item.text}"
        payload = {"text": text, "person_id": item.person_id}
        await self._add(f"comment:{message.event_id}", JobKind.COMMENT, message.lead_id, payload)

    async def merged(self, record: MergeRecord) -> None:
        payload = {"into": record.into, "from": record.from_}
        await self._add(f"merge:{record.merge_id}", JobKind.MERGE, record.merge_id, payload)

    async def split(self, record: MergeRecord, undone: MergeRecord) -> None:
        payload = {"into": record.into, "from": record.from_, "undoes": undone.merge_id}
        await self._add(f"split:{record.merge_id}", JobKind.SPLIT, record.merge_id, payload)

    async def converted(
        self,
        person_id: str,
        *,
        deal_id: str = "",
        lead_id: str = "",
        title: str = "",
        company_title: str = "",
        repeat: bool = False,
    ) -> None:
        """Conversion hook (inbox): a company for a legal entity and/or a deal, both on the person's contact."""
        if company_title:
            await self._add(f"company:{person_id}", JobKind.COMPANY, person_id, {"title": company_title})
        if deal_id:
            payload = {"person_id": person_id, "lead_id": lead_id, "title": title, "repeat": "Y" if repeat else "N"}
            await self._add(f"deal:{deal_id}", JobKind.DEAL, deal_id, payload)

    async def resync(self, person_ids: Sequence[str], lead_ids: Sequence[str], tag: str) -> int:
        """Queue a person and a lead job for each id again (`stitch bitrix24 sync`); returns how many."""
        added = 0
        for pid in person_ids:
            added += await self._add(f"person:{pid}:sync-{tag}", JobKind.PERSON, pid)
        for lid in lead_ids:
            added += await self._add(f"lead:{lid}:sync-{tag}", JobKind.LEAD, lid)
        return added


# -- push side ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Multi:
    """One multifield value: PHONE/MOBILE, EMAIL/WORK, IM/TELEGRAM, IM/OTHER."""

    type_id: str
    value_type: str
    value: str

    @property
    def norm(self) -> str:
        return _norm(self.type_id, self.value)


@dataclass(frozen=True, slots=True, kw_only=True)
class PersonView:
    """What the store says about a person at push time (read inside a unit, pushed outside it)."""

    root: str
    display_name: str
    first_channel: Channel | None
    multis: tuple[Multi, ...]
    phones: tuple[str, ...]  # not shared: safe for duplicate search
    emails: tuple[str, ...]


class JobDone(StrEnum):
    DONE = "done"
    REVIEW = "review"


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    status: JobDone = JobDone.DONE
    note: str = ""


class Bitrix24Pusher:
    """Performs one job against the portal. Reads the store in short units; never holds one over HTTP."""

    def __init__(self, store: BaseStore, client: Bitrix24Client) -> None:
        self.store = store
        self.client = client
        self.mode: CrmMode | None = None

    # -- connecting ----------------------------------------------------------------------------

    async def connect(self) -> CheckResult:
        """Check the webhook and learn the CRM mode (see `connect_portal`)."""
        check = await connect_portal(self.client)
        self.mode = check.mode
        return check

    @property
    def lead_entity(self) -> Entity:
        # Simple CRM mode has no leads: every inquiry is a deal.
        return "deal" if self.mode == "simple" else "lead"

    async def run(self, job: CrmJob) -> Outcome:
        if self.mode is None:
            await self.connect()
        kind = JobKind(job.kind)
        if kind is JobKind.PERSON:
            await self.push_person(job.subject)
        elif kind is JobKind.LEAD:
            await self.push_lead(job.subject)
        elif kind is JobKind.COMMENT:
            await self._comment(job)
        elif kind is JobKind.TODO:
            await self._todo(job)
        elif kind is JobKind.MERGE:
            return await self._merge(job)
        elif kind is JobKind.SPLIT:
            await self._split(job)
        elif kind is JobKind.COMPANY:
            await self._company(job)
        elif kind is JobKind.DEAL:
            await self._deal(job)
        return Outcome()

    # -- persons and contacts ------------------------------------------------------------------

    async def view(self, person_id: str) -> PersonView:
        async with self.store.atomic():
            root = await self.store.root_of(person_id)
            person = await self.store.get_person(root)
            profiles = await self.store.profiles_of(root)
            idents = await self.store.identifiers_of([p.key for p in profiles])
            keys = sorted({i.key for found in idents.values() for i in found})
            shared = await self.store.shared_among(keys)
        return _person_view(root, person.display_name if person else "", profiles, idents, shared)

    async def push_person(self, person_id: str) -> int:
        """The person's contact exists and carries every identifier; returns the contact ID."""
        view = await self.view(person_id)
        contact_id = await self.ensure_contact(view)
        try:
            await self._add_missing(contact_id, view.multis)
        except Bitrix24NotFound:
            # Deleted or merged away in Bitrix24 meanwhile: forget it and find or create again.
            await self._unlink("contact", view.root)
            contact_id = await self.ensure_contact(view)
            await self._add_missing(contact_id, view.multis)
        return contact_id

    async def ensure_contact(self, view: PersonView, *, search: bool = True) -> int:
        """Mapping, then ORIGIN_ID (a lost answer), then findbycomm (a known customer), then add."""
        found = await self.store.crm_link("contact", view.root)
        if found is not None:
            return found
        found = await self._by_origin("contact", view.root)
        if found is None and search:
            found = await self._by_comm(view)
        if found is None:
            first, last = _split_name(view.display_name)
            fields: dict[str, Any] = {
                "NAME": first,
                "LAST_NAME": last,
                "OPENED": "Y",
                "ORIGINATOR_ID": ORIGINATOR,
                "ORIGIN_ID": view.root,
                **_multifields(view.multis),
            }
            if view.first_channel is not None:
                fields["SOURCE_ID"] = SOURCES[view.first_channel][0]
            created = await self.client.add("contact", fields)
            log.info("bitrix24 contact created", extra={"person_id": view.root, "contact_id": created})
            found = await self._keep_one("contact", view.root, created)
        await self._link("contact", view.root, found)
        return found

    async def _by_origin(self, entity: str, stitch_id: str) -> int | None:
        ids = await self._copies(entity, stitch_id)
        return ids[0] if ids else None

    async def _copies(self, entity: str, stitch_id: str) -> list[int]:
        """IDs of the entities Stitch made for `stitch_id` (ORIGIN_ID), lowest first."""
        rows = await self.client.call(
            f"crm.{entity}.list",
            {
                "filter": {"ORIGINATOR_ID": ORIGINATOR, "ORIGIN_ID": stitch_id},
                "select": ["ID"],
                "order": {"ID": "ASC"},
                "start": -1,
            },
        )
        return sorted(int(r["ID"]) for r in rows or [] if isinstance(r, Mapping))

    async def _keep_one(self, entity: Entity, stitch_id: str, created: int) -> int:
        """After an add: keep the lowest-ID copy of `stitch_id`'s entity, delete the others; returns the kept ID.

        Another process may have added its own copy at the same time. Bitrix24 hands out IDs in
        ascending order, so whichever racer reads last sees every copy, and all of them keep the same one.
        """
        copies = sorted({*await self._copies(entity, stitch_id), created})
        keep, *extra = copies
        for ident in extra:
            with contextlib.suppress(Bitrix24NotFound):  # the other racer deleted it first
                await self.client.delete(entity, ident)
            log.info(
                "bitrix24 duplicate deleted",
                extra={"entity": entity, "stitch_id": stitch_id, "deleted": ident, "kept": keep},
            )
        return keep

    async def _by_comm(self, view: PersonView) -> int | None:
        searches: tuple[tuple[CommType, tuple[str, ...]], ...] = (("PHONE", view.phones), ("EMAIL", view.emails))
        for comm, values in searches:
            if not values:
                continue
            found = await self.client.find_by_comm(comm, values, entity_type="CONTACT")
            for contact_id in found.get("CONTACT", []):
                async with self.store.atomic():
                    owner = await self.store.crm_link_owner("contact", contact_id)
                # A contact already standing for another Stitch person (a split-off side, a
                # colleague on a shared line) is not this one.
                if owner is None or owner == view.root:
                    log.info("bitrix24 contact found by duplicate search", extra={"contact_id": contact_id})
                    return contact_id
        return None

    async def _add_missing(self, contact_id: int, multis: Sequence[Multi]) -> None:
        """Add identifiers the contact lacks; items without ID add, existing values are never touched."""
        contact = await self.client.get("contact", contact_id)
        have = {
            _norm(type_id, str(item.get("VALUE", "")))
            for type_id in ("PHONE", "EMAIL", "IM")
            for item in contact.get(type_id) or []
            if isinstance(item, Mapping)
        }
        missing = [m for m in multis if m.norm not in have]
        if missing:
            await self.client.update("contact", contact_id, _multifields(missing))

    # -- leads ---------------------------------------------------------------------------------

    async def push_lead(self, lead_id: str) -> tuple[str, int]:
        """The lead (a deal in simple mode) exists and is linked to the contact; returns (entity, ID)."""
        async with self.store.atomic():
            lead = await self.store.get_lead(await self.store.lead_root(lead_id))
        if lead is None:
            raise Bitrix24NotFoundLocal(lead_id)
        entity = self.lead_entity
        found = await self.store.crm_link(entity, lead.lead_id)
        if found is not None:
            return entity, found
        found = await self._by_origin(entity, lead.lead_id)
        contact_id = await self.push_person(lead.person_id)
        created: int | None = None
        if found is None:
            created = await self._add_lead(entity, lead, contact_id)
            found = await self._keep_one(entity, lead.lead_id, created)
        if found != created and entity == "lead":
            row = await self.client.get("lead", found)
            if not str(row.get("CONTACT_ID") or "").strip("0"):
                # The add happened (a lost answer, or another process's add) but the binding did not yet.
                await self._bind_contact(found, contact_id)
        await self._link(entity, lead.lead_id, found)
        return entity, found

    async def _add_lead(self, entity: Entity, lead: Lead, contact_id: int) -> int:
        view = await self.view(lead.person_id)
        contact = await self.client.get("contact", contact_id)
        # Repeat when Stitch knew the person before, or the business did (a contact Stitch did not create).
        repeat = lead.is_repeat or contact.get("ORIGIN_ID") != view.root or contact.get("ORIGINATOR_ID") != ORIGINATOR
        channel = CHANNEL_NAMES.get(lead.channel, str(lead.channel))
        first, last = _split_name(view.display_name)
        fields: dict[str, Any] = {
            "TITLE": f"{view.display_name or 'Customer'} ({channel})",
            "SOURCE_ID": SOURCES[lead.channel][0],
            "SOURCE_DESCRIPTION": f"Stitch, {channel}",
            "ORIGINATOR_ID": ORIGINATOR,
            "ORIGIN_ID": lead.lead_id,
            "OPENED": "Y",
        }
        if entity == "deal":
            fields |= {"CONTACT_ID": contact_id, "IS_RETURN_CUSTOMER": "Y" if repeat else "N"}
            return await self.client.add("deal", fields)
        fields |= {"NAME": first, "LAST_NAME": last, "STATUS_ID": "NEW"}
        if repeat:
            # Saved with CONTACT_ID, Bitrix24 itself marks the lead a repeat lead (IS_RETURN_CUSTOMER=Y).
            return await self.client.add("lead", {**fields, "CONTACT_ID": contact_id})
        lead_ref = await self.client.add("lead", fields)
        # A first inquiry is linked without making it a repeat lead: crm.lead.contact.* leaves the flag.
        await self._bind_contact(lead_ref, contact_id)
        return lead_ref

    async def _bind_contact(self, lead_ref: int, contact_id: int) -> None:
        await self.client.call("crm.lead.contact.add", {"id": lead_ref, "fields": {"CONTACT_ID": contact_id}})

    async def _owner(self, lead_id: str, person_id: str) -> tuple[str, int]:
        """Where a comment or to-do goes: the lead (or deal), else the person's contact."""
        if lead_id:
            try:
                return await self.push_lead(lead_id)
            except Bitrix24NotFoundLocal:
                pass
        return "contact", await self.push_person(person_id)

    async def _comment(self, job: CrmJob) -> None:
        text = job.payload.get("text", "")
        if len(text) > COMMENT_LIMIT:
            text = text[: COMMENT_LIMIT - 1] + "…"
        entity, ident = await self._owner(job.subject, job.payload.get("person_id", ""))
        await self.client.timeline_comment(entity, ident, text)

    async def _todo(self, job: CrmJob) -> None:
        entity, ident = await self.push_lead(job.subject)
        owner_type = DEAL_TYPE_ID if entity == "deal" else LEAD_TYPE_ID
        await self.client.todo_add(
            owner_type,
            ident,
            job.payload["deadline"],
            "Answer the customer (Stitch)",
            "First response to a new inquiry received through Stitch.",
        )

    # -- merges and splits ---------------------------------------------------------------------

    async def _merge(self, job: CrmJob) -> Outcome:
        async with self.store.atomic():
            record = await self.store.get_merge(job.subject)
            absorbed = await self.store.crm_link("contact", job.payload["from"])
        if record is None or record.undone_by is not None:
            return Outcome(note="merge undone before it was pushed")
        survivor = await self.push_person(job.payload["into"])
        if absorbed is None or absorbed == survivor:
            # The absorbed side never had a contact of its own: its identifiers just joined the survivor's.
            await self._unlink("contact", job.payload["from"])
            return Outcome()
        result = await self.client.merge(CONTACT_TYPE_ID, [survivor, absorbed])
        if result.status == "CONFLICT":
            url = f"https://{self.client.portal}/crm/contact/merge/?id={survivor},{absorbed}"
            note = f"Bitrix24 needs a person to merge contacts {survivor} and {absorbed}: {url}"
            log.warning(
                "bitrix24 merge needs review", extra={"merge_id": job.subject, "contacts": [survivor, absorbed]}
            )
            return Outcome(status=JobDone.REVIEW, note=note)
        if not result.merged:
            raise Bitrix24Error(
                code=result.status, description="mergeBatch did not merge", status=200, method="crm.entity.mergeBatch"
            )
        await self._unlink("contact", job.payload["from"])
        await self.push_person(job.payload["into"])  # values Bitrix24 dropped in the merge come back
        return Outcome()

    async def _split(self, job: CrmJob) -> None:
        view = await self.view(job.payload["from"])
        async with self.store.atomic():
            own = await self.store.crm_link("contact", view.root)
            survivor = await self.store.crm_link("contact", await self.store.root_of(job.payload["into"]))
        if own is not None and own != survivor:
            await self._add_missing(own, view.multis)
            return
        if own is not None:
            await self._unlink("contact", view.root)
        # A new contact for the split-off side: no duplicate search, it would find the survivor's.
        contact_id = await self.ensure_contact(view, search=False)
        await self._add_missing(contact_id, view.multis)

    # -- conversion ----------------------------------------------------------------------------

    async def _company(self, job: CrmJob) -> None:
        contact_id = await self.push_person(job.subject)
        async with self.store.atomic():
            root = await self.store.root_of(job.subject)
            company = await self.store.crm_link("company", root)
        if company is None:
            company = await self._by_origin("company", root)
        if company is None:
            fields = {"TITLE": job.payload.get("title") or "Company", "ORIGINATOR_ID": ORIGINATOR, "ORIGIN_ID": root}
            company = await self._keep_one("company", root, await self.client.add("company", fields))
        await self._link("company", root, company)
        await self.client.update("contact", contact_id, {"COMPANY_ID": company})

    async def _deal(self, job: CrmJob) -> None:
        async with self.store.atomic():
            if await self.store.crm_link("deal", job.subject) is not None:
                return
        contact_id = await self.push_person(job.payload["person_id"])
        lead_id = job.payload.get("lead_id", "")
        if self.mode == "simple" and lead_id:
            # Simple mode: the inquiry already is a deal in Bitrix24; the conversion is that deal.
            _, existing = await self.push_lead(lead_id)
            await self._link("deal", job.subject, existing)
            return
        found = await self._by_origin("deal", job.subject)
        if found is None:
            fields = {
                "TITLE": job.payload.get("title") or "Deal",
                "CONTACT_ID": contact_id,
                "IS_RETURN_CUSTOMER": job.payload.get("repeat", "N"),
                "ORIGINATOR_ID": ORIGINATOR,
                "ORIGIN_ID": job.subject,
            }
            found = await self._keep_one("deal", job.subject, await self.client.add("deal", fields))
        await self._link("deal", job.subject, found)

    # -- mapping -------------------------------------------------------------------------------

    async def _link(self, entity: str, stitch_id: str, remote_id: int) -> None:
        async with self.store.atomic():
            await self.store.set_crm_link(entity, stitch_id, remote_id)

    async def _unlink(self, entity: str, stitch_id: str) -> None:
        async with self.store.atomic():
            await self.store.drop_crm_link(entity, stitch_id)


class Bitrix24NotFoundLocal(StitchError):
    """A job names a Stitch lead the store does not have (it cannot be pushed, ever)."""

    def __init__(self, lead_id: str) -> None:
        super().__init__(f"unknown lead {lead_id!r}")
        self.lead_id = lead_id


# -- the worker --------------------------------------------------------------------------------


def is_transient(err: Bitrix24Error) -> bool:
    """Outages and throttling delay a job; they never count towards failing it."""
    return err.status == 0 or err.status >= 500 or err.status == 429 or err.code.upper() == "QUERY_LIMIT_EXCEEDED"


class PushWorker:
    """Drains the push queue: claims due jobs under a lease, runs them one by one, records the outcome."""

    def __init__(
        self,
        store: BaseStore,
        pusher: Bitrix24Pusher,
        *,
        max_attempts: int = 5,
        clock: Callable[[], datetime] = _now,
        poll_s: float = POLL_S,
    ) -> None:
        self.store = store
        self.pusher = pusher
        self.max_attempts = max_attempts
        self.clock = clock
        self.poll_s = poll_s
        self.paused = ""  # why pushing stopped (the portal refused the webhook); empty when running
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        # One round at a time in this process: `drain` (tests, the demo, `sync`) runs beside the
        # background loop, and two jobs of one person pushed at once both read the contact before
        # either adds to it, so both add the same chat, phone or e-mail.
        self._round = asyncio.Lock()

    def kick(self) -> None:
        """A job was enqueued: look now instead of at the next poll."""
        self._wake.set()

    async def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="stitch-bitrix24-push")

    async def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """Let the job in flight finish (cancelling a request mid-connect can leak its socket), then stop."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), grace_s)
        except TimeoutError:
            # A job cut short stays leased and comes back when the lease runs out.
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    async def _run(self) -> None:
        while not self._stopping:
            try:
                done = await self.run_due()
            except WriteConflict:
                # Another worker claimed the same jobs first: nothing is wrong, look again now.
                continue
            except Exception:
                # The store hiccuped: jobs are still queued (or leased and coming back); try later.
                log.exception("bitrix24 push round failed")
                done = 0
            if done == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_s)
                self._wake.clear()

    async def run_due(self) -> int:
        """Run every job due now; returns how many were run. Stops early when the portal is out."""
        async with self._round:
            return await self._run_due()

    async def _run_due(self) -> int:
        ran = 0
        while True:
            async with self.store.atomic():
                jobs = await self.store.claim_crm_jobs(self.clock(), LEASE, CLAIM_BATCH)
            if not jobs:
                return ran
            for i, job in enumerate(jobs):
                if self._stopping:
                    await self._release(jobs[i:], self.clock())
                    return ran
                retry_at = await self._one(job)
                if retry_at is not None:
                    # Out or throttled: the rest of this batch waits as long (keeping its place).
                    await self._release(jobs[i + 1 :], retry_at)
                    return ran
                ran += 1

    async def drain(self, rounds: int = 1000) -> None:
        """Run until nothing is due (tests, the demo and `stitch bitrix24 sync`)."""
        for _ in range(rounds):
            if await self.run_due() == 0:
                return

    async def _one(self, job: CrmJob) -> datetime | None:
        """Run one job and store its outcome; when the portal is out or throttling, when to try again."""
        attempts = job.attempts + 1
        try:
            outcome = await self.pusher.run(job)
        except (ConfigError, Bitrix24AuthError) as e:
            # Nothing will work until the webhook is fixed: keep the job, wait long, say so once per round.
            self.paused = str(e)
            retry_at = self.clock() + BACKOFF_MAX
            await self._put(replace(job, attempts=attempts, due_at=retry_at, error=str(e)))
            log.error("bitrix24 push paused: the portal refused the webhook", extra={"job_id": job.job_id})
            return retry_at
        except Bitrix24Error as e:
            if is_transient(e):
                retry_at = self.clock() + _backoff(attempts)
                await self._put(replace(job, attempts=attempts, due_at=retry_at, error=str(e)))
                log.warning(
                    "bitrix24 push delayed",
                    extra={"job_id": job.job_id, "kind": job.kind, "attempts": attempts, "code": e.code},
                )
                return retry_at
            await self._refused(job, attempts, str(e))
            return None
        except StitchError as e:
            await self._refused(job, attempts, str(e))
            return None
        self.paused = ""
        status = CrmJobStatus.REVIEW if outcome.status is JobDone.REVIEW else CrmJobStatus.DONE
        await self._put(replace(job, status=status, attempts=attempts, error=outcome.note, due_at=self.clock()))
        return None

    async def _refused(self, job: CrmJob, attempts: int, error: str) -> None:
        if attempts >= self.max_attempts:
            await self._put(replace(job, status=CrmJobStatus.FAILED, attempts=attempts, error=error))
            log.error("bitrix24 push failed", extra={"job_id": job.job_id, "kind": job.kind, "attempts": attempts})
        else:
            await self._put(replace(job, attempts=attempts, due_at=self.clock() + _backoff(attempts), error=error))

    async def _release(self, jobs: Sequence[CrmJob], due_at: datetime) -> None:
        if not jobs:
            return
        async with self.store.atomic():
            for job in jobs:
                await self.store.put_crm_job(replace(job, due_at=due_at))

    async def _put(self, job: CrmJob) -> None:
        async with self.store.atomic():
            await self.store.put_crm_job(job)


def _backoff(attempts: int) -> timedelta:
    factor: int = 2 ** min(30, max(0, attempts - 1))
    return min(BACKOFF_MAX, BACKOFF_BASE * factor)


# -- helpers -----------------------------------------------------------------------------------


def _norm(type_id: str, value: str) -> str:
    value = value.strip()
    if type_id == "PHONE":
        return "PHONE:" + re.sub(r"\D", "", value)
    return f"{type_id}:{value.lower()}"


def _split_name(display_name: str) -> tuple[str, str]:
    parts = display_name.split(maxsplit=1)
    return (parts[0] if parts else "", parts[1] if len(parts) > 1 else "")


def _multifields(multis: Sequence[Multi]) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    for m in multis:
        # Items without ID: Bitrix24 adds them and leaves the values already there alone.
        out.setdefault(m.type_id, []).append({"VALUE": m.value, "VALUE_TYPE": m.value_type})
    return out


def _person_view(
    root: str,
    display_name: str,
    profiles: Sequence[Profile],
    idents: Mapping[str, Sequence[Any]],
    shared: set[str],
) -> PersonView:
    multis: dict[str, Multi] = {}
    phones: list[str] = []
    emails: list[str] = []

    def put(m: Multi) -> None:
        multis.setdefault(m.norm, m)

    for profile in sorted(profiles, key=lambda p: p.first_seen):
        if profile.channel is Channel.TELEGRAM:
            put(Multi(type_id="IM", value_type="TELEGRAM", value=profile.handle or profile.user_id))
        elif profile.channel is Channel.WHATSAPP:
            # No WhatsApp IM type in Bitrix24: the WhatsApp number is a mobile phone.
            put(Multi(type_id="PHONE", value_type="MOBILE", value=_e164(profile.user_id)))
        elif profile.channel is Channel.AVITO:
            put(Multi(type_id="IM", value_type="OTHER", value=f"avito:{profile.user_id}"))
        elif profile.channel is Channel.MAX:
            # Bitrix24's IM types (FACEBOOK, TELEGRAM, VK, SKYPE, VIBER, INSTAGRAM, BITRIX24, OPENLINE, IMOL,
            # ICQ, MSN, JABBER, OTHER) have none for MAX: the generic OTHER, prefixed like Avito's.
            put(Multi(type_id="IM", value_type="OTHER", value=f"max:{profile.user_id}"))
        for ident in idents.get(profile.key, []):
            if ident.kind is IdKind.PHONE:
                put(Multi(type_id="PHONE", value_type="MOBILE", value=ident.value))
                if ident.key not in shared and ident.value not in phones:
                    phones.append(ident.value)
            elif ident.kind is IdKind.EMAIL:
                put(Multi(type_id="EMAIL", value_type="WORK", value=ident.value))
                if ident.key not in shared and ident.value not in emails:
                    emails.append(ident.value)
    first = min(profiles, key=lambda p: p.first_seen).channel if profiles else None
    return PersonView(
        root=root,
        display_name=display_name,
        first_channel=first,
        multis=tuple(multis.values()),
        phones=tuple(phones),
        emails=tuple(emails),
    )


def _e164(user_id: str) -> str:
    return user_id if user_id.startswith("+") else f"+{user_id}"
