"""Bitrix24Client against FakeBitrix24: wire format, multifields, batch, paging, limits, outages.

One manual clock drives the client's bucket, its sleeps and the fake's limiter, so nothing waits for
real and nothing asserts on elapsed time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import ConfigError, ProviderError
from crm.bitrix24.client import Bitrix24Client, WebhookUrl
from crm.bitrix24.errors import (
    Bitrix24AuthError,
    Bitrix24Error,
    Bitrix24MethodNotFound,
    Bitrix24NotFound,
    Bitrix24Throttled,
    classify,
)
from crm.bitrix24.fake import FakeBitrix24
from crm.bitrix24.query import http_build_query, parse_php_query
from crm.bitrix24.throttle import LeakyBucket

CONTACT = 3


class ManualClock:
    """Monotonic and wall clock in one; `sleep` advances it instead of waiting."""

    def __init__(self, start: float = 1_750_000_000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def fake(clock: ManualClock) -> AsyncIterator[FakeBitrix24]:
    server = FakeBitrix24(clock=clock, wall_clock=clock)
    await server.start()
    yield server
    await server.close()


def make_client(url: str, clock: ManualClock, **opts: Any) -> Bitrix24Client:
    opts.setdefault("bucket", LeakyBucket(clock=clock, sleep=clock.sleep))
    return Bitrix24Client.from_url(url, sleep=clock.sleep, wall_clock=clock, **opts)


@pytest.fixture
async def client(fake: FakeBitrix24, clock: ManualClock) -> AsyncIterator[Bitrix24Client]:
    c = make_client(fake.url, clock)
    yield c
    await c.close()


# -- entities and multifields ----------------------------------------------------------------


async def test_contact_multifields_survive_update(client: Bitrix24Client) -> None:
    cid = await client.add(
        "contact",
        {
            "NAME": "Anna",
            "PHONE": [{"VALUE": "+7 900 111-22-33", "VALUE_TYPE": "MOBILE"}, {"VALUE": "+7 900 000-00-00"}],
            "EMAIL": [{"VALUE": "anna@example.com", "VALUE_TYPE": "WORK"}],
        },
    )
    assert isinstance(cid, int)
    got = await client.get("contact", cid)
    assert got["ID"] == str(cid)
    mobile, work = got["PHONE"]
    assert mobile["VALUE_TYPE"] == "MOBILE" and mobile["TYPE_ID"] == "PHONE"
    assert isinstance(mobile["ID"], str)

    assert await client.update(
        "contact",
        cid,
        {
            "PHONE": [
                {"ID": mobile["ID"], "VALUE": "+7 900 111-22-44", "VALUE_TYPE": "MOBILE"},  # change
                {"ID": work["ID"], "DELETE": "Y"},  # delete
                {"VALUE": "+7 900 555-55-55", "VALUE_TYPE": "WORK"},  # add
            ],
            "IM": [{"VALUE": "tg:12345", "VALUE_TYPE": "TELEGRAM"}],
        },
    )
    got = await client.get("contact", cid)
    assert [p["VALUE"] for p in got["PHONE"]] == ["+7 900 111-22-44", "+7 900 555-55-55"]
    assert got["EMAIL"][0]["VALUE"] == "anna@example.com"  # not mentioned: kept
    assert got["IM"][0]["VALUE_TYPE"] == "TELEGRAM"
    assert got["NAME"] == "Anna"

    # An item with its ID alone, or an empty VALUE, deletes; nothing else is dropped.
    await client.update(
        "contact",
        cid,
        {"PHONE": [{"ID": got["PHONE"][0]["ID"]}], "EMAIL": [{"ID": got["EMAIL"][0]["ID"], "VALUE": ""}]},
    )
    got = await client.get("contact", cid)
    assert [p["VALUE"] for p in got["PHONE"]] == ["+7 900 555-55-55"]
    assert "EMAIL" not in got and got["HAS_EMAIL"] == "N"
    assert got["IM"][0]["VALUE"] == "tg:12345"


async def test_get_missing_is_not_found_with_empty_code(client: Bitrix24Client) -> None:
    with pytest.raises(Bitrix24NotFound) as info:
        await client.get("lead", 999)
    assert info.value.code == "" and info.value.description == "Not found"
    assert info.value.status == 400
    assert isinstance(info.value, ProviderError) and not info.value.retryable


async def test_find_by_comm_empty_and_hit(client: Bitrix24Client, fake: FakeBitrix24) -> None:
    assert await client.find_by_comm("PHONE", ["+79001112233"]) == {}
    cid = await client.add("contact", {"NAME": "A", "PHONE": [{"VALUE": "+7 (900) 111-22-33"}]})
    lid = await client.add("lead", {"TITLE": "L", "EMAIL": [{"VALUE": "A@Example.com"}]})
    assert await client.find_by_comm("PHONE", ["79001112233"]) == {"CONTACT": [cid]}
    assert await client.find_by_comm("EMAIL", ["a@example.com"], "LEAD") == {"LEAD": [lid]}
    assert await client.find_by_comm("EMAIL", ["a@example.com"], "CONTACT") == {}
    # more than the 20-value limit: split into two calls
    before = len(fake.calls_to("crm.duplicate.findbycomm"))
    values = [f"+7900000{i:04d}" for i in range(25)] + ["+79001112233"]
    assert await client.find_by_comm("PHONE", values) == {"CONTACT": [cid]}
    assert len(fake.calls_to("crm.duplicate.findbycomm")) - before == 2


async def test_lead_with_contact_is_return_customer(client: Bitrix24Client) -> None:
    cid = await client.add("contact", {"NAME": "Repeat"})
    fresh = await client.add("lead", {"TITLE": "first"})
    repeat = await client.add("lead", {"TITLE": "again", "CONTACT_ID": cid, "IS_RETURN_CUSTOMER": "N"})
    assert (await client.get("lead", fresh))["IS_RETURN_CUSTOMER"] == "N"
    got = await client.get("lead", repeat)
    assert got["IS_RETURN_CUSTOMER"] == "Y" and got["CONTACT_ID"] == str(cid)
    await client.update("lead", fresh, {"COMPANY_ID": await client.add("company", {"TITLE": "Co"})})
    assert (await client.get("lead", fresh))["IS_RETURN_CUSTOMER"] == "Y"


async def test_merge_success_and_conflict(client: Bitrix24Client, fake: FakeBitrix24) -> None:
    keep = await client.add("contact", {"NAME": "Ivan", "PHONE": [{"VALUE": "+79001"}]})
    gone = await client.add("contact", {"NAME": "ivan", "LAST_NAME": "Petrov", "PHONE": [{"VALUE": "+79002"}]})
    result = await client.merge(CONTACT, [keep, gone])
    assert result.status == "SUCCESS" and result.merged and result.deleted_ids == (gone,)
    with pytest.raises(Bitrix24NotFound):
        await client.get("contact", gone)
    merged = await client.get("contact", keep)
    assert {p["VALUE"] for p in merged["PHONE"]} == {"+79001", "+79002"}
    assert merged["LAST_NAME"] == "Petrov"

    other = await client.add("contact", {"NAME": "Oleg"})
    conflict = await client.merge(CONTACT, [keep, other])
    assert conflict.status == "CONFLICT" and conflict.deleted_ids == ()
    assert set(fake.entities["contact"]) == {keep, other}

    fake.merge_conflict_fields = frozenset()  # the switch: no field blocks a merge
    assert (await client.merge(CONTACT, [keep, other])).deleted_ids == (other,)


async def test_merge_missing_entity_integer_error_code(client: Bitrix24Client) -> None:
    keep = await client.add("contact", {"NAME": "A"})
    with pytest.raises(Bitrix24NotFound) as info:
        await client.merge(CONTACT, [keep, 12345])
    assert info.value.code == ""  # "error": 0 means no code


async def test_timeline_comment_uses_lowercase_fields(client: Bitrix24Client, fake: FakeBitrix24) -> None:
    lid = await client.add("lead", {"TITLE": "x"})
    comment_id = await client.timeline_comment("LEAD", lid, "Hello from Telegram")
    assert isinstance(comment_id, int)
    assert fake.comments[comment_id] == {"ENTITY_TYPE": "lead", "ENTITY_ID": lid, "COMMENT": "Hello from Telegram"}
    assert "fields" in fake.calls_to("crm.timeline.comment.add")[-1].params
    with pytest.raises(Bitrix24Error) as info:  # the fake refuses upper-case FIELDS here only
        await client.call(
            "crm.timeline.comment.add", {"FIELDS": {"ENTITY_TYPE": "lead", "ENTITY_ID": lid, "COMMENT": "x"}}
        )
    assert info.value.code == "INVALID_ARG_VALUE"
    with pytest.raises(Bitrix24NotFound):
        await client.timeline_comment("lead", 999, "x")


async def test_uppercase_fields_accepted_for_crm_add(client: Bitrix24Client, fake: FakeBitrix24) -> None:
    for key in ("FIELDS", "Fields", "arFields"):
        ident = await client.call("crm.contact.add", {key: {"NAME": key}})
        assert fake.entities["contact"][ident]["NAME"] == key


async def test_todo_add(client: Bitrix24Client, fake: FakeBitrix24) -> None:
    cid = await client.add("contact", {"NAME": "A"})
    todo = await client.todo_add(CONTACT, cid, "2025-02-03T15:00:00", "Reply", "WhatsApp message", 1)
    assert fake.todos[todo]["ownerId"] == cid and fake.todos[todo]["responsibleId"] == 1
    with pytest.raises(Bitrix24NotFound):
        await client.todo_add(CONTACT, 999, "2025-02-03T15:00:00", "Reply")


# -- batch and paging --------------------------------------------------------------------------


async def test_batch_splits_and_resolves_references(client: Bitrix24Client, fake: FakeBitrix24) -> None:
    cmds: dict[str, tuple[str, dict[str, Any]]] = {
        f"c_{i}": ("crm.contact.add", {"fields": {"NAME": f"N{i} & co", "PHONE": [{"VALUE": f"+7900{i:04d}"}]}})
        for i in range(55)
    }
    # c_0 is answered in the first call (filled in by the client), c_54 in the same call (by the server)
    cmds["lead_a"] = ("crm.lead.add", {"fields": {"TITLE": "A", "CONTACT_ID": "$result[c_0]"}})
    cmds["lead_b"] = ("crm.lead.add", {"fields": {"TITLE": "B", "CONTACT_ID": "$result[c_54]"}})
    cmds["missing"] = ("crm.contact.get", {"id": 99999})
    cmds["get_b"] = ("crm.lead.get", {"id": "$result[lead_b]"})
    result = await client.batch(cmds)

    assert len(fake.calls_to("batch")) == 2
    assert len(fake.entities["contact"]) == 55
    assert fake.entities["contact"][result.results["c_3"]]["NAME"] == "N3 & co"
    lead_a = fake.entities["lead"][result.results["lead_a"]]
    lead_b = fake.entities["lead"][result.results["lead_b"]]
    assert lead_a["CONTACT_ID"] == str(result.results["c_0"]) and lead_a["IS_RETURN_CUSTOMER"] == "Y"
    assert lead_b["CONTACT_ID"] == str(result.results["c_54"]) and lead_b["IS_RETURN_CUSTOMER"] == "Y"
    assert result.results["get_b"]["TITLE"] == "B"
    assert set(result.errors) == {"missing"}
    assert isinstance(result.errors["missing"], Bitrix24NotFound)


async def test_batch_halt_stops_at_first_error(client: Bitrix24Client, fake: FakeBitrix24) -> None:
    result = await client.batch(
        {
            "a": ("crm.contact.add", {"fields": {"NAME": "a"}}),
            "bad": ("crm.contact.get", {"id": 404}),
            "b": ("crm.contact.add", {"fields": {"NAME": "b"}}),
        },
        halt=True,
    )
    assert set(result.results) == {"a"} and set(result.errors) == {"bad"}
    assert [r["NAME"] for r in fake.entities["contact"].values()] == ["a"]


async def test_batch_rejects_numeric_keys(client: Bitrix24Client) -> None:
    with pytest.raises(ValueError, match="non-numeric"):
        await client.batch({"17": ("crm.lead.get", {"id": 1})})


async def test_fake_batch_php_quirks(fake: FakeBitrix24) -> None:
    async with aiohttp.ClientSession() as session:
        # numeric keys: result_error comes back as a list with the keys lost; empty maps as []
        async with session.post(
            fake.url + "batch",
            json={"halt": 0, "cmd": {"0": "crm.contact.add?fields[NAME]=x", "1": "crm.lead.get?id=77"}},
        ) as resp:
            body = await resp.json()
        assert body["result"]["result_error"] == [{"error": "", "error_description": "Not found"}]
        assert body["result"]["result_total"] == [] and "time" in body
        too_many = {"cmd": {f"k{i}": "scope" for i in range(51)}}
        async with session.post(fake.url + "batch", json=too_many) as resp:
            assert resp.status == 400
            assert (await resp.json())["error"] == "ERROR_BATCH_LENGTH_EXCEEDED"


async def test_fake_accepts_php_form_bodies(fake: FakeBitrix24) -> None:
    form = "fields[NAME]=A%26B&fields[PHONE][0][VALUE]=%2B7900&fields[PHONE][0][VALUE_TYPE]=MOBILE"
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            fake.url + "crm.contact.add.json",
            data=form,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ) as resp,
    ):
        body = await resp.json()
    rec = fake.entities["contact"][body["result"]]
    assert rec["NAME"] == "A&B" and rec["PHONE"][0]["VALUE"] == "+7900"
    assert rec["PHONE"][0]["VALUE_TYPE"] == "MOBILE"


async def test_list_all_pages_past_fifty(client: Bitrix24Client, fake: FakeBitrix24) -> None:
    for i in range(120):
        fake.seed("contact", {"NAME": f"n{i}", "PHONE": [{"VALUE": f"+7{i}"}]})
    rows = await client.list_all("crm.contact.list", {"select": ["NAME", "PHONE"], "filter": {"%NAME": "n"}})
    assert [int(r["ID"]) for r in rows] == list(range(1, 121))
    assert rows[0]["PHONE"][0]["VALUE"] == "+70"
    calls = fake.calls_to("crm.contact.list")
    assert len(calls) == 3 and all(c.params["start"] == -1 for c in calls)
    page = await client.call_raw("crm.contact.list", {"start": 50})
    assert page["total"] == 120 and page["next"] == 100 and len(page["result"]) == 50
    assert "PHONE" not in page["result"][0]  # "*" excludes multifields


# -- limits and outages ------------------------------------------------------------------------


async def test_throttled_adds_back_off_without_loss_or_duplicates(fake: FakeBitrix24, clock: ManualClock) -> None:
    # A client bucket far looser than the portal's, as if other apps on this IP shared the limit.
    loose = LeakyBucket(rate=1000.0, burst=1000, clock=clock, sleep=clock.sleep)
    client = make_client(fake.url, clock, bucket=loose, max_retries=10)
    try:
        names = [f"person {i}" for i in range(80)]
        ids = await asyncio.gather(*(client.add("contact", {"NAME": n}) for n in names))
    finally:
        await client.close()
    assert any(c.status == 503 for c in fake.calls)
    assert len(set(ids)) == 80
    assert sorted(r["NAME"] for r in fake.entities["contact"].values()) == sorted(names)


async def test_client_bucket_stays_under_portal_limit(client: Bitrix24Client, fake: FakeBitrix24) -> None:
    for i in range(70):
        await client.add("contact", {"NAME": str(i)})
    assert all(c.status == 200 for c in fake.calls)
    assert len(fake.entities["contact"]) == 70


async def test_fill_bucket_then_recovers(client: Bitrix24Client, fake: FakeBitrix24) -> None:
    fake.fill_bucket()
    assert await client.scopes() == {"crm", "user"}
    assert [c.status for c in fake.calls_to("scope")] == [503, 200]


@pytest.mark.parametrize("status", [503, 500])
async def test_down_for_n_calls_is_retried(client: Bitrix24Client, fake: FakeBitrix24, status: int) -> None:
    fake.go_down(3, status=status)
    cid = await client.add("contact", {"NAME": "after outage"})
    assert [c.status for c in fake.calls] == [status] * 3 + [200]
    assert list(fake.entities["contact"]) == [cid]


async def test_down_longer_than_retries_raises(fake: FakeBitrix24, clock: ManualClock) -> None:
    client = make_client(fake.url, clock, max_retries=2)
    fake.go_down(10, status=500)
    try:
        with pytest.raises(Bitrix24Error) as info:
            await client.scopes()
    finally:
        await client.close()
    assert info.value.status == 500 and info.value.retryable
    assert len(fake.calls) == 3


async def test_operation_time_limit_waits_for_reset(
    client: Bitrix24Client, fake: FakeBitrix24, clock: ManualClock
) -> None:
    fake.limit_operations(1, reset_in=42.0)
    assert await client.crm_mode() == "classic"
    assert 42.0 in clock.slept


def test_error_classification_order() -> None:
    assert isinstance(classify(503, {"error": "QUERY_LIMIT_EXCEEDED"}), Bitrix24Throttled)
    limited = classify(429, {"error": "OPERATION_TIME_LIMIT", "time": {"operating_reset_at": 10.5}})
    assert isinstance(limited, Bitrix24Throttled) and limited.reset_at == 10.5
    assert isinstance(classify(400, {"error": "", "error_description": "Not found"}), Bitrix24NotFound)
    assert isinstance(classify(400, {"error": "OWNER_NOT_FOUND"}), Bitrix24NotFound)
    assert isinstance(classify(403, {"error": "insufficient_scope"}), Bitrix24AuthError)
    assert isinstance(classify(401, {}), Bitrix24AuthError)
    assert isinstance(classify(404, {}), Bitrix24MethodNotFound)
    assert type(classify(400, {"error": "", "error_description": "Invalid value"})) is Bitrix24Error


# -- start-up checks ---------------------------------------------------------------------------


async def test_wrong_code_is_a_clear_auth_error(
    fake: FakeBitrix24, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    bad_code = "wrongcode0123456"
    client = make_client(fake.url.replace(fake.code, bad_code), clock)
    caplog.set_level(logging.DEBUG)
    try:
        with pytest.raises(Bitrix24AuthError) as info:
            await client.check()
    finally:
        await client.close()
    message = str(info.value)
    assert "NO_AUTH_FOUND" in message and "STITCH_BITRIX24_WEBHOOK_URL" in message
    assert "webhook code was rejected" in message
    assert bad_code not in message and bad_code not in repr(client)
    assert all(bad_code not in r.getMessage() and bad_code not in str(r.__dict__) for r in caplog.records)
    assert len(fake.calls) == 1  # not retried


async def test_check_reports_mode_and_missing_scopes(client: Bitrix24Client, fake: FakeBitrix24) -> None:
    ok = await client.check()
    assert ok.ok and ok.mode == "classic" and ok.missing_optional == ()
    fake.mode = "simple"
    assert await client.crm_mode() == "simple"
    fake.scopes = ["user"]
    bad = await client.check()
    assert not bad.ok and bad.missing == ("crm",) and bad.mode is None
    fake.scopes = ["crm"]
    assert (await client.check()).missing_optional == ("user",)


async def test_unknown_method(client: Bitrix24Client) -> None:
    with pytest.raises(Bitrix24MethodNotFound) as info:
        await client.call("crm.nothing.here")
    assert info.value.status == 404 and info.value.code == "ERROR_METHOD_NOT_FOUND"


async def test_statuses(client: Bitrix24Client) -> None:
    sources = await client.status_list("SOURCE")
    assert "WEB" in {s["STATUS_ID"] for s in sources}
    await client.status_add("SOURCE", "STITCH_AVITO", "Avito (Stitch)")
    added = [s for s in await client.status_list("SOURCE") if s["STATUS_ID"] == "STITCH_AVITO"]
    assert added[0]["SYSTEM"] == "N"
    with pytest.raises(Bitrix24Error):
        await client.status_add("SOURCE", "STITCH_AVITO", "again")


def test_webhook_url_hides_code_and_validates() -> None:
    url = WebhookUrl.parse("https://acme.bitrix24.ru/rest/7/s3cr3tcode/")
    assert url.user_id == 7 and url.portal == "acme.bitrix24.ru"
    assert "s3cr3tcode" not in str(url) and "s3cr3tcode" not in repr(url)
    with pytest.raises(ConfigError) as info:
        WebhookUrl.parse("https://acme.bitrix24.ru/rest/s3cr3tcode")
    assert info.value.key == "STITCH_BITRIX24_WEBHOOK_URL" and "s3cr3tcode" not in str(info.value)


async def test_injected_session_is_not_closed(fake: FakeBitrix24, clock: ManualClock) -> None:
    async with aiohttp.ClientSession() as session:
        client = Bitrix24Client(session, fake.url, bucket=LeakyBucket(clock=clock, sleep=clock.sleep))
        assert await client.crm_mode() == "classic"
        await client.close()
        assert not session.closed


# -- encoding ----------------------------------------------------------------------------------

_names = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ_", min_size=1, max_size=8)
_values = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=12)
_tree = st.recursive(
    _values,
    lambda inner: st.dictionaries(_names, inner, min_size=1, max_size=3) | st.lists(inner, min_size=1, max_size=3),
    max_leaves=8,
)


@given(st.dictionaries(_names, _tree, min_size=1, max_size=4))
def test_php_query_round_trip(params: dict[str, Any]) -> None:
    assert parse_php_query(http_build_query(params)) == params


def test_php_query_matches_bitrix_example() -> None:
    query = http_build_query({"fields": {"TITLE": "A&B", "PHONE": [{"VALUE": "+7 900"}]}})
    assert query == "fields[TITLE]=A%26B&fields[PHONE][0][VALUE]=%2B7+900"
