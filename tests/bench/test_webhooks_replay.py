"""`bench.webhooks --replay`: every request built from a replay line is one its webhook accepts and stores."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from app.keys import PROCESSOR, STORE
from app.web import create_app
from bench import webhooks
from connectors.avito.fake import FakeAvito
from core.config import Settings

PUBLIC = "https://stitch.example.com"  # what the Twilio signature covers; the app listens on loopback
PAYLOADS = Path(__file__).parent.parent / "payloads"
# The senders of the sample lines, as profiles.
SENDERS = ("telegram:5651074222", "whatsapp:+79123456789", "avito:28834512", "max:58150341")


def _lines() -> list[str]:
    # One line per channel: the contract's samples and a MAX update.
    lines = (PAYLOADS / "contract_samples.jsonl").read_text(encoding="utf-8").splitlines()
    update = json.loads((PAYLOADS / "max_text.json").read_text(encoding="utf-8"))
    lines.append(json.dumps({"channel": "max", "received_at": "2026-10-01T10:05:00Z", "payload": update}))
    return lines


@pytest.fixture
async def client(tmp_path: Path, avito: FakeAvito) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    settings = Settings.from_env(webhooks.server_env(PUBLIC, f"sqlite:///{tmp_path / 'bench.db'}", avito))
    async with TestClient(TestServer(create_app(settings))) as test_client:
        yield test_client


async def test_each_replayed_line_is_accepted_and_stored_as_a_new_event(
    tmp_path: Path, avito: FakeAvito, client: TestClient[web.Request, web.Application]
) -> None:
    lines = _lines()
    path = tmp_path / "replay.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    replay = webhooks.Replay(PUBLIC, path, avito, sources=False)
    # Twice through the file: the second pass must be new deliveries, not duplicates.
    for i in range(2 * len(lines)):
        req = replay.next(i)
        async with client.post(req.path, data=req.data, headers=req.headers) as r:
            assert r.status in (200, 201), (req.path, r.status, await r.text())
    app = client.app
    assert app is not None
    await app[PROCESSOR].idle()
    store = app[STORE]
    assert await store.event_counts() == {"done": 2 * len(lines)}
    assert replay.passes == 1 and replay.skipped == 0
    # Senders as in the file, and Avito's chat info answered from the line's lookups (then cached).
    for profile in SENDERS:
        assert await store.person_of_profile(profile) is not None, profile
    assert avito.state.chat_requests["u2i-123456~789"] == 1


async def test_forms_from_their_own_addresses(
    tmp_path: Path, avito: FakeAvito, client: TestClient[web.Request, web.Application]
) -> None:
    if not webhooks.loopback_sources():
        pytest.skip("this machine sends from 127.0.0.1 only")
    form = next(line for line in _lines() if '"webform"' in line)
    path = tmp_path / "forms.jsonl"
    # More submissions than the per-address burst, from as many visitors.
    visitors = [form.replace("5d04a09d5839b41a0065fe727fe669bd", f"visitor-{i}") for i in range(15)]
    path.write_text("\n".join(visitors) + "\n", encoding="utf-8")
    replay = webhooks.Replay(PUBLIC, path, avito)
    base = str(client.make_url("")).rstrip("/")
    for i in range(len(visitors)):
        req = replay.next(i)
        assert req.source.startswith("127.") and not req.source.startswith("127.0.")
        assert await webhooks.post_from(base, req) == 201
    app = client.app
    assert app is not None
    await app[PROCESSOR].idle()
    assert await app[STORE].event_counts() == {"done": len(visitors)}
