"""One contract suite, run over every store backend."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from core.records import (
    CrmJob,
    CrmJobStatus,
    Direction,
    EventStatus,
    Evidence,
    Lead,
    LeadStatus,
    MergeKind,
    MergeRecord,
    OutboxItem,
    OutboxStatus,
    Person,
    Profile,
    RecentHit,
    StoredMessage,
    Suggestion,
    SuggestionStatus,
)
from core.values import Channel, Envelope, Identifier, IdKind, Provenance
from store.base import BaseStore
from store.redis import RedisStore

T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


def envelope(event_id: str = "e1") -> Envelope:
    return Envelope(id=event_id, channel=Channel.TELEGRAM, received_at=T0, payload={"update_id": 1}, lookups={})


def profile(key: str, person: str) -> Profile:
    channel, _, user = key.partition(":")
    return Profile(
        key=key,
        channel=Channel(channel),
        user_id=user,
        account="bot",
        chat_id=user,
        name="Саша",
        handle="",
        person_id=person,
        first_seen=T0,
        last_seen=T0,
    )


async def test_events_are_stored_once_and_drained(store: BaseStore) -> None:
    assert await store.add_event(envelope("e1"))
    assert not await store.add_event(envelope("e1"))
    assert [e.id for e in await store.pending_events(10)] == ["e1"]
    got = await store.get_event("e1")
    assert got is not None and got.payload == {"update_id": 1} and got.received_at == T0
    await store.finish_event("e1", EventStatus.DONE)
    assert await store.pending_events(10) == []
    assert await store.event_status("e1") is EventStatus.DONE
    assert await store.event_counts() == {"done": 1}


async def test_atomic_rolls_back_everything(store: BaseStore) -> None:
    with pytest.raises(RuntimeError):
        async with store.atomic():
            await store.add_event(envelope("e1"))
            await store.add_person(Person(person_id="p1", created_at=T0, display_name="x"))
            raise RuntimeError("crash in the middle of an event")
    assert await store.get_event("e1") is None
    assert await store.get_person("p1") is None


async def test_nested_atomic_keeps_the_outer_unit(store: BaseStore) -> None:
    async with store.atomic():
        await store.add_event(envelope("e1"))
        with pytest.raises(RuntimeError):
            async with store.atomic():
                await store.add_event(envelope("e2"))
                raise RuntimeError("one bad event")
    assert await store.get_event("e1") is not None
    assert await store.get_event("e2") is None


async def test_profiles_identifiers_and_aliases(store: BaseStore) -> None:
    for pid in ("p1", "p2", "p3"):
        await store.add_person(Person(person_id=pid, created_at=T0, display_name=pid))
    await store.put_profile(profile("telegram:1", "p1"))
    await store.put_profile(profile("whatsapp:+79123456789", "p2"))
    phone = Identifier(kind=IdKind.PHONE, value="+79123456789", provenance=Provenance.CHANNEL)
    await store.link_identifier("whatsapp:+79123456789", phone)
    await store.link_identifier("whatsapp:+79123456789", phone)
    assert await store.profiles_by_identifier([phone.key]) == {phone.key: ["whatsapp:+79123456789"]}
    assert (await store.identifiers_of(["whatsapp:+79123456789"]))["whatsapp:+79123456789"] == [phone]
    await store.set_merged_into("p2", "p1")
    await store.set_merged_into("p3", "p2")
    assert await store.root_of("p3") == "p1"
    assert sorted(await store.members_of("p1")) == ["p1", "p2", "p3"]
    assert {p.key for p in await store.profiles_of("p1")} == {"telegram:1", "whatsapp:+79123456789"}
    await store.set_merged_into("p2", None)
    assert await store.root_of("p3") == "p2"
    assert [p.key for p in await store.profiles_of("p1")] == ["telegram:1"]


async def test_shared_identifiers_and_edges(store: BaseStore) -> None:
    await store.mark_shared("phone:+74951234567", "office line", T0)
    await store.mark_shared("phone:+74951234567", "again", T0)
    assert await store.shared_among(["phone:+74951234567", "phone:+7000"]) == {"phone:+74951234567"}
    assert [s[0] for s in await store.list_shared()] == ["phone:+74951234567"]
    ev = [Evidence(rule="text", detail="same question", score=8.0, values={"similarity": "97"})]
    await store.add_edge("b", "a", 13.0, ev, T0)
    edges = await store.edges_of(["a"])
    assert edges == [("a", "b", 13.0, ev)]


async def test_merges_suggestions_cannot_links(store: BaseStore) -> None:
    record = MergeRecord(
        merge_id="m1",
        at=T0,
        kind=MergeKind.AUTO,
        into="p1",
        from_="p2",
        evidence=(Evidence(rule="phone", detail="same phone", score=0.0),),
        actor="resolver",
    )
    await store.add_merge(record)
    await store.set_merge_undone("m1", "s1")
    got = await store.get_merge("m1")
    assert got is not None and got.undone_by == "s1" and got.evidence == record.evidence
    s = Suggestion(suggestion_id="g1", a="p2", b="p1", score=9.0, evidence=(), created_at=T0)
    assert await store.add_suggestion(s)
    assert not await store.add_suggestion(
        Suggestion(suggestion_id="g2", a="p1", b="p2", score=9.0, evidence=(), created_at=T0)
    )
    assert [x.suggestion_id for x in await store.suggestions_of(["p2"])] == ["g1"]
    await store.set_suggestion_status("g1", SuggestionStatus.REJECTED)
    assert await store.suggestions() == []
    await store.add_cannot_link("p2", "p1", "anna", T0)
    assert await store.cannot_links_of(["p1"]) == {"p2"}
    assert await store.cannot_links_of(["p2", "p9"]) == {"p1"}


async def test_recent_window(store: BaseStore) -> None:
    await store.add_recent(
        ["n:g:aleksandr", "t:zame"], RecentHit(profile_key="telegram:1", event_id="e1", at=T0, text="hi")
    )
    later = T0 + timedelta(minutes=40)
    await store.add_recent(["n:g:aleksandr"], RecentHit(profile_key="avito:2", event_id="e2", at=later, text="x"))
    hits = await store.recent(["n:g:aleksandr", "t:zame"], since=T0 - timedelta(minutes=1), limit=10)
    assert [h.event_id for h in hits] == ["e2", "e1"]
    assert [h.event_id for h in await store.recent(["t:zame"], since=T0 + timedelta(minutes=1), limit=10)] == []
    assert await store.prune_recent(T0 + timedelta(minutes=1)) >= 1
    assert await store.recent(["t:zame"], since=T0 - timedelta(days=1), limit=10) == []
    assert [h.event_id for h in await store.recent(["n:g:aleksandr"], T0 - timedelta(days=1), 10)] == ["e2"]
    if isinstance(store, RedisStore):
        # A block left empty leaves the index of block names too, so the sweeps do not grow for ever.
        assert await store.client.smembers(store.key("rc", "blocks")) == {"n:g:aleksandr"}


async def test_messages_and_leads(store: BaseStore) -> None:
    lead = Lead(
        lead_id="l1",
        person_id="p1",
        status=LeadStatus.NEW,
        is_repeat=False,
        created_at=T0,
        last_activity=T0,
        channel=Channel.TELEGRAM,
    )
    await store.add_lead(lead)
    await store.add_person(Person(person_id="p1", created_at=T0, display_name="x"))
    assert await store.open_lead_of("p1") == lead
    msg = StoredMessage(
        event_id="e1",
        channel=Channel.TELEGRAM,
        provider_message_id="1",
        profile_key="telegram:1",
        lead_id="l1",
        sent_at=T0,
        direction=Direction.IN,
        text="Привет",
        meta={"kind": "text"},
    )
    await store.add_message(msg)
    assert await store.message_seen("telegram", "1")
    assert await store.messages_of(["telegram:1"]) == [msg]
    await store.relead_messages(["telegram:1"], "l1", "l2")
    assert [m.lead_id async for m in store.iter_messages()] == ["l2"]
    await store.put_lead(
        Lead(
            lead_id="l0",
            person_id="p1",
            status=LeadStatus.JUNK,
            is_repeat=False,
            created_at=T0 - timedelta(days=1),
            last_activity=T0,
            channel=Channel.AVITO,
            merged_into="l1",
            merged_by="m1",
        )
    )
    assert [x.lead_id for x in await store.leads_merged_by("m1")] == ["l0"]
    assert await store.lead_root("l0") == "l1"


def outbox_item(item_id: str, person: str = "p1", *, at: datetime = T0) -> OutboxItem:
    return OutboxItem(
        id=item_id,
        person_id=person,
        profile_key="telegram:1",
        channel=Channel.TELEGRAM,
        text="Здравствуйте",
        status=OutboxStatus.QUEUED,
        created_at=at,
        updated_at=at,
        actor="manager",
    )


async def test_outbox_round_trip_and_queries(store: BaseStore) -> None:
    await store.add_outbox(outbox_item("o1", at=T0))
    await store.add_outbox(outbox_item("o2", at=T0 + timedelta(seconds=10)))
    await store.add_outbox(outbox_item("o3", "p2", at=T0 + timedelta(seconds=20)))
    assert await store.get_outbox("o1") == outbox_item("o1", at=T0)
    assert await store.get_outbox("missing") is None
    queued = await store.outbox_queued(T0 + timedelta(seconds=15), 10)
    assert [i.id for i in queued] == ["o1", "o2"]

    sent = replace(outbox_item("o1"), status=OutboxStatus.SENT, attempts=1, provider_message_id="SM1")
    await store.put_outbox(sent)
    assert await store.get_outbox("o1") == sent
    assert [i.id for i in await store.outbox_queued(T0 + timedelta(hours=1), 10)] == ["o2", "o3"]
    assert await store.outbox_by_provider_id("telegram", "SM1") == sent
    assert await store.outbox_by_provider_id("whatsapp", "SM1") is None
    assert await store.outbox_by_provider_id("telegram", "") is None
    assert [i.id for i in await store.outbox_of(["p1"])] == ["o2", "o1"]
    assert [i.id for i in await store.outbox_of(["p1", "p2"], limit=1)] == ["o3"]
    assert await store.outbox_of([]) == []


async def test_contact_asked_is_test_and_set(store: BaseStore) -> None:
    assert await store.mark_contact_asked("telegram:1", T0)
    assert not await store.mark_contact_asked("telegram:1", T0 + timedelta(days=1))
    assert await store.mark_contact_asked("telegram:2", T0)


def crm_job(job_id: str, *, due: datetime = T0, kind: str = "person") -> CrmJob:
    return CrmJob(job_id=job_id, kind=kind, subject="p1", created_at=T0, due_at=due, payload={"text": "Привет"})


async def test_crm_jobs_are_enqueued_once_and_claimed_in_order(store: BaseStore) -> None:
    assert await store.add_crm_job(crm_job("j2"))
    assert await store.add_crm_job(crm_job("j1"))
    assert await store.add_crm_job(crm_job("later", due=T0 + timedelta(minutes=5)))
    assert not await store.add_crm_job(crm_job("j1", kind="lead"))  # the same cause twice
    lease = timedelta(seconds=30)
    claimed = await store.claim_crm_jobs(T0, lease, 10)
    assert [j.job_id for j in claimed] == ["j2", "j1"]  # enqueue order, not id order
    assert claimed[1].payload == {"text": "Привет"} and claimed[1].kind == "person"
    # Leased: another worker does not get them until the lease runs out.
    assert await store.claim_crm_jobs(T0 + timedelta(seconds=1), lease, 10) == []
    again = await store.claim_crm_jobs(T0 + lease, lease, 1)
    assert [j.job_id for j in again] == ["j2"]


async def test_crm_job_outcomes_are_kept_and_counted(store: BaseStore) -> None:
    await store.add_crm_job(crm_job("j1"))
    await store.add_crm_job(crm_job("j2"))
    await store.add_crm_job(crm_job("j3"))
    j1, j2, _ = await store.claim_crm_jobs(T0, timedelta(seconds=30), 10)
    await store.put_crm_job(replace(j1, status=CrmJobStatus.DONE, attempts=1))
    await store.put_crm_job(replace(j2, status=CrmJobStatus.FAILED, attempts=5, error="400 bad field"))
    got = await store.get_crm_job("j2")
    assert got is not None and got.status is CrmJobStatus.FAILED and got.attempts == 5 and got.error == "400 bad field"
    assert [j.job_id for j in await store.crm_jobs(CrmJobStatus.FAILED)] == ["j2"]
    assert await store.crm_job_counts() == {"done": 1, "failed": 1, "queued": 1}
    # A retried job keeps its place in the queue.
    await store.put_crm_job(replace(j2, status=CrmJobStatus.QUEUED, due_at=T0))
    await store.put_crm_job(replace(j1, status=CrmJobStatus.QUEUED, due_at=T0))
    claimed = await store.claim_crm_jobs(T0 + timedelta(minutes=1), timedelta(seconds=30), 10)
    assert [j.job_id for j in claimed] == ["j1", "j2", "j3"]
    assert await store.get_crm_job("nope") is None


async def test_crm_links_map_both_ways(store: BaseStore) -> None:
    assert await store.crm_link("contact", "p1") is None
    await store.set_crm_link("contact", "p1", 17)
    await store.set_crm_link("lead", "p1", 17)
    assert await store.crm_link("contact", "p1") == 17
    assert await store.crm_link_owner("contact", 17) == "p1"
    await store.set_crm_link("contact", "p1", 18)  # replaced, not added
    assert await store.crm_link("contact", "p1") == 18
    assert await store.crm_link_owner("contact", 17) is None
    await store.drop_crm_link("contact", "p1")
    assert await store.crm_link("contact", "p1") is None
    assert await store.crm_link("lead", "p1") == 17


# -- the managers' inbox -------------------------------------------------------------------------


async def test_users_sessions_and_counters(store: BaseStore) -> None:
    from core.inbox import Role, Session, User

    user = User(name="mia", role=Role.MANAGER, password_hash="h", created_at=T0)
    assert await store.add_user(user)
    assert not await store.add_user(replace(user, role=Role.ADMIN))
    await store.put_user(replace(user, disabled=True))
    got = await store.get_user("mia")
    assert got is not None and got.disabled and got.role is Role.MANAGER
    assert [u.name for u in await store.users()] == ["mia"]
    session = Session(token_hash="t", user="mia", csrf="c", created_at=T0, expires_at=T0 + timedelta(hours=1))
    await store.add_session(session)
    assert await store.get_session("t") == session
    await store.delete_session("t")
    assert await store.get_session("t") is None
    assert [await store.next_counter("rr") for _ in range(3)] == [1, 2, 3]
    assert await store.next_counter("other") == 1


async def test_deals_and_audit(store: BaseStore) -> None:
    from core.inbox import AuditEntry, Deal, DealKind, DealStatus

    deal = Deal(deal_id="d1", lead_id="l1", person_id="p1", kind=DealKind.CONTACT, title="x", created_at=T0, actor="a")
    await store.add_deal(deal)
    await store.add_deal(replace(deal, deal_id="d2", person_id="p2", created_at=T0 + timedelta(1)))
    await store.put_deal(replace(deal, status=DealStatus.WON, closed_at=T0))
    assert await store.get_deal("d1") == replace(deal, status=DealStatus.WON, closed_at=T0)
    assert [d.deal_id for d in await store.deals_of(["p1", "p2"])] == ["d1", "d2"]
    for i, pid in enumerate(["p1", "p2", "p1"]):
        await store.add_audit(AuditEntry(entry_id=f"a{i}", at=T0, actor="sue", action="reply", person_id=pid))
    assert [e.entry_id for e in await store.audit_log()] == ["a2", "a1", "a0"]
    assert [e.entry_id for e in await store.audit_log(person_ids=["p1"], limit=1)] == ["a2"]


async def test_inbox_rows_page_unread_first_and_filter(store: BaseStore) -> None:
    from core.inbox import InboxRow

    def row(pid: str, minutes: int, unread: int, who: str = "", **flags: bool) -> InboxRow:
        return InboxRow(
            person_id=pid,
            display_name=pid,
            responsible=who,
            last_at=T0 + timedelta(minutes=minutes),
            last_channel="telegram",
            channels=("telegram", "whatsapp"),
            unread=unread,
            awaiting_since=T0 if unread else None,
            **flags,
        )

    await store.put_inbox_row(row("p1", 1, 0, "mia"))
    await store.put_inbox_row(row("p2", 2, 3, "leo", repeat_lead=True))
    await store.put_inbox_row(row("p3", 3, 0, "", repeat_deal=True))
    await store.put_inbox_row(row("p4", 0, 1, "mia"))
    assert [r.person_id for r in await store.inbox_page()] == ["p2", "p4", "p3", "p1"]
    assert [r.person_id for r in await store.inbox_page(limit=2, offset=1)] == ["p4", "p3"]
    assert [r.person_id for r in await store.inbox_page(responsible=["mia", ""])] == ["p4", "p3", "p1"]
    assert [r.person_id for r in await store.inbox_page(responsible=["leo"])] == ["p2"]
    assert [r.person_id for r in await store.inbox_page(flag="repeat_deal")] == ["p3"]
    got = (await store.inbox_rows(["p2"]))["p2"]
    assert got == row("p2", 2, 3, "leo", repeat_lead=True)
    await store.delete_inbox_rows(["p2"])
    assert await store.inbox_row_count() == 3


async def test_find_profiles_by_name_prefix_in_either_script(store: BaseStore) -> None:
    await store.put_profile(replace(profile("telegram:1", "p1"), name="Саша Петров", handle="sasha_p"))
    await store.put_profile(replace(profile("whatsapp:+7", "p2"), name="Alexander"))
    assert await store.find_profiles("петр") == ["telegram:1"]
    assert await store.find_profiles("Petrov") == ["telegram:1"]
    assert await store.find_profiles("sasha") == ["telegram:1"]
    assert await store.find_profiles("alex") == ["whatsapp:+7"]
    await store.put_profile(replace(profile("telegram:1", "p1"), name="Иван"))
    assert await store.find_profiles("петр") == []


async def test_new_indexes_read_the_units_own_writes(store: BaseStore) -> None:
    from core.inbox import AuditEntry, InboxRow

    def row(pid: str, minutes: int, unread: int) -> InboxRow:
        return InboxRow(
            person_id=pid,
            display_name=pid,
            responsible="mia",
            last_at=T0 + timedelta(minutes=minutes),
            last_channel="telegram",
            channels=("telegram",),
            unread=unread,
        )

    await store.put_inbox_row(row("p1", 1, 0))
    await store.put_inbox_row(row("p2", 2, 0))
    async with store.atomic():
        assert await store.add_crm_job(crm_job("j1"))
        await store.put_inbox_row(row("p1", 3, 1))  # moves to the top, unread
        await store.put_profile(replace(profile("telegram:1", "p1"), name="Anna Berg"))
        await store.add_audit(AuditEntry(entry_id="a1", at=T0, actor="sue", action="reply", person_id="p1"))
        assert [j.job_id for j in await store.claim_crm_jobs(T0, timedelta(seconds=30), 10)] == ["j1"]
        assert [r.person_id for r in await store.inbox_page(responsible=["mia"])] == ["p1", "p2"]
        assert await store.find_profiles("berg") == ["telegram:1"]
        assert [e.entry_id for e in await store.audit_log(person_ids=["p1"])] == ["a1"]
        await store.delete_inbox_rows(["p2"])
        assert [r.person_id for r in await store.inbox_page()] == ["p1"]
    assert [r.person_id for r in await store.inbox_page()] == ["p1"]
    assert await store.inbox_row_count() == 1
    assert await store.claim_crm_jobs(T0, timedelta(seconds=30), 10) == []  # leased by the unit's claim


async def test_ops_aggregates(store: BaseStore) -> None:
    # p1 <- p2 <- p3 (a chain), p4 alone, p5 with no profiles at all.
    for pid in ("p1", "p2", "p3", "p4", "p5"):
        await store.add_person(Person(person_id=pid, created_at=T0, display_name=pid))
    for key, pid in (("telegram:1", "p1"), ("telegram:2", "p2"), ("telegram:3", "p3"), ("telegram:4", "p3")):
        await store.put_profile(profile(key, pid))
    await store.put_profile(profile("telegram:5", "p4"))
    await store.set_merged_into("p2", "p1")
    await store.set_merged_into("p3", "p2")
    assert await store.person_sizes() == {4: 1, 1: 1}
    assert await store.largest_persons(10) == [("p1", 4), ("p4", 1)]
    assert await store.largest_persons(1) == [("p1", 4)]
    await store.set_merged_into("p3", None)
    assert await store.person_sizes() == {2: 2, 1: 1}
    assert await store.largest_persons(2) == [("p1", 2), ("p3", 2)]

    for merge_id, kind in (("m1", MergeKind.AUTO), ("m2", MergeKind.AUTO), ("s1", MergeKind.SPLIT)):
        await store.add_merge(
            MergeRecord(merge_id=merge_id, at=T0, kind=kind, into="p1", from_="p2", evidence=(), actor="x")
        )
    assert await store.merge_counts() == {"auto": 2, "split": 1}

    await store.add_outbox(outbox_item("o1", at=T0))
    await store.add_outbox(outbox_item("o2", at=T0))
    await store.add_outbox(outbox_item("o3", at=T0))
    for item_id, minutes in (("o1", 1), ("o2", 2)):
        failed = replace(outbox_item(item_id, at=T0), status=OutboxStatus.FAILED, error="blocked")
        await store.put_outbox(replace(failed, updated_at=T0 + timedelta(minutes=minutes)))
    assert await store.outbox_counts() == {"failed": 2, "queued": 1}
    assert [i.id for i in await store.outbox_failed(10)] == ["o2", "o1"]
    assert [i.id for i in await store.outbox_failed(1)] == ["o2"]
