"""Contact details on the ops pages follow the inbox's policy: masked, shown whole only through an
admin's audited reveal; forms name profiles by opaque references."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from ops_support import OFFICE_PHONE, Running
from test_pages import get

from app.inbox.auth import add_user
from app.masking import ProfileRefs, mask_key, mask_text
from core.inbox import Role
from core.records import OutboxItem, OutboxStatus
from core.values import Channel
from store.base import BaseStore
from store.sqlite import SqliteStore

PASSWORD = "correct-horse-1"
PHONE = "+79123456789"  # the impatient customer's
EMAIL = "a.petrov@mail.ru"
RAW = (PHONE, PHONE[1:], EMAIL, OFFICE_PHONE)


def assert_masked(html: str) -> None:
    for value in RAW:
        assert value not in html, value


async def test_the_ops_pages_show_phones_and_e_mails_masked(running: Running, customer: str, office: str) -> None:
    page = await get(running, f"/ops/persons/{customer}")
    assert_masked(page)
    assert "whatsapp:+7 912 ***-**-89" in page and "phone:+7 912 ***-**-89" in page
    assert "an admin can show them" in page and "Show contact details" not in page
    assert_masked(await get(running, f"/ops/persons/{customer}/graph.svg"))
    assert_masked(await get(running, "/ops/shared"))
    assert_masked(await get(running, f"/ops/persons/{office}"))
    # A key typed by the operator still finds its path; the answer names it masked.
    explained = await get(running, f"/ops/explain?a=telegram:5651074222&b=whatsapp:%2B{PHONE[1:]}")
    assert "<ol class='steps'" in explained
    assert_masked(explained)


async def test_the_explain_form_names_profiles_by_reference(running: Running, customer: str) -> None:
    page = await get(running, f"/ops/persons/{customer}")
    refs = re.findall(r'<option value="(r_[0-9a-f]+)"', page)
    assert len(set(refs)) == 4  # each of the four profiles, in both selects
    html = await get(running, f"/ops/explain?person={customer}&a={refs[0]}&b={refs[1]}")
    assert "<ol class='steps'" in html
    assert_masked(html)
    # A reference resolves against the person it was issued for only.
    await get(running, f"/ops/explain?person={customer}&a={refs[0]}&b=r_000000000000000000000000", status=404)
    await get(running, f"/ops/explain?a={refs[0]}&b={refs[1]}", status=404)


async def test_failure_texts_are_masked(running: Running, ops_store: SqliteStore) -> None:
    now = datetime.now(UTC)
    item = OutboxItem(
        id="o_refused",
        person_id="p1",
        profile_key=f"whatsapp:{PHONE}",
        channel=Channel.WHATSAPP,
        text="reply",
        status=OutboxStatus.FAILED,
        created_at=now,
        updated_at=now,
        actor="anna",
        attempts=1,
        error=f"21211 The 'To' number {PHONE} is not a valid phone number",
    )
    async with ops_store.atomic():
        await ops_store.add_outbox(item)
    html = await get(running, "/ops/failures")
    assert "The &#x27;To&#x27; number +7 912 ***-**-89 is not" in html
    assert_masked(html)


@pytest.fixture
async def logged_in(running: Running, ops_store: SqliteStore) -> AsyncIterator[dict[str, aiohttp.ClientSession]]:
    await add_user(ops_store, "otto", Role.OPS, PASSWORD)
    await add_user(ops_store, "ada", Role.ADMIN, PASSWORD)
    sessions = {}
    try:
        for name in ("otto", "ada"):
            session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
            sessions[name] = session
            async with session.post(running.url("/api/login"), json={"name": name, "password": PASSWORD}) as r:
                assert r.status == 200
        yield sessions
    finally:
        for session in sessions.values():
            await session.close()


async def _page(session: aiohttp.ClientSession, url: str, *, status: int = 200, csrf: str | None = None) -> str:
    if csrf is None:
        async with session.get(url) as r:
            text = await r.text()
    else:
        async with session.post(url, data={"csrf": csrf}) as r:
            text = await r.text()
    assert r.status == status, text[:300]
    return text


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


async def test_only_an_admin_shows_contact_details_and_the_audit_log_records_it(
    running: Running, ops_store: SqliteStore, customer: str, logged_in: dict[str, aiohttp.ClientSession]
) -> None:
    url = running.url(f"/ops/persons/{customer}")
    operator = await _page(logged_in["otto"], url)
    assert_masked(operator)
    assert "Show contact details" not in operator
    refused = await _page(logged_in["otto"], url + "/reveal", csrf=_csrf(operator), status=403)
    assert "Only an admin" in refused and PHONE not in refused

    admin = await _page(logged_in["ada"], url)
    assert_masked(admin)  # masked for admins too, until they ask
    assert "Show contact details" in admin
    await _page(logged_in["ada"], url + "/reveal", csrf="forged", status=403)
    assert not [a for a in await ops_store.audit_log() if a.action == "contact.reveal"]

    shown = await _page(logged_in["ada"], url + "/reveal", csrf=_csrf(admin))
    assert f"whatsapp:{PHONE}" in shown and f"phone:{PHONE}" in shown and "the audit log records it" in shown
    [entry] = [a for a in await ops_store.audit_log() if a.action == "contact.reveal"]
    assert entry.actor == "ada" and entry.person_id == customer
    assert_masked(await _page(logged_in["ada"], url))  # the next visit is masked again


def test_masking_keeps_the_kind_and_hides_the_number() -> None:
    assert mask_key(f"whatsapp:{PHONE}") == "whatsapp:+7 912 ***-**-89"
    assert mask_key(f"phone:{PHONE}") == "phone:+7 912 ***-**-89"
    assert mask_key(f"email:{EMAIL}") == "email:a***@mail.ru"
    assert mask_key("telegram:5651074222") == "telegram:5651074222"
    assert mask_key("webform:sub:web_1") == "webform:sub:web_1"
    assert mask_text(f"number {PHONE} or {EMAIL}") == "number +7 912 ***-**-89 or a***@mail.ru"


@pytest.mark.parametrize("store", ["sqlite", "redis"], indirect=True)
async def test_profile_references_are_opaque_stable_and_shared_by_every_process(
    store: BaseStore, tmp_path: Path
) -> None:
    key = f"whatsapp:{PHONE}"
    first, second = ProfileRefs(store), ProfileRefs(store)  # two web processes on one store
    ref = await first.ref(key)
    assert ref.startswith("r_") and PHONE[1:] not in ref and PHONE[-4:] not in ref
    assert await second.ref(key) == ref
    assert await second.resolve(ref, ["telegram:1", key]) == key
    assert await second.resolve(ref, ["telegram:1"]) is None
    assert await first.ref("telegram:1") != ref
