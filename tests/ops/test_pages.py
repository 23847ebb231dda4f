"""Every ops page, served by the real app on a loopback port."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from ops_support import OFFICE_PHONE, Running, start

from app.probes import PROBES
from core.config import Settings
from core.records import MergeKind, OutboxItem, OutboxStatus
from core.values import Channel
from store.sqlite import SqliteStore


async def get(running: Running, path: str, status: int = 200) -> str:
    async with running.session.get(running.url(path), allow_redirects=False) as r:
        text = await r.text()
        assert r.status == status, text[:500]
        return text


async def test_overview_links_every_page(running: Running, customer: str) -> None:
    html = await get(running, "/ops/")
    for href in ("/ops/sizes", "/ops/merges", "/ops/shared", "/ops/review", "/ops/failures"):
        assert f'href="{href}"' in html
    assert "No person is larger than 4 profiles" in html
    async with running.session.get(running.url("/ops/find?q=telegram:5651074222"), allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"] == f"/ops/persons/{customer}"
    await get(running, "/ops/find?q=nobody", status=404)


async def test_person_graph_is_an_svg_of_profiles_identifiers_and_evidence(running: Running, customer: str) -> None:
    html = await get(running, f"/ops/persons/{customer}")
    assert html.count('class="node profile"') == 4
    assert 'class="node identifier' in html
    assert 'class="edge evidence"' in html
    assert "Саша Петров" in html and "webform:" in html
    # Evidence edges are labelled with their strength in words and why, never a weight in bits.
    labels = re.findall(r'<g class="edge-label"><title>([^<]*)</title>', html)
    assert labels and all(re.match(r"(certain|strong|likely|weak) \(", label) for label in labels), labels
    assert "strong (over 99% likely the same person): same question on Avito and Telegram 3 min apart" in labels[0]
    assert not re.search(r"\d+\.\d: ", html)
    svg = await get(running, f"/ops/persons/{customer}/graph.svg")
    assert svg.startswith("<svg") and svg.count('class="node profile"') == 4
    await get(running, "/ops/persons/p_missing", status=404)


async def test_explain_walks_the_path_between_two_profiles(running: Running, customer: str) -> None:
    html = await get(running, "/ops/explain?a=telegram:5651074222&b=whatsapp:%2B79123456789")
    steps = re.findall(r"<li>(.*?)</li>", html)
    assert steps, html
    assert "telegram:5651074222" in steps[0]
    # An evidence step reads as the inbox words it: strength, channels, why; no weight in bits.
    html = await get(running, "/ops/explain?a=telegram:5651074222&b=avito:28834512")
    [step] = re.findall(r"<li>(.*?)</li>", html)
    words = re.sub(r"<[^>]+>", "", step)
    assert words == (
        "telegram:5651074222 → avito:28834512: strong same question on Telegram and Avito 3 min apart;"
        " Александр П. ≈ Саша Петров (over 99% likely the same person)"
    )
    assert 'stroke="#1b4fd8"' in html  # the path is drawn
    # Person ids work too: explaining a merge's two sides.
    merge = (await running.app[__import__("app.keys").keys.STORE].merges(limit=1))[0]
    html = await get(running, f"/ops/explain?a={merge.into}&b={merge.from_}")
    assert "<ol class='steps'" in html
    await get(running, "/ops/explain?a=telegram:5651074222", status=400)


async def test_merges_list_and_one_click_split(running: Running, customer: str, ops_store: SqliteStore) -> None:
    html = await get(running, "/ops/merges")
    merge_ids = re.findall(r'data-merge="([^"]+)"', html)
    assert len(merge_ids) == 3
    csrf = re.search(r'name="csrf" value="([^"]+)"', html)
    assert csrf is not None
    target = merge_ids[0]
    # A forged form (no or wrong token) changes nothing.
    async with running.session.post(running.url(f"/ops/merges/{target}/split"), data={"csrf": "forged"}) as r:
        assert r.status == 403
    assert (await ops_store.get_merge(target)).undone_by is None  # type: ignore[union-attr]
    async with running.session.post(
        running.url(f"/ops/merges/{target}/split"), data={"csrf": csrf.group(1)}, allow_redirects=False
    ) as r:
        assert r.status == 303
        assert r.headers["Location"] == f"/ops/merges?split={target}"
    record = await ops_store.get_merge(target)
    assert record is not None and record.undone_by is not None
    split = await ops_store.get_merge(record.undone_by)
    assert split is not None and split.kind is MergeKind.SPLIT and split.actor == "ops@loopback"
    # Written to the audit log like a split made in the inbox.
    [entry] = [a for a in await ops_store.audit_log() if a.action == "split"]
    assert entry.actor == "ops@loopback" and entry.target == target and entry.person_id == record.into
    html = await get(running, f"/ops/merges?split={target}")
    assert f"Split {target}" in html and f"split by {record.undone_by}" in html
    # Splitting twice is refused, not an error page.
    async with running.session.post(running.url(f"/ops/merges/{target}/split"), data={"csrf": csrf.group(1)}) as r:
        assert r.status == 409


async def test_shared_identifiers_and_the_generic_rule(running: Running, office: str) -> None:
    html = await get(running, "/ops/shared")
    assert "phone:+7 495 ***-**-67" in html and OFFICE_PHONE not in html
    assert "Ирина Соколова" in html and "Олег Смирнов" in html
    assert "Blocked generic values" in html
    assert "test@test.com" in html and "0000000" in html
    # Every listed example is blocked by the live rule.
    assert ">no<" not in html


async def test_sizes_histogram_and_largest(running: Running, customer: str) -> None:
    html = await get(running, "/ops/sizes")
    assert "<td>4</td><td>1</td>" in html
    assert customer in html
    assert "No person is larger than 4 profiles" in html


async def test_review_queue_backlog(running: Running, customer: str, ops_store: SqliteStore) -> None:
    from core.records import Suggestion

    async with ops_store.atomic():
        await ops_store.add_suggestion(
            Suggestion(
                suggestion_id="g1", a=customer, b="p_other", score=8.0, evidence=(), created_at=datetime.now(UTC)
            )
        )
    html = await get(running, "/ops/review")
    assert "<b>1</b> suggestions wait" in html and "g1" in html
    # A score kept before match probabilities is not shown as one.
    assert "<th>match probability</th>" in html and "8.0" not in html
    assert re.search(r"not measured</span> <span class=\"strength s-not-rated\"", html)
    async with ops_store.atomic():
        await ops_store.add_suggestion(
            Suggestion(suggestion_id="g2", a=customer, b="p_x", score=0.84, evidence=(), created_at=datetime.now(UTC))
        )
    html = await get(running, "/ops/review")
    assert re.search(r"84%</span> <span class=\"strength s-likely\"[^>]*>.*?</span>likely</span>", html)


@dataclass(frozen=True, slots=True, kw_only=True)
class Dead:
    entry_id: str
    event_id: str
    reason: str
    deliveries: int
    at: float


async def test_dead_letters_from_the_provider_and_failed_replies(running: Running, ops_store: SqliteStore) -> None:
    html = await get(running, "/ops/failures")
    assert html.count("None.") == 2

    async def dead_letters(limit: int) -> list[Dead]:
        return [Dead(entry_id="1-0", event_id="ev-dead", reason="parse error", deliveries=5, at=1790000000.0)][:limit]

    running.app[PROBES].dead_letters = dead_letters
    now = datetime.now(UTC)
    item = OutboxItem(
        id="o_failed",
        person_id="p1",
        profile_key="telegram:1",
        channel=Channel.TELEGRAM,
        text="reply",
        status=OutboxStatus.FAILED,
        created_at=now,
        updated_at=now,
        actor="anna",
        attempts=5,
        error="403 bot was blocked by the user",
    )
    async with ops_store.atomic():
        await ops_store.add_outbox(item)
    html = await get(running, "/ops/failures")
    assert "ev-dead" in html and "parse error" in html
    assert "o_failed" in html and "bot was blocked" in html


async def test_access_needs_the_token_when_one_is_set(ops_settings: Settings, ops_store: SqliteStore) -> None:
    running = await start(replace(ops_settings, ops_token="ops-secret-token"), ops_store)
    try:
        async with running.session.get(running.url("/ops/"), allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/ops/login"
        async with running.session.post(running.url("/ops/merges/m1/split"), data={}) as r:
            assert r.status == 403
        headers = {"Authorization": "Bearer ops-secret-token"}
        async with running.session.get(running.url("/ops/"), headers=headers) as r:
            assert r.status == 200
        async with running.session.post(running.url("/ops/login"), data={"token": "wrong"}) as r:
            assert r.status == 403
        async with running.session.post(running.url("/ops/login"), data={"token": "ops-secret-token"}) as r:
            assert r.status == 200 and "Overview" in await r.text()  # the cookie carries on
    finally:
        await running.stop()


async def test_without_a_token_only_loopback_clients_are_let_in() -> None:
    from unittest.mock import Mock

    from app.ops.access import TokenOrLoopback

    hook = TokenOrLoopback("")
    assert await hook(Mock(remote="127.0.0.1")) is not None
    assert await hook(Mock(remote="::1")) is not None
    assert await hook(Mock(remote="203.0.113.9")) is None
    assert await hook(Mock(remote=None)) is None
