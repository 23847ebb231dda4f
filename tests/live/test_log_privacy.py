"""Logs carry ids, counts and correlation ids: never message text, full phones, e-mails or secrets."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from live_support import AVITO_SECRET, MAX_SECRET, PUBLIC, TG_SECRET, Live

from app.cli import main
from connectors.max.fake import FakeMax
from connectors.telegram.fake import FakeTelegram
from connectors.whatsapp.fake import FakeTwilio
from core.loggers import JsonFormatter

PHONE_DIGITS = "9165554433"
PHONE = "+7 916 555-44-33"
EMAIL = "ivan.recognisable@mail.ru"
TEXT = "Кактусоварка фиолетовая"
FORGED = "forged-secret-XYZ123"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


async def test_no_text_phone_email_or_secret_reaches_the_logs(
    captured: io.StringIO, live: Live, telegram: FakeTelegram, twilio: FakeTwilio, max_bot: FakeMax
) -> None:
    words = f"{TEXT}, звоните {PHONE} или пишите {EMAIL}"
    url = live.url("/webhooks/telegram")
    update = telegram.text_update(user_id=777001, text=words, first_name="Иван", contact_phone=PHONE)
    assert await telegram.post_update(update, url=url, secret=TG_SECRET) == 200
    assert await telegram.post_update(telegram.text_update(user_id=777002, text=words), url=url, secret=FORGED) == 401
    max_url = live.url("/webhooks/max")
    assert (
        await max_bot.post_update(max_bot.text_update(user_id=777004, text=words), url=max_url, secret=MAX_SECRET)
        == 200
    )
    shared = max_bot.text_update(user_id=777004, contact_phone=PHONE)
    assert await max_bot.post_update(shared, url=max_url, secret=MAX_SECRET) == 200
    assert await max_bot.post_update(max_bot.text_update(user_id=777005, text=words), url=max_url, secret=FORGED) == 401
    fields = twilio.inbound_fields(wa_id="7" + PHONE_DIGITS, body=words, profile_name="Ivan")
    assert (
        await twilio.post_inbound(live.url("/webhooks/whatsapp"), PUBLIC + "/webhooks/whatsapp", fields)
    ).status == 200
    bad = twilio.inbound_fields(wa_id="7" + PHONE_DIGITS, body=words)
    forged = await twilio.post_inbound(live.url("/webhooks/whatsapp"), PUBLIC + "/elsewhere", bad)
    assert forged.status == 401
    async with aiohttp.ClientSession() as session:
        async with session.post(live.url(f"/webhooks/avito/{FORGED}"), json={"payload": {"value": {}}}) as r:
            assert r.status == 403
        async with session.post(live.url(f"/webhooks/avito/{AVITO_SECRET}"), json={}) as r:
            assert r.status == 200
        form = {"name": "Иван Узнаваемый", "phone": PHONE, "email": EMAIL, "message": words, "website": ""}
        async with session.post(live.url("/forms/contact"), json=form, headers={"X-Request-Id": "req-form-1"}) as r:
            assert r.status == 201, await r.text()
            assert r.headers["X-Request-Id"] == "req-form-1"
    await live.settle()

    logged = captured.getvalue()
    lines = [json.loads(line) for line in logged.splitlines()]
    assert lines, "nothing was logged"
    secrets = (TG_SECRET, AVITO_SECRET, MAX_SECRET, FORGED, live.settings.twilio_auth_token)
    for secret in (*secrets, live.settings.telegram_bot_token, live.settings.max_bot_token):
        assert secret not in logged
    for private in (PHONE, PHONE_DIGITS, EMAIL, "ivan.recognisable", TEXT, "Кактусоварка"):
        assert private not in logged
    rejected = [line for line in lines if line["event"] == "webhook rejected"]
    assert len(rejected) >= 4 and all(line.get("cid") for line in rejected)
    requests = [line for line in lines if line["event"] == "request"]
    routes = {"/webhooks/avito/{secret}", "/forms/{form_id}", "/webhooks/telegram", "/webhooks/max"}
    assert routes <= {r["route"] for r in requests}
    assert any(r.get("cid") == "req-form-1" for r in requests)


async def test_person_and_retention_commands_log_no_personal_data(
    captured: io.StringIO, live: Live, telegram: FakeTelegram, tmp_path: Path
) -> None:
    words = f"{TEXT}, звоните {PHONE} или пишите {EMAIL}"
    update = telegram.text_update(user_id=777003, text=words, first_name="Иван", contact_phone=PHONE)
    assert await telegram.post_update(update, url=live.url("/webhooks/telegram"), secret=TG_SECRET) == 200
    async with aiohttp.ClientSession() as session:
        form = {"name": "Иван Узнаваемый", "phone": PHONE, "email": EMAIL, "message": words, "website": ""}
        async with session.post(live.url("/forms/contact"), json=form) as r:
            assert r.status == 201, await r.text()
    await live.settle()
    (person,) = [p.person_id async for p in live.store.iter_persons() if p.merged_into is None]
    url = live.settings.store_url
    out = tmp_path / "person.json"
    commands = [
        (["person", "export", person, "--store", url, "--out", str(out)], 0),
        (["retention", "sweep", "--store", url, "--days", "1"], 0),
        (["person", "forget", person, "--store", url, "--yes"], 0),
        (["person", "forget", person, "--store", url, "--yes"], 1),
        (["person", "export", person, "--store", url], 1),
    ]
    for argv, status in commands:
        assert await asyncio.to_thread(main, argv) == status  # its own event loop, like the shell's
    assert TEXT in out.read_text(encoding="utf-8")  # the export itself has it all

    logged = captured.getvalue()
    events = {json.loads(line)["event"] for line in logged.splitlines()}
    assert {"person exported", "retention sweep", "person erased"} <= events
    for private in (PHONE, PHONE_DIGITS, EMAIL, "ivan.recognisable", TEXT, "Кактусоварка", "Узнаваемый"):
        assert private not in logged
