"""`stitch serve --demo`: the local provider fakes, Stitch pointed at them, and a story played live.

Everything goes through the real webhooks, signed the way each provider signs them: Telegram's
secret header, Twilio's signature, Avito's secret URL, the website's form post. A newcomer watches
an impatient customer write on four channels within minutes and end up as one person, next to a
namesake who stays apart and two colleagues who share an office phone.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sys
import time
from dataclasses import dataclass, replace
from typing import Any, TextIO

import aiohttp
from aiohttp import web

from app.bitrix24 import BITRIX24
from app.keys import PROCESSOR, STORE
from app.web import create_app
from app.webhooks import CONTACT_ASKER, OUTBOX
from connectors.fakes.avito import FakeAvito
from connectors.fakes.telegram import FakeTelegram
from connectors.fakes.twilio import FakeTwilio
from core.config import Settings
from core.errors import ConnectorError
from crm.bitrix24.fake import FakeBitrix24

BUSINESS_NUMBER = "+14155238886"
PAUSE_S = 0.4  # between story steps, so a watcher of the logs can follow along

# The impatient customer, her namesake and the two colleagues of one office.
ANNA_PHONE = "79123456789"
ANNA_TG = 7001
ANNA_AVITO = 88001
NAMESAKE_PHONE = "79035550101"
OFFICE_PHONE = "+7 495 123-45-67"


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
    bitrix24: FakeBitrix24 | None = None

    async def settle(self) -> None:
        await self.app[PROCESSOR].idle()
        await self.app[CONTACT_ASKER].idle()
        if BITRIX24 in self.app:
            await self.app[BITRIX24].worker.drain()

    async def close(self) -> None:
        await self.runner.cleanup()
        fakes = [self.telegram.close(), self.twilio.close(), self.avito.close()]
        if self.bitrix24 is not None:
            fakes.append(self.bitrix24.close())
        await asyncio.gather(*fakes)


@dataclass(frozen=True, slots=True, kw_only=True)
class StoryResult:
    anna_profiles: tuple[str, ...]
    namesake_profile: str
    office_profiles: tuple[str, ...]
    reply_channel: str


async def start_demo(settings: Settings, *, host: str | None = None, port: int | None = None) -> DemoRun:
    """Start the three fakes and Stitch (webhook mode, public URL = where it listens)."""
    telegram, twilio, avito, bitrix24 = FakeTelegram(), FakeTwilio(), FakeAvito(), FakeBitrix24()
    await telegram.start()
    await twilio.start()
    await avito.start()
    # The CRM push goes to a local stand-in portal too, never to a real one from the demo.
    settings = replace(settings, bitrix24_webhook_url=await bitrix24.start())
    host = host or settings.host
    port = settings.port if port is None else port
    try:
        runner, app, base, demo_settings = await _serve(settings, host, port, telegram, twilio, avito)
    except BaseException:
        await asyncio.gather(telegram.close(), twilio.close(), avito.close(), bitrix24.close())
        raise
    return DemoRun(
        settings=demo_settings,
        runner=runner,
        app=app,
        base_url=base,
        telegram=telegram,
        twilio=twilio,
        avito=avito,
        bitrix24=bitrix24,
    )


async def _serve(
    settings: Settings, host: str, port: int, telegram: FakeTelegram, twilio: FakeTwilio, avito: FakeAvito
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
    demo_settings = replace(
        settings,
        host=host,
        port=bound,
        public_url=base,
        telegram_bot_token=telegram.token,
        telegram_webhook_secret=secrets.token_urlsafe(16),
        telegram_api_base=telegram.base_url,
        twilio_account_sid=twilio.account_sid,
        twilio_auth_token=twilio.auth_token,
        twilio_whatsapp_from=BUSINESS_NUMBER,
        twilio_api_base=twilio.base_url,
        avito_client_id=avito.client_id,
        avito_client_secret=avito.client_secret,
        avito_webhook_secret=secrets.token_urlsafe(16),
        avito_api_base=avito.base_url,
    )
    app = create_app(demo_settings)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    try:
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
        # Unique per run, so playing the story again into the same store is new traffic, not duplicates.
        self.tag = secrets.token_hex(3)
        self.update_base = int(time.time()) % 1_000_000 * 100

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
        tg_id, avito_id = ANNA_TG + int(self.tag, 16) % 1000, ANNA_AVITO + int(self.tag, 16) % 1000
        self.say("\n1. Anna writes to the shop's Telegram bot.")
        await self.telegram(
            tg.text_update(
                user_id=tg_id,
                first_name="Анна",
                last_name="Смирнова",
                username=f"anna_smirnova_{self.tag}",
                text="Здравствуйте! iPhone 13 на 128 ГБ ещё продаётся?",
            )
        )
        if tg.sent:
            self.say(f"   The bot asks once for her phone: {tg.sent[-1].text!r}")
        self.say("2. She taps 'Share my phone number'.")
        await self.telegram(tg.text_update(user_id=tg_id, first_name="Анна", contact_phone=ANNA_PHONE))
        self.say("3. No answer yet: she writes on WhatsApp from the same number.")
        await self.whatsapp(ANNA_PHONE, "Добрый день! Не дождалась ответа в Telegram. iPhone 13 ещё есть?", "Anna")
        self.say("4. ...and to the listing on Avito, leaving her number in the text.")
        await self.avito(
            f"u2i-{self.tag}",
            avito_id,
            "Анна",
            "Здравствуйте, iPhone 13 ещё продаётся? Мой телефон +7 912 345-67-89",
        )
        self.say("5. ...and fills in the form on the shop's website.")
        await self.form(
            {
                "name": "Анна Смирнова",
                "phone": "8 (912) 345-67-89",
                "email": f"anna.smirnova.{self.tag}@yandex.ru",
                "message": "Перезвоните, пожалуйста, по iPhone 13",
                "page_url": "https://shop.example/iphone-13",
            }
        )
        self.say("6. A namesake, another Anna Smirnova, asks about a sofa on WhatsApp from her own number.")
        namesake = "7903" + str(int(self.tag, 16) % 10_000_000).zfill(7)
        await self.whatsapp(namesake, "Здравствуйте, диван ещё доступен?", "Anna Smirnova")
        self.say("7. Two colleagues leave the office's shared phone in the web form.")
        await self.form(
            {
                "name": "Пётр Иванов",
                "phone": OFFICE_PHONE,
                "email": f"p.ivanov.{self.tag}@romashka-office.ru",
                "message": "Нужен счёт на 10 ноутбуков",
            }
        )
        await self.form(
            {
                "name": "Мария Козлова",
                "phone": OFFICE_PHONE,
                "email": f"m.kozlova.{self.tag}@romashka-office.ru",
                "message": "Подскажите сроки доставки в офис",
            }
        )
        store = self.run.app[STORE]
        anna = await store.person_of_profile(f"telegram:{tg_id}")
        channel = ""
        if anna is not None:
            self.say("8. A manager answers Anna once; Stitch picks the channel she can be reached on.")
            try:
                item = await self.run.app[OUTBOX].send(anna, "Анна, добрый день! iPhone 13 в наличии.", actor="demo")
                channel = str(item.channel)
                self.say(f"   The reply went out on {item.channel} ({item.status}).")
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


async def _main(settings: Settings) -> int:
    run = await start_demo(settings)
    try:
        print(f"Stitch demo on {run.base_url} (store {settings.store_url})")
        print(f"  fakes: telegram {run.telegram.base_url}, twilio {run.twilio.base_url}, avito {run.avito.base_url}")
        result = await play_story(run)
        counts = await run.app[STORE].counts()
        print(
            f"\nAnna's chats on {len(result.anna_profiles)} channels are one person: {', '.join(result.anna_profiles)}"
        )
        print(f"Store now: {counts}")
        if run.bitrix24 is not None:
            await run.settle()
            crm = {kind: len(rows) for kind, rows in run.bitrix24.entities.items()}
            print(f"Bitrix24 stand-in portal: {crm}, {len(run.bitrix24.comments)} timeline comments")
        print("\nWhere to look:")
        print(f"  {run.base_url}/healthz  {run.base_url}/readyz")
        print(f"  stitch export --what persons --store {settings.store_url}")
        print(f"  stitch export --what merges --store {settings.store_url}")
        print(f"  webhooks: {run.base_url}/webhooks/telegram, /webhooks/whatsapp, /webhooks/avito/<secret>")
        print("\nRunning until Ctrl-C.", flush=True)
        await asyncio.Event().wait()
    finally:
        await run.close()
    return 0


def run_demo(settings: Settings) -> int:
    """Start the fakes and Stitch, play the story, keep serving until Ctrl-C."""
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(_main(settings))
    return 0
