"""An over-merge planted through a shared office phone is listed, alarmed, explained and undone."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from ops_support import COLLEAGUES, OFFICE_PHONE, Running

from app.cli import main
from store.sqlite import SqliteStore


async def test_office_phone_over_merge_is_listed_and_alarmed(running: Running, office: str) -> None:
    async with running.session.get(running.url("/ops/")) as r:
        html = await r.text()
    assert 'role="alert"' in html and office in html and "5 profiles" in html
    async with running.session.get(running.url("/ops/sizes")) as r:
        html = await r.text()
    assert 'class="row-alarm"' in html and "Alarm:" in html
    async with running.session.get(running.url("/ops/shared")) as r:
        html = await r.text()
    # Listed masked, like every phone on the ops pages.
    assert "phone:+7 495 ***-**-67" in html and all(name in html for name in COLLEAGUES)
    assert OFFICE_PHONE not in html
    async with running.session.get(running.url(f"/ops/persons/{office}")) as r:
        html = await r.text()
    assert 'role="alert"' in html and "(shared)" in html
    async with running.session.get(running.url("/metrics")) as r:
        metrics = await r.text()
    assert "stitch_persons_over_alarm 1.0" in metrics and "stitch_person_profiles_max 5.0" in metrics


def cli(*argv: str) -> int:
    return main(list(argv))


async def test_graph_commands(
    office: str, ops_store: SqliteStore, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STITCH_MAX_PROFILES", "4")
    url = ops_store.url
    assert await asyncio.to_thread(cli, "graph", "stats", "--store", url) == 1
    out = capsys.readouterr().out
    assert f"{office}     5" in out and "ALARM: 1 person(s) larger than 4 profiles" in out
    assert "shared identifiers: 1" in out

    code = await asyncio.to_thread(cli, "graph", "explain", "webform:visitor-office-0", "p_office2", "--store", url)
    assert code == 0
    out = capsys.readouterr().out
    assert "webform:visitor-office-0" in out and "webform:visitor-office-2" in out
    assert "shares phone:" + OFFICE_PHONE in out or "evidence 14.0" in out

    merge = next(m for m in await ops_store.merges() if m.from_ == "p_office4")
    assert await asyncio.to_thread(cli, "graph", "split", merge.merge_id, "--store", url) == 0
    assert "p_office4 is separate from" in capsys.readouterr().out
    assert await ops_store.root_of("p_office4") == "p_office4"
    assert await asyncio.to_thread(cli, "graph", "split", merge.merge_id, "--store", url) == 1
    assert "already split" in capsys.readouterr().err
    assert await asyncio.to_thread(cli, "graph", "explain", "nobody", "p_office1", "--store", url) == 1


async def test_stats_without_alarm_exits_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = SqliteStore(tmp_path / "empty.db")  # `graph stats` reads a store, it never creates one
    await empty.open()
    await empty.close()
    assert await asyncio.to_thread(cli, "graph", "stats", "--store", f"sqlite:///{tmp_path / 'empty.db'}") == 0
    assert "persons 0" in capsys.readouterr().out
