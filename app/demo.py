"""`stitch serve --demo`: the local provider fakes, Stitch pointed at them, and a story played live.

Everything goes through the real webhooks, signed the way each provider signs them: Telegram's
secret header, Twilio's signature, MAX's secret header, Avito's secret URL, the website's form post.
A newcomer watches an impatient customer write on five channels within minutes and end up as one
person, next to a namesake who stays apart and two colleagues who share an office phone.

The story's ids are fixed and it is played once per store: running the demo again on the same
store shows the same persons, channels and leads instead of adding a second story to them.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, TextIO

import aiohttp
from aiohttp import web

from app.bitrix24 import BITRIX24
from app.inbox.auth import add_user
from app.inbox.keys import SERVICE
from app.keys import PROCESSOR, STORE
from app.shutdown import stop_on_signals, unless_stopped
from app.web import create_app
from app.webhooks import CONTACT_ASKER, OUTBOX
from connectors.avito.fake import FakeAvito
from connectors.fakes._server import FakeServer
from connectors.max.fake import FakeMax
from connectors.telegram.fake import FakeTelegram
from connectors.whatsapp.fake import DEMO_BUSINESS_NUMBER, FakeTwilio
from core.config import DEMO_STORE, Settings
from core.errors import ConnectorError
from core.inbox import Role
from crm.bitrix24.fake import FakeBitrix24
from resolver.decide import CHANNEL_TITLES
from store import open_store
from store.base import BaseStore

BUSINESS_NUMBER = DEMO_BUSINESS_NUMBER
PAUSE_S = 0.4  # between story steps, so a watcher of the logs can follow along

# The impatient customer, her namesake and the two colleagues of one office.
ANNA_PHONE = "79123456789"
ANNA_TG = 7001
ANNA_AVITO = 88001
ANNA_MAX = 77001
ANNA_PROFILE = f"telegram:{ANNA_TG}"  # in the store once the story has been played
NAMESAKE_PHONE = "79035550101"
OFFICE_PHONE = "+7 495 123-45-67"
FIRST_UPDATE_ID = 500_000

# The logins the demo creates when a store has no users: a supervisor for the inbox and an operator
# for the ops pages, which a supervisor may not open. The fixed password is printed and documented,
# so it is used only on the demo's own store; any other store gets a random one.
DEMO_USER = "demo"
DEMO_OPS_USER = "demo-ops"
DEMO_PASSWORD = "stitch-demo"
DEMO_ROLES = {DEMO_USER: Role.SUPERVISOR, DEMO_OPS_USER: Role.OPS}
ROLE_WORDS = {Role.SUPERVISOR: "a supervisor", Role.OPS: "an operator"}


@dataclass(slots=True)
class DemoRun:
    """The running demo: fakes, the app and where they listen; `settings` point at the fakes."""

    settings: Settings
    runner: web.AppRunner
    app: web.Application
    base_url: str
    telegram: FakeTelegram
    twilio: FakeTwilio
    avito: FakeAvito
    max_bot: FakeMax
    bitrix24: FakeBitrix24 | None = None

    async def settle(self) -> None:
        await self.app[PROCESSOR].idle()
        await self.app[CONTACT_ASKER].idle()
        if BITRIX24 in self.app:
            await self.app[BITRIX24].worker.drain()

    async def close(self) -> None:
        await self.runner.cleanup()
        fakes = [self.telegram.close(), self.twilio.close(), self.avito.close(), self.max_bot.close()]
        if self.bitrix24 is not None:
            fakes.append(self.bitrix24.close())
        await asyncio.gather(*fakes)


@dataclass(frozen=True, slots=True, kw_only=True)
class StoryResult:
    anna_profiles: tuple[str, ...]
    namesake_profile: str
    office_profiles: tuple[str, ...]
    reply_channel: str


async def start_demo(
    settings: Settings, *, host: str | None = None, port: int | None = None, crm: bool = True
) -> DemoRun:
    """Start the provider fakes and Stitch (webhook mode, public URL = where it listens).

    `crm`: push to a local Bitrix24 stand-in portal; without it the push is off. Never a real portal.
    """
    telegram, twilio, avito, max_bot = FakeTelegram(), FakeTwilio(), FakeAvito(), FakeMax()
    bitrix24 = FakeBitrix24() if crm else None
    await telegram.start()
    await twilio.start()
    await avito.start()
    await max_bot.start()
    portal = await bitrix24.start() if bitrix24 is not None else ""
    settings = replace(settings, bitrix24_webhook_url=portal)
    host = host or settings.host
    port = settings.port if port is None else port
    try:
        runner, app, base, demo_settings = await _serve(settings, host, port, (telegram, twilio, avito, max_bot))
    except BaseException:
        await asyncio.gather(telegram.close(), twilio.close(), avito.close(), max_bot.close())
        if bitrix24 is not None:
            await bitrix24.close()
        raise
    return DemoRun(
        settings=demo_settings,
        runner=runner,
        app=app,
        base_url=base,
        telegram=telegram,
        twilio=twilio,
        avito=avito,
        max_bot=max_bot,
        bitrix24=bitrix24,
    )


async def _serve(
    settings: Settings, host: str, port: int, fakes: Sequence[FakeServer]
) -> tuple[web.AppRunner, web.Application, str, Settings]:
    # Bind first: the public URL (what Twilio signs) must name the real port, also when port is 0.
    probe = web.Application()
    probe_runner = web.AppRunner(probe, handle_signals=False)
    await probe_runner.setup()
    site = web.TCPSite(probe_runner, host, port)
    await site.start()
    bound = probe_runner.addresses[0][1]
    await probe_runner.cleanup()
    base = f"http://{host}:{bound}"
    demo_settings = replace(settings, host=host, port=bound, public_url=base)
    for fake in fakes:  # each channel's fake points its channel at itself
        demo_settings = fake.stitch_settings(demo_settings)
    app = create_app(demo_settings)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=2.0)
    try:
        await runner.setup()  # inside: a stop during start-up still closes the store it opened
        await web.TCPSite(runner, host, bound).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, app, base, demo_settings


class _Story:
    def __init__(self, run: DemoRun, out: TextIO, pause: float) -> None:
        self.run = run
        self.out = out
        self.pause = pause
        self.settings = run.settings
        self.update_base = FIRST_UPDATE_ID

    def say(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    async def step(self) -> None:
        await self.run.settle()
        await asyncio.sleep(self.pause)

    async def telegram(self, update: dict[str, Any]) -> None:
        self.update_base += 1
        update = {"update_id": self.update_base, **update}
        status = await self.run.telegram.post_update(
            update, url=self.run.base_url + "/webhooks/telegram", secret=self.settings.telegram_webhook_secret
        )
        assert status == 200, status
        await self.step()

    async def whatsapp(self, wa_id: str, body: str, name: str) -> None:
        path = "/webhooks/whatsapp"
        fields = self.run.twilio.inbound_fields(wa_id=wa_id, body=body, profile_name=name, to=BUSINESS_NUMBER)
        delivery = await self.run.twilio.post_inbound(self.run.base_url + path, self.settings.public_url + path, fields)
        assert delivery.status == 200, delivery.status
        await self.step()

    async def max(self, update: dict[str, Any]) -> None:
        status = await self.run.max_bot.post_update(
            update, url=self.run.base_url + "/webhooks/max", secret=self.settings.max_webhook_secret
        )
        assert status == 200, status
        await self.step()

    async def avito(self, chat_id: str, buyer: int, name: str, text: str) -> None:
        self.run.avito.add_chat(chat_id, buyer_id=buyer, buyer_name=name)
        body = self.run.avito.webhook_body(chat_id=chat_id, author_id=buyer, text=text)
        url = f"{self.run.base_url}/webhooks/avito/{self.settings.avito_webhook_secret}"
        assert await self.run.avito.post_webhook(url, body) == 200
        await self.step()

    async def form(self, fields: dict[str, str]) -> None:
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.run.base_url + "/forms/contact", json=fields) as r,
        ):
            assert r.status in (200, 201), r.status
        await self.step()

    async def play(self) -> StoryResult:
        tg = self.run.telegram
        tg_id, avito_id = ANNA_TG, ANNA_AVITO
        self.say("\n1. Anna writes to the shop's Telegram bot.")
        await self.telegram(
            tg.text_update(
                user_id=tg_id,
                first_name="Анна",
                last_name="Смирнова",
                username="anna_smirnova",
                text="Здравствуйте! iPhone 13 на 128 ГБ ещё продаётся?",
            )
        )
        if tg.sent:
            self.say(f"   The bot asks once for her phone: {tg.sent[-1].text!r}")
        self.say("2. She taps 'Share my phone number'.")
        await self.telegram(tg.text_update(user_id=tg_id, first_name="Анна", contact_phone=ANNA_PHONE))
        self.say("3. No answer yet: she writes on WhatsApp from the same number.")
        await self.whatsapp(ANNA_PHONE, "Добрый день! Не дождалась ответа в Telegram. iPhone 13 ещё есть?", "Anna")
        mx = self.run.max_bot
        self.say("4. ...and to the shop's bot on MAX.")
        # Fixed message ids: playing the story twice must not add a second pair of messages.
        await self.max(
            mx.text_update(
                user_id=ANNA_MAX,
                first_name="Анна",
                text="Здравствуйте! Подскажите, iPhone 13 на 128 ГБ в наличии?",
                mid="mid.demo-anna-1",
            )
        )
        if mx.sent:
            self.say("   The MAX bot asks for her phone too, once; she taps its button.")
        await self.max(
            mx.text_update(
                user_id=ANNA_MAX,
                first_name="Анна",
                contact_phone="+" + ANNA_PHONE,
                mid="mid.demo-anna-2",
            )
        )
        self.say("5. ...and to the listing on Avito, leaving her number in the text.")
        await self.avito(
            "u2i-anna",
            avito_id,
            "Анна",
            "Здравствуйте, iPhone 13 ещё продаётся? Мой телефон +7 912 345-67-89",
        )
        self.say("6. ...and fills in the form on the shop's website.")
        await self.form(
            {
                "name": "Анна Смирнова",
                "phone": "8 (912) 345-67-89",
                "email": "anna.smirnova@yandex.ru",
                "message": "Перезвоните, пожалуйста, по iPhone 13",
                "page_url": "https://shop.example/iphone-13",
            }
        )
        self.say("7. A namesake, another Anna Smirnova, asks about a sofa on WhatsApp from her own number.")
        namesake = NAMESAKE_PHONE
        await self.whatsapp(namesake, "Здравствуйте, диван ещё доступен?", "Anna Smirnova")
        self.say("8. Two colleagues leave the office's shared phone in the web form.")
        await self.form(
            {
                "name": "Пётр Иванов",
                "phone": OFFICE_PHONE,
                "email": "p.ivanov@romashka-office.ru",
                "message": "Нужен счёт на 10 ноутбуков",
            }
        )
        await self.form(
            {
                "name": "Мария Козлова",
                "phone": OFFICE_PHONE,
                "email": "m.kozlova@romashka-office.ru",
                "message": "Подскажите сроки доставки в офис",
            }
        )
        store = self.run.app[STORE]
        anna = await store.person_of_profile(f"telegram:{tg_id}")
        channel = ""
        if anna is not None:
            self.say("9. A manager answers Anna once; Stitch picks the channel she can be reached on.")
            text = "Анна, добрый день! iPhone 13 в наличии."
            manager = await store.get_user(DEMO_USER)
            try:
                if manager is not None:
                    # Through the inbox, as a manager's reply goes, so the audit log has its first sentence.
                    sent = await self.run.app[SERVICE].reply(manager, anna, text)
                    channel, title, status = sent["channel"], sent["channel_title"], sent["status"]
                else:
                    item = await self.run.app[OUTBOX].send(anna, text, actor=DEMO_USER)
                    channel, title, status = str(item.channel), CHANNEL_TITLES[item.channel], str(item.status)
                self.say(f"   The reply went out on {title} ({status}).")
            except ConnectorError as e:
                self.say(f"   The reply could not be sent: {e}")
        profiles = await store.profiles_of(anna) if anna else []
        office = [
            p.key async for p in store.iter_profiles() if p.key.startswith("webform:") and p.name != "Анна Смирнова"
        ]
        return StoryResult(
            anna_profiles=tuple(p.key for p in profiles),
            namesake_profile=f"whatsapp:+{namesake}",
            office_profiles=tuple(office[-2:]),
            reply_channel=channel,
        )


async def play_story(run: DemoRun, *, out: TextIO = sys.stdout, pause: float = PAUSE_S) -> StoryResult:
    """Play the story through the running demo's webhooks; returns who ended up where."""
    return await _Story(run, out, pause).play()


async def played_before(settings: Settings) -> bool:
    """Whether this store already holds the story (its customer's Telegram chat is there)."""
    store = open_store(settings.store_url)
    await store.open()
    try:
        return await store.person_of_profile(ANNA_PROFILE) is not None
    finally:
        await store.close()


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoLogin:
    name: str
    role: Role
    password: str  # empty: the user existed before this run, its password is not known here

    def line(self) -> str:
        if self.password:
            return f"{self.name} / {self.password} ({ROLE_WORDS[self.role]})"
        return f"{self.name}, with the password printed when it was created"


async def demo_logins(store: BaseStore, store_url: str) -> list[DemoLogin]:
    """The demo's logins, created when the store has no users yet (none: users of its own)."""
    names = {user.name for user in await store.users()}
    fixed = DEMO_PASSWORD if store_url == DEMO_STORE else ""
    if not names:
        logins = []
        for name, role in DEMO_ROLES.items():
            # Any other store is someone's data: a password everyone can read in the README would open it.
            password = fixed or secrets.token_urlsafe(12)
            await add_user(store, name, role, password)
            logins.append(DemoLogin(name=name, role=role, password=password))
        return logins
    return [DemoLogin(name=n, role=r, password=fixed) for n, r in DEMO_ROLES.items() if n in names]


async def open_demo(settings: Settings, *, host: str | None = None, port: int | None = None) -> DemoRun:
    """Start the demo, play the story unless this store has it, and print where to look."""
    played = await played_before(settings)
    run = await start_demo(settings, host=host, port=port, crm=not played)
    try:
        base = run.base_url
        print(f"Stitch demo on {base}, store {settings.store_url}")
        if played:
            print("The story is already in this store: showing it as it is (delete the store file to play it again).")
        else:
            print(f"  stand-ins: telegram {run.telegram.base_url}, twilio {run.twilio.base_url}, ", end="")
            print(f"avito {run.avito.base_url}, max {run.max_bot.base_url}, ", end="")
            print(f"bitrix24 {run.settings.bitrix24_webhook_url}")
        store = run.app[STORE]
        # Before the story: its manager's reply is the demo login's.
        logins = {login.role: login for login in await demo_logins(store, settings.store_url)}
        if not played:
            await play_story(run)
        anna = await store.person_of_profile(ANNA_PROFILE)
        profiles = await store.profiles_of(anna) if anna else []
        channels = list(dict.fromkeys(CHANNEL_TITLES[p.channel] for p in profiles))
        print(f"\nAnna's chats on {len(channels)} channels ({_listed(channels)}) are one person: {anna}")
        print(f"Store now: {await store.counts()}")
        if run.bitrix24 is not None:
            await run.settle()
            crm = {kind: len(rows) for kind, rows in run.bitrix24.entities.items()}
            print(f"Bitrix24 stand-in portal: {crm}, {len(run.bitrix24.comments)} timeline comments")
        else:
            # The stand-in keeps nothing between runs: pushing to a fresh one would only find stale links.
            print("Bitrix24 stand-in portal: off (it is shown while the story plays)")
        print(f"\nInbox:        {base}/inbox/")
        if anna:
            print(f"Anna's page:  {base}/inbox/persons/{anna}")
        if Role.SUPERVISOR in logins:
            print(f"Log in:       {logins[Role.SUPERVISOR].line()}")
        else:
            print("Log in:       as one of this store's users (`stitch user add` makes one)")
        print(f"Ops pages:    {base}/ops/")
        if Role.OPS in logins:
            print(f"Ops login:    {logins[Role.OPS].line()}")
        print(f"Export:       stitch export --what persons --store {settings.store_url}")
        print("\nRunning until Ctrl+C.", flush=True)
    except BaseException:
        await run.close()
        raise
    return run


def _listed(words: Sequence[str]) -> str:
    """Words as a sentence lists them: "Telegram, WhatsApp and the web form"."""
    return ", ".join(words) if len(words) < 2 else ", ".join(words[:-1]) + " and " + words[-1]


async def _main(settings: Settings) -> int:
    stop = asyncio.Event()
    with stop_on_signals(stop.set):
        # A stop while the story plays cancels it; open_demo then closes what it had started.
        run = await unless_stopped(open_demo(settings), stop)
        if run is not None:
            try:
                await stop.wait()
            finally:
                await run.close()
    print("Stitch demo stopped.", flush=True)
    return 0


def run_demo(settings: Settings) -> int:
    """Start the fakes and Stitch, play the story, keep serving until Ctrl+C or SIGTERM."""
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(_main(settings))
    return 0
