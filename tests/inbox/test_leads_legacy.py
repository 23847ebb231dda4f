"""Legacy lead practice and `stitch user add`."""

from __future__ import annotations

import io
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.cli import main
from core.records import LeadStatus, Person
from core.values import Channel, Message
from crm.leads import LeadBook
from resolver.service import Resolution
from store.base import BaseStore
from store.sqlite import SqliteStore

T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


def message(at: datetime, n: int) -> Message:
    return Message(
        event_id=f"e{n}",
        channel=Channel.TELEGRAM,
        account="bot",
        user_id="1",
        chat_id="1",
        provider_message_id=str(n),
        sent_at=at,
        received_at=at,
        text="hi",
    )


async def _closed_lead(store: BaseStore, book: LeadBook, status: LeadStatus) -> str:
    await store.add_person(Person(person_id="p1", created_at=T0, display_name="x"))
    lead = await book.on_message(Resolution(person_id="p1", profile_key="telegram:1"), message(T0, 1))
    await store.put_lead(replace(lead, status=status, junk_reason="spam" if status is LeadStatus.JUNK else ""))
    return lead.lead_id


@pytest.mark.parametrize("legacy", [False, True])
async def test_a_returning_customer_after_junk(sqlite_store: SqliteStore, legacy: bool) -> None:
    book = LeadBook(sqlite_store, legacy=legacy)
    first = await _closed_lead(sqlite_store, book, LeadStatus.JUNK)
    again = await book.on_message(
        Resolution(person_id="p1", profile_key="telegram:1", known_before=True), message(T0 + timedelta(days=2), 2)
    )
    if legacy:  # the same lead, reopened
        assert again.lead_id == first and again.status is LeadStatus.NEW and not again.junk_reason
    else:  # a new, repeat, lead
        assert again.lead_id != first and again.is_repeat


async def test_legacy_appends_to_the_converted_lead(sqlite_store: SqliteStore) -> None:
    book = LeadBook(sqlite_store, legacy=True)
    first = await _closed_lead(sqlite_store, book, LeadStatus.CONVERTED)
    again = await book.on_message(
        Resolution(person_id="p1", profile_key="telegram:1", known_before=True), message(T0 + timedelta(days=40), 2)
    )
    assert again.lead_id == first and again.status is LeadStatus.CONVERTED


def test_user_add_reads_the_password_and_refuses_short_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = f"sqlite:///{tmp_path / 'users.db'}"
    monkeypatch.setattr(sys, "stdin", io.StringIO("long-enough-password\n"))
    assert main(["user", "add", "Mia", "--role", "manager", "--store", store]) == 0
    assert "user mia added (manager)" in capsys.readouterr().out
    monkeypatch.setenv("STITCH_PASSWORD", "short")
    assert main(["user", "add", "bob", "--role", "admin", "--store", store]) == 1
    assert "at least 8 characters" in capsys.readouterr().err
    monkeypatch.setenv("STITCH_PASSWORD", "long-enough-password")
    assert main(["user", "add", "mia", "--role", "admin", "--store", store]) == 1
