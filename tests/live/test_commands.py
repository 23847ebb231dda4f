"""`stitch telegram set-webhook`, `stitch avito subscribe` and `stitch max subscribe` against the fakes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from live_support import AVITO_SECRET, MAX_SECRET, TG_SECRET, Live, live_env

from app.cli import main
from connectors.avito.fake import FakeAvito
from connectors.max.fake import FakeMax
from connectors.telegram.fake import FakeTelegram
from connectors.whatsapp.fake import FakeTwilio


def run_cli(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], *argv: str) -> int:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return main(list(argv))


async def test_telegram_set_webhook_and_delete(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, telegram: FakeTelegram, twilio: FakeTwilio, avito: FakeAvito
) -> None:
    env = live_env(tmp_path, telegram, twilio, avito)
    code = await asyncio.to_thread(run_cli, monkeypatch, env, "telegram", "set-webhook")
    assert code == 0
    assert telegram.webhook_url == env["STITCH_PUBLIC_URL"] + "/webhooks/telegram"
    assert telegram.webhook_secret == TG_SECRET
    assert await asyncio.to_thread(run_cli, monkeypatch, env, "telegram", "set-webhook", "--delete") == 0
    assert telegram.webhook_url == ""


async def test_avito_subscribe_is_probed_on_the_live_route(
    monkeypatch: pytest.MonkeyPatch,
    live: Live,
    tmp_path: Path,
    telegram: FakeTelegram,
    twilio: FakeTwilio,
    avito: FakeAvito,
) -> None:
    env = live_env(tmp_path, telegram, twilio, avito)
    env["STITCH_PUBLIC_URL"] = live.base  # Avito must reach the running server with its `{}` probe
    assert await asyncio.to_thread(run_cli, monkeypatch, env, "avito", "subscribe") == 0
    assert [(s.url, s.probe_ok) for s in avito.subscriptions] == [(f"{live.base}/webhooks/avito/{AVITO_SECRET}", True)]


async def test_max_subscribe_and_unsubscribe(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    telegram: FakeTelegram,
    twilio: FakeTwilio,
    avito: FakeAvito,
    max_bot: FakeMax,
) -> None:
    env = live_env(tmp_path, telegram, twilio, avito, max_bot)
    url = "https://bot.example.com/webhooks/max"
    assert await asyncio.to_thread(run_cli, monkeypatch, env, "max", "subscribe", url) == 0
    assert (max_bot.webhook_url, max_bot.webhook_secret) == (url, MAX_SECRET)
    assert max_bot.state.update_types == ["message_created"]
    assert await asyncio.to_thread(run_cli, monkeypatch, env, "max", "unsubscribe", url) == 0
    assert max_bot.webhook_url == ""
    assert await asyncio.to_thread(run_cli, monkeypatch, env, "max", "subscribe") == 0
    assert max_bot.webhook_url == env["STITCH_PUBLIC_URL"] + "/webhooks/max"


def test_max_subscribe_names_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("STITCH_MAX_BOT_TOKEN", raising=False)
    assert main(["max", "subscribe", "https://bot.example.com/webhooks/max"]) == 2
    assert "STITCH_MAX_BOT_TOKEN" in capsys.readouterr().err
    monkeypatch.setenv("STITCH_MAX_BOT_TOKEN", "t")
    monkeypatch.delenv("STITCH_MAX_WEBHOOK_SECRET", raising=False)
    assert main(["max", "subscribe", "https://bot.example.com/webhooks/max"]) == 2
    assert "STITCH_MAX_WEBHOOK_SECRET" in capsys.readouterr().err


def test_missing_credentials_name_the_key(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("STITCH_TELEGRAM_BOT_TOKEN", raising=False)
    assert main(["telegram", "set-webhook"]) == 2
    assert "STITCH_TELEGRAM_BOT_TOKEN" in capsys.readouterr().err
