"""`stitch telegram set-webhook` and `stitch avito subscribe` against the fakes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from live_support import AVITO_SECRET, TG_SECRET, Live, live_env

from app.cli import main
from connectors.fakes.avito import FakeAvito
from connectors.fakes.telegram import FakeTelegram
from connectors.fakes.twilio import FakeTwilio


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


def test_missing_credentials_name_the_key(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("STITCH_TELEGRAM_BOT_TOKEN", raising=False)
    assert main(["telegram", "set-webhook"]) == 2
    assert "STITCH_TELEGRAM_BOT_TOKEN" in capsys.readouterr().err
