"""A model-based test: random steps driven through a SQLite store and a Redis store side by side.

Each step is done to both stores the way the running product does it: messages on every channel are
accepted and handed to the queue (SQLite: the in-process `Processor`; Redis: the ingest stream and a
`StreamWorker`), managers merge, split, mark "not the same person", add identifiers and reply through
the inbox service, and the processes restart, gracefully or after a crash (an event accepted but
never handed over, or a process dying inside an event's unit of work). After every step both stores
must hold a consistent identity graph, account for every accepted event, tell `/readyz`'s function
the truth, and agree with each other on how the profiles are grouped into persons.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from app import streams
from app.inbox.index import InboxIndex
from app.inbox.live import Broker
from app.inbox.service import InboxService
from app.ingest import Pipeline
from app.keys import SETTINGS, STORE
from app.observability import readiness
from app.outbox import Outbox
from app.parked import retry_parked
from app.probes import PROBES, Probes
from app.processor import Processor
from app.streams import RedisStreamQueue, StreamWorker
from connectors.whatsapp.fake import FakeTwilio
from connectors.whatsapp.twilio import WhatsAppConnector
from core.config import Settings
from core.errors import ChannelUnavailable, FieldErrors, MergeRefused, NotFound
from core.inbox import Role, User
from core.records import EventStatus, MergeKind, StoredMessage
from core.values import Channel, Envelope
from resolver.merge import ids_from
from store.redis import RedisStore
from store.sqlite import SqliteStore
from tests.conftest import REDIS_URL, unique_prefix

T0 = datetime.fromisoformat("2026-10-01T09:00:00+00:00")
SUE = User(name="sue", role=Role.SUPERVISOR, password_hash="-", created_at=T0)
WORKER = "w1"  # a restarted worker keeps its name: it finishes its own unacknowledged entries first
# What a manager's action may answer instead of doing it; any other error fails the test.
REFUSALS = (MergeRefused, FieldErrors, ChannelUnavailable, NotFound)

T = TypeVar("T")


class Crash(BaseException):
    """The process stops dead here: nothing after it runs, nothing uncommitted survives.

    A BaseException, so that no `except Exception` of the product mistakes it for a failing event;
    the units of work it passes through roll back, as a killed process's transaction does.
    """


@dataclass(slots=True)
class Faults:
    """Events whose resolution raises (poison: parked after its attempts) or kills the process once."""

    poison: set[str] = field(default_factory=set)
    crash: set[str] = field(default_factory=set)

    def check(self, event_id: str) -> None:
        if event_id in self.crash:
            self.crash.discard(event_id)
            raise Crash(event_id)
        if event_id in self.poison:
            raise RuntimeError("message table refused the row")


class FaultySqlite(SqliteStore):
    faults: Faults

    async def add_message(self, message: StoredMessage) -> None:
        self.faults.check(message.event_id)
        await super().add_message(message)


class FaultyRedis(RedisStore):
    faults: Faults

    async def add_message(self, message: StoredMessage) -> None:
        self.faults.check(message.event_id)
        await super().add_message(message)


# -- customers and their messages -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Customer:
    tg: int
    first: str
    last: str
    phone: str
    avito: int
    email: str
    texts: tuple[str, ...]


OIL = "Здравствуйте! Сколько стоит замена масла на Kia Rio?"
CUSTOMERS = (
    Customer(5651074222, "Саша", "Петров", "+79123456789", 28834512, "a.petrov@mail.ru",
             (OIL, "здравствуйте! сколько стоит замена масла на kia rio?", "Когда можно подъехать?")),
    Customer(5651074223, "Ирина", "Соколова", "+79161110000", 28834513, "irina.s@mail.ru",
             ("Добрый день, запишите на ТО", "Хочу на ТО в субботу", "Когда можно подъехать?")),
    Customer(5651074224, "Олег", "Смирнов", "+79035550001", 28834514, "oleg@example.com",
             ("Нужна покраска бампера", "Покраска бампера, сколько?", "Когда забрать?")),
    # Саша's namesake with a phone of his own: the same first name and question, another person.
    Customer(5651074225, "Саша", "Кузнецов", "+79125550000", 28834515, "sasha.k@mail.ru",
             (OIL, "Сколько стоит замена ремня ГРМ на Logan?", "Когда можно подъехать?")),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Spec:
    """One inbound message: who writes, on which channel, what, and what the web form carries."""

    customer: int
    channel: Channel
    text: int
    form_phone: int | None  # whose phone the form carries (a family shares one), None for no phone
    form_email: bool
    poison: bool


specs = st.builds(
    Spec,
    customer=st.integers(0, len(CUSTOMERS) - 1),
    channel=st.sampled_from(list(Channel)),
    text=st.integers(0, 2),
    form_phone=st.none() | st.integers(0, len(CUSTOMERS) - 1),
    form_email=st.booleans(),
    poison=st.integers(0, 5).map(lambda n: n == 0),  # now and then an event whose resolution raises
)
gaps = st.sampled_from([1, 30, 60 * 24 * 3])  # minutes: a burst, the same day, days later


def envelope(spec: Spec, n: int, at: datetime) -> Envelope:
    """A raw provider payload in the channel's real format, as the webhooks store it."""
    c = CUSTOMERS[spec.customer]
    text = c.texts[spec.text]
    ts = int(at.timestamp())
    if spec.channel is Channel.TELEGRAM:
        sender = {"id": c.tg, "is_bot": False, "first_name": c.first, "last_name": c.last}
        message = {"message_id": n, "date": ts, "from": sender, "chat": {"id": c.tg, "type": "private"}, "text": text}
        return Envelope(id=f"tg{n}", channel=spec.channel, received_at=at, payload={"update_id": n, "message": message})
    if spec.channel is Channel.WHATSAPP:
        sid = f"SM{n:032x}"
        payload = {
            "MessageSid": sid,
            "SmsMessageSid": sid,
            "AccountSid": "AC" + "0" * 32,
            "From": f"whatsapp:{c.phone}",
            "To": "whatsapp:+74951234567",
            "WaId": c.phone.lstrip("+"),
            "ProfileName": c.first,
            "Body": text,
            "NumMedia": "0",
            "MessageType": "text",
        }
        return Envelope(id=f"wa{n}", channel=spec.channel, received_at=at, payload=payload)
    if spec.channel is Channel.MAX:
        ms = ts * 1000
        sender = {"user_id": c.tg, "first_name": c.first, "last_name": c.last, "is_bot": False, "name": c.first}
        recipient = {"chat_id": -c.tg, "chat_type": "dialog", "user_id": 900001}
        body = {"mid": f"mid.{n:032x}", "seq": n, "text": text}
        update = {
            "update_type": "message_created",
            "timestamp": ms,
            "message": {"recipient": recipient, "timestamp": ms, "body": body, "sender": sender},
        }
        return Envelope(id=f"max{n}", channel=spec.channel, received_at=at, payload=update)
    if spec.channel is Channel.AVITO:
        chat = f"u2i-{c.avito}~1"
        value = {
            "id": f"m{n}",
            "chat_id": chat,
            "user_id": 94235311,
            "author_id": c.avito,
            "created": ts,
            "type": "text",
            "chat_type": "u2i",
            "content": {"text": text},
            "item_id": 3000123456,
        }
        body = {"id": f"w{n}", "version": "v3.0.0", "timestamp": ts, "payload": {"type": "message", "value": value}}
        users = [{"id": 94235311, "name": "Автосервис «Мотор»"}, {"id": c.avito, "name": f"{c.first} {c.last[0]}."}]
        return Envelope(
            id=f"av{n}",
            channel=spec.channel,
            received_at=at,
            payload=body,
            lookups={"chat": {"id": chat, "users": users}},
        )
    form: dict[str, Any] = {"form_id": "contact", "name": f"{c.last} {c.first}", "message": text}
    if spec.form_phone is not None:
        form["phone"] = CUSTOMERS[spec.form_phone].phone
    if spec.form_email:
        form["email"] = c.email
    return Envelope(id=f"web{n}", channel=spec.channel, received_at=at, payload=form)


# -- one store with the app's pieces around it ------------------------------------------------------


@dataclass(slots=True)
class Side:
    """A store and what `stitch serve` (and, on Redis, `stitch worker`) build on it."""

    kind: str
    store: FaultySqlite | FaultyRedis
    pipeline: Pipeline
    inbox: InboxService
    app: web.Application  # only for `readiness`: the function behind /readyz
    processor: Processor | None = None
    queue: RedisStreamQueue | None = None
    worker: StreamWorker | None = None

    async def hand_over(self, event_id: str) -> None:
        if self.processor is not None:
            self.processor.submit(event_id)
        else:
            assert self.queue is not None
            await self.queue.enqueue(event_id)

    async def work(self) -> None:
        """Let the resolvers run until everything handed over is resolved (or the process died)."""
        if self.processor is not None:
            await self.processor.idle()
            task = self.processor._task
            died = task.exception() if task is not None and task.done() and not task.cancelled() else None
            if died is not None:
                raise died
        else:
            assert self.worker is not None
            await self.worker.run(exit_when_idle=True)


class BothStores(RuleBasedStateMachine):
    """The model: which events were accepted, which wait for a restart, which are poison."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.folder = Path(tempfile.mkdtemp(prefix="stitch-fsm-"))
        self.prefix = unique_prefix()
        self.settings = Settings.from_env({"STITCH_STORE": f"sqlite:///{self.folder / 'stitch.db'}"})
        self.clock = [T0]
        self.n = 0
        self.envelopes: list[Envelope] = []
        self.accepted: set[str] = set()
        self.poison: set[str] = set()  # parked and not yet retried with the cause fixed
        self.waiting: set[str] = set()  # accepted, not resolved when the process died
        self.crashed = False
        self.step_id = ""
        self.faults = {"sqlite": Faults(), "redis": Faults()}
        self.twilio = FakeTwilio()
        self.run(self.twilio.start())
        self.whatsapp = WhatsAppConnector(
            account_sid=self.twilio.account_sid,
            auth_token=self.twilio.auth_token,
            from_number="+74951234567",
            public_url="http://stitch.test",
            api_base=self.twilio.base_url,
        )
        self.sides = [self.run(self.start("sqlite")), self.run(self.start("redis"))]

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def now(self) -> datetime:
        return self.clock[0]

    async def start(self, kind: str) -> Side:
        """Open the store and start the app's pieces on it; start-up resolves what waits."""
        store: FaultySqlite | FaultyRedis
        if kind == "sqlite":
            store = FaultySqlite(self.folder / "stitch.db")
        else:
            redis = FaultyRedis.from_url(REDIS_URL, prefix=self.prefix, lock_lease_s=5, lock_wait_s=20)
            assert isinstance(redis, FaultyRedis)
            store = redis
        store.faults = self.faults[kind]
        await store.open()
        pipeline = Pipeline(store, self.settings)
        broker = Broker()
        index = InboxIndex(store, broker)
        pipeline.observers.append(index.observe)
        outbox = Outbox(store, {Channel.WHATSAPP: self.whatsapp}, attempts=1, clock=self.now)
        outbox.listeners.append(index.on_outbox)
        inbox = InboxService(store, self.settings, pipeline.merger, outbox, index, broker, clock=self.now)
        app = web.Application()
        app[STORE] = store
        app[SETTINGS] = self.settings
        side = Side(kind=kind, store=store, pipeline=pipeline, inbox=inbox, app=app)
        if isinstance(store, FaultyRedis):
            side.queue = RedisStreamQueue(store, self.settings.worker)
            pipeline.observers.append(side.queue.feed_writer())
            await side.queue.start()
            side.worker = StreamWorker(pipeline, side.queue, name=WORKER)
            app[PROBES] = Probes(backlog=side.queue.backlog)
            await side.worker.run(exit_when_idle=True)
        else:
            side.processor = Processor(pipeline)
            app[PROBES] = Probes(backlog=side.processor.backlog)
            await side.processor.start()
        await index.rebuild_if_empty()
        return side

    async def stop(self, side: Side, *, crashed: bool) -> None:
        """A graceful stop finishes what was handed over; a crash drops everything in flight."""
        if side.processor is not None:
            task = side.processor._task
            if crashed and task is not None:
                task.cancel()
                with contextlib.suppress(BaseException):  # the dead process's last error, seen by the step
                    await task
                side.processor._task = None
            else:
                await side.processor.stop()
        await side.store.close()

    @precondition(lambda self: not self.crashed)
    @rule(spec=specs, gap=gaps)
    def message(self, spec: Spec, gap: int) -> None:
        """A customer writes: the webhook stores the event and hands it over; the resolvers run."""
        self.burst([spec], gap)

    @precondition(lambda self: not self.crashed)
    @rule(burst=st.lists(specs, min_size=2, max_size=5), gap=gaps)
    def messages(self, burst: list[Spec], gap: int) -> None:
        """Several messages arrive before the resolvers run: one round (SQLite), one batch (Redis)."""
        self.burst(burst, gap)

    @precondition(lambda self: not self.crashed and bool(self.envelopes))
    @rule(pick=st.integers(0, 10_000))
    def redelivery(self, pick: int) -> None:
        """The provider delivers an event again: nothing new is stored."""
        env = self.envelopes[pick % len(self.envelopes)]
        for side in self.sides:
            assert not self.run(side.pipeline.accept(env))

    @precondition(lambda self: not self.crashed)
    @rule(spec=specs, gap=gaps)
    def crash_before_hand_over(self, spec: Spec, gap: int) -> None:
        """The event is stored, and the process dies before handing it to the resolvers."""
        env = self.arrive(spec, gap)
        for side in self.sides:
            assert self.run(side.pipeline.accept(env))
        self.waiting.add(env.id)
        self.crashed = True

    @precondition(lambda self: not self.crashed)
    @rule(spec=specs, gap=gaps)
    def crash_while_resolving(self, spec: Spec, gap: int) -> None:
        """The process dies inside the event's unit of work, after the resolver wrote to it."""
        env = self.arrive(spec, gap)
        for side in self.sides:
            self.faults[side.kind].crash.add(env.id)
            assert self.run(side.pipeline.accept(env))
            self.run(side.hand_over(env.id))
            with pytest.raises(Crash):
                self.run(side.work())
        self.waiting.add(env.id)
        self.crashed = True

    @rule()
    def restart(self) -> None:
        """Every process stops (or is found dead) and starts again from the same file and prefix."""
        for n, side in enumerate(self.sides):
            self.run(self.stop(side, crashed=self.crashed))
            self.sides[n] = self.run(self.start(side.kind))
        self.crashed = False
        self.waiting.clear()

    @precondition(lambda self: not self.crashed and bool(self.poison))
    @rule(fixed=st.booleans())
    def retry_the_parked(self, fixed: bool) -> None:
        """An operator retries the parked events, with the cause fixed or (too early) not."""
        if fixed:
            for kind in self.faults:
                self.faults[kind].poison.clear()
        summaries = [self.run(retry_parked(side.pipeline)) for side in self.sides]
        assert summaries[0] == summaries[1]
        assert summaries[0].retried == len(self.poison)
        assert summaries[0].resolved == (len(self.poison) if fixed else 0)
        if fixed:
            self.poison.clear()

    @precondition(lambda self: not self.crashed)
    @rule(a=st.integers(0, 10_000), b=st.integers(0, 10_000))
    def link(self, a: int, b: int) -> None:
        """A manager merges the person of one profile into the person of another."""
        self.manual(lambda side, pa, pb: side.inbox.link(SUE, pa, pb), a, b)

    @precondition(lambda self: not self.crashed)
    @rule(a=st.integers(0, 10_000), b=st.integers(0, 10_000))
    def not_same(self, a: int, b: int) -> None:
        """A manager marks two persons as not the same person."""
        self.manual(lambda side, pa, pb: side.inbox.not_same(SUE, pa, pb), a, b)

    @precondition(lambda self: not self.crashed)
    @rule(pick=st.integers(0, 10_000))
    def split(self, pick: int) -> None:
        """A manager splits one of the merges still in force."""
        live = [self.run(self.live_merges(side)) for side in self.sides]
        assert live[0] == live[1], "the stores disagree on which merges are in force"
        if not live[0]:
            return
        merge_id = live[0][pick % len(live[0])]
        self.step_ids()
        for side in self.sides:
            with ids_from(self.step_id):
                self.run(side.inbox.split(SUE, merge_id))

    @precondition(lambda self: not self.crashed)
    @rule(pick=st.integers(0, 10_000), accept=st.booleans(), first=st.booleans())
    def review(self, pick: int, accept: bool, first: bool) -> None:
        """A manager works the review queue: accepts a suggestion (either side kept) or rejects it."""
        waiting = [self.run(self.pending_suggestions(side)) for side in self.sides]
        assert waiting[0] == waiting[1], "the stores suggest different pairs"
        if not waiting[0]:
            return
        suggestion_id = waiting[0][pick % len(waiting[0])]
        self.step_ids()
        outcomes: list[str] = []
        for side in self.sides:
            with ids_from(self.step_id):
                suggestion = self.run(side.store.get_suggestion(suggestion_id))
                assert suggestion is not None
                try:
                    if accept:
                        primary = suggestion.a if first else suggestion.b
                        self.run(side.inbox.accept(SUE, suggestion_id, primary))
                    else:
                        self.run(side.inbox.reject(SUE, suggestion_id))
                    outcomes.append("done")
                except REFUSALS as e:
                    outcomes.append(type(e).__name__)
        assert outcomes[0] == outcomes[1], f"{suggestion_id}: SQLite {outcomes[0]}, Redis {outcomes[1]}"

    @precondition(lambda self: not self.crashed)
    @rule(a=st.integers(0, 10_000), whose=st.integers(0, len(CUSTOMERS) - 1), email=st.booleans())
    def add_identifier(self, a: int, whose: int, email: bool) -> None:
        """A manager types a phone or an e-mail (perhaps another customer's) into a person's card."""
        kind, value = ("email", CUSTOMERS[whose].email) if email else ("phone", CUSTOMERS[whose].phone)
        self.manual(lambda side, pa, _: side.inbox.add_identifier(SUE, pa, kind, value), a, a)

    @precondition(lambda self: not self.crashed)
    @rule(a=st.integers(0, 10_000))
    def reply(self, a: int) -> None:
        """A manager answers a person (WhatsApp is the channel configured to send)."""
        self.manual(lambda side, pa, _: side.inbox.reply(SUE, pa, "Замена масла — 3 000 ₽"), a, a)

    # -- invariants ------------------------------------------------------------------------------
    @invariant()
    def every_event_is_accounted_for(self) -> None:
        for side in self.sides:
            self.run(self.check_events(side))

    @invariant()
    def the_identity_graph_holds(self) -> None:
        groupings = [self.run(self.check_graph(side)) for side in self.sides]
        assert groupings[0] == groupings[1], "SQLite and Redis group the profiles differently"

    # -- helpers ---------------------------------------------------------------------------------
    def burst(self, burst: list[Spec], gap: int) -> None:
        envelopes = [self.arrive(spec, gap if n == 0 else 1) for n, spec in enumerate(burst)]
        for side in self.sides:
            for env in envelopes:
                assert self.run(side.pipeline.accept(env))
                self.run(side.hand_over(env.id))
            self.run(side.work())

    def arrive(self, spec: Spec, gap: int) -> Envelope:
        self.n += 1
        self.clock[0] += timedelta(minutes=gap)
        env = envelope(spec, self.n, self.now())
        self.envelopes.append(env)
        self.accepted.add(env.id)
        if spec.poison:
            self.poison.add(env.id)
            for faults in self.faults.values():
                faults.poison.add(env.id)
        self.clock[0] += timedelta(seconds=1)
        return env

    def step_ids(self) -> None:
        # Ids made outside an event (manual merges, splits) derive from the step, the same on both stores.
        self.n += 1
        self.step_id = f"step{self.n}"

    def manual(self, action: Callable[[Side, str, str], Coroutine[Any, Any, object]], a: int, b: int) -> None:
        """Do a manager's action on both stores to the persons of two profiles; the same outcome on both."""
        keys = self.run(self.profile_keys(self.sides[0]))
        if not keys:
            return
        ka, kb = keys[a % len(keys)], keys[b % len(keys)]
        self.step_ids()
        outcomes: list[str] = []
        for side in self.sides:
            pa = self.run(side.store.person_of_profile(ka))
            pb = self.run(side.store.person_of_profile(kb))
            assert pa is not None and pb is not None
            with ids_from(self.step_id):
                try:
                    self.run(action(side, pa, pb))
                    outcomes.append("done")
                except REFUSALS as e:
                    outcomes.append(type(e).__name__)
        assert outcomes[0] == outcomes[1], f"{ka} / {kb}: SQLite {outcomes[0]}, Redis {outcomes[1]}"

    async def profile_keys(self, side: Side) -> list[str]:
        return sorted([p.key async for p in side.store.iter_profiles()])

    async def live_merges(self, side: Side) -> list[str]:
        return sorted(
            m.merge_id for m in await side.store.merges() if m.kind is not MergeKind.SPLIT and m.undone_by is None
        )

    async def pending_suggestions(self, side: Side) -> list[str]:
        return sorted(s.suggestion_id for s in await side.store.suggestions())

    async def check_events(self, side: Side) -> None:
        store = side.store
        statuses = {event_id: await store.event_status(event_id) for event_id in sorted(self.accepted)}
        pending = {e for e, s in statuses.items() if s is EventStatus.PENDING}
        failed = {e for e, s in statuses.items() if s is EventStatus.FAILED}
        assert None not in statuses.values()
        # Only what a dead process left behind may wait, and only until the restart.
        assert pending == self.waiting, f"{side.kind}: pending {sorted(pending)}, expected {sorted(self.waiting)}"
        assert failed == self.poison - self.waiting, f"{side.kind}: parked {sorted(failed)}"
        parked = await store.parked_events(1000)
        assert {p.event_id for p in parked} == failed
        assert all(p.reason and p.attempts >= self.settings.max_attempts for p in parked)
        ready, body = await readiness(side.app)
        assert (body["pending"], body["parked"]) == (len(pending), len(failed))
        assert body["store"] is True and ready is (int(str(body["backlog"])) < self.settings.ready_max_backlog)

    async def check_graph(self, side: Side) -> frozenset[frozenset[str]]:
        """Checks one store's identity graph; returns its grouping of profiles into persons."""
        store = side.store
        persons = [p async for p in store.iter_persons()]
        ids = {p.person_id for p in persons}
        live = {p.person_id for p in persons if p.merged_into is None}
        for p in persons:
            if p.merged_into is not None:
                assert p.merged_into in ids, f"{side.kind}: {p.person_id} merged into a missing person"
                assert await store.root_of(p.person_id) in live, f"{side.kind}: {p.person_id} resolves to no one"
        profiles = [p async for p in store.iter_profiles()]
        groups: dict[str, set[str]] = {}
        for profile in profiles:
            assert profile.person_id in ids, f"{side.kind}: {profile.key} belongs to a missing person"
            groups.setdefault(await store.root_of(profile.person_id), set()).add(profile.key)
        # The indexes the store keeps (children, profiles of a person) agree with the alias forest.
        for root in live:
            held = {p.key for p in await store.profiles_of(root)}
            assert held == groups.get(root, set()), f"{side.kind}: {root} holds {sorted(held)}"
            members = set(await store.members_of(root))
            apart = await store.cannot_links_of(sorted(members))
            assert not apart & members, f"{side.kind}: {root} holds persons marked not the same"
        # The inbox lists live persons only: a merged-away person's row would be a ghost in the list.
        rows = await store.inbox_rows(sorted(ids))
        assert set(rows) <= live, f"{side.kind}: inbox rows of merged-away persons {sorted(set(rows) - live)}"
        for item in await store.outbox_of(sorted(ids), limit=1000):
            assert await store.root_of(item.person_id) == await store.person_of_profile(item.profile_key), (
                f"{side.kind}: reply {item.id} is filed with another person than its profile"
            )
        return frozenset(frozenset(g) for g in groups.values())

    def teardown(self) -> None:
        try:
            for side in self.sides:
                self.run(self.stop(side, crashed=True))
            self.run(self.whatsapp.close())
            self.run(self.twilio.close())
            self.run(self.drop_redis())
        finally:
            self.loop.close()
            shutil.rmtree(self.folder, ignore_errors=True)

    async def drop_redis(self) -> None:
        store = FaultyRedis.from_url(REDIS_URL, prefix=self.prefix)
        await store.open()
        await store.drop_everything()
        await store.close()


def test_sqlite_and_redis_agree_step_by_step(monkeypatch: pytest.MonkeyPatch) -> None:
    # The worker's read blocks this long when the stream is empty; a test's worker exits then.
    monkeypatch.setattr(streams, "BLOCK_MS", 1)
    run_state_machine_as_test(
        BothStores,
        settings=settings(
            max_examples=10,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


# -- what the machine found, pinned as plain tests --------------------------------------------------


async def test_redis_start_up_enqueues_an_event_stored_but_never_enqueued(
    redis_store: RedisStore, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The web process died between storing an event and enqueuing it: its restart hands it over."""
    monkeypatch.setattr(streams, "BLOCK_MS", 1)
    pipeline = Pipeline(redis_store, settings)
    first, held, stranded = (
        envelope(Spec(n, Channel.TELEGRAM, 0, None, False, False), n + 1, T0 + timedelta(minutes=n)) for n in range(3)
    )
    queue = RedisStreamQueue(redis_store, settings.worker)
    await queue.start()
    assert await pipeline.accept(first)
    await queue.enqueue(first.id)
    await StreamWorker(pipeline, queue, name=WORKER).run(exit_when_idle=True)  # its entry stays, acknowledged
    assert await pipeline.accept(held)
    await queue.enqueue(held.id)
    await redis_store.client.xreadgroup(streams.GROUP, WORKER, {queue.stream: ">"}, count=1)  # taken, not done
    assert await pipeline.accept(stranded)  # ...and the process died before enqueuing this one

    restarted = RedisStreamQueue(redis_store, settings.worker)
    await restarted.start()
    assert await restarted.backlog() == 2  # the stranded event's new entry and the held one, not enqueued twice
    assert await StreamWorker(pipeline, restarted, name=WORKER).run(exit_when_idle=True) == 2
    assert await redis_store.event_counts() == {"done": 3}
