"""The JSON API: every action, its permission denials and its audit trail."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp

from app.demo import ANNA_PHONE
from app.inbox.api import OPERATIONS
from inbox.conftest import PASSWORD, Client, Demo, demo_env, start


async def test_login_cookie_is_httponly_and_samesite(demo: Demo) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        async with s.post(demo.base + "/api/login", json={"name": "mia", "password": PASSWORD}) as r:
            assert r.status == 200
            cookie = r.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
        async with s.get(demo.base + "/api/me") as r:
            assert (await r.json())["user"] == "mia"


async def test_wrong_password_is_401_and_attempts_are_rate_limited(demo: Demo) -> None:
    async with aiohttp.ClientSession() as s:
        statuses = []
        for _ in range(7):
            async with s.post(demo.base + "/api/login", json={"name": "leo", "password": "wrong-password"}) as r:
                statuses.append(r.status)
        assert statuses[0] == 401 and statuses[-1] == 429
        async with s.get(demo.base + "/api/persons") as r:
            assert r.status == 401


async def test_writes_need_the_csrf_token(demo: Demo, clients: dict[str, Client]) -> None:
    status, body = await clients["sue"].post(f"/api/persons/{demo.anna}/read", csrf=False)
    assert status == 403 and "CSRF" in body["error"]
    assert (await clients["sue"].post(f"/api/persons/{demo.anna}/read"))[0] == 200


async def test_openapi_describes_every_operation(demo: Demo) -> None:
    async with aiohttp.ClientSession() as s, s.get(demo.base + "/api/openapi.json") as r:
        spec = await r.json()
    assert spec["openapi"].startswith("3.")
    described = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    assert described == {(op.method, "/api" + op.path) for op in OPERATIONS}
    assert "/api/review/{suggestion_id}/accept" in spec["paths"]


async def test_search_by_name_phone_email_handle_and_id(demo: Demo, clients: dict[str, Client]) -> None:
    sue = clients["sue"]
    profiles = {p.channel.value: p for p in await demo.store.profiles_of(demo.anna)}
    handle = profiles["telegram"].handle
    for q in ("Анна Смирнова", "smirnova", "+7 912 345-67-89", "8 912 345 67 89", f"@{handle}", demo.anna):
        status, body = await sue.get("/api/persons", q=q)
        assert status == 200
        assert demo.anna in [p["person_id"] for p in body["persons"]], q
    status, body = await sue.get("/api/persons", q="nobody-like-this")
    assert body["persons"] == []
    status, body = await sue.get("/api/persons", flag="bogus")
    assert status == 400


async def test_list_puts_unread_first_with_channels_and_timer(demo: Demo, clients: dict[str, Client]) -> None:
    status, body = await clients["sue"].get("/api/persons", per_page="2")
    assert status == 200 and len(body["persons"]) == 2 and body["has_next"]
    status, body = await clients["sue"].get("/api/persons")
    unread = [p["unread"] > 0 for p in body["persons"]]
    assert unread == sorted(unread, reverse=True)
    anna = next(p for p in body["persons"] if p["person_id"] == demo.anna)
    assert anna["channels"] == ["avito", "max", "telegram", "webform", "whatsapp"]
    # The demo's manager answered her: no first-response timer any more.
    assert anna["awaiting_since"] is None and anna["unread"] == 0
    waiting = [p for p in body["persons"] if p["person_id"] != demo.anna]
    assert all(p["response_due"] and not p["overdue"] for p in waiting)


async def test_managers_see_their_own_and_the_unassigned(demo: Demo, clients: dict[str, Client]) -> None:
    _, everyone = await clients["sue"].get("/api/persons")
    owners = {p["person_id"]: p["responsible"] for p in everyone["persons"]}
    assert set(owners.values()) <= {"mia", "leo"} and len(set(owners.values())) == 2  # round-robin
    _, mine = await clients["mia"].get("/api/persons")
    assert {p["responsible"] for p in mine["persons"]} <= {"mia", ""}
    other = next(pid for pid, who in owners.items() if who == "leo")
    status, body = await clients["mia"].get(f"/api/persons/{other}")
    assert status == 403 and "another manager" in body["error"]
    status, _ = await clients["mia"].post(f"/api/persons/{other}/reply", {"text": "hi"})
    assert status == 403


async def test_ops_has_no_access_to_customers(demo: Demo, clients: dict[str, Client]) -> None:
    assert (await clients["otto"].get("/api/persons"))[0] == 403
    assert (await clients["otto"].get(f"/api/persons/{demo.anna}/timeline"))[0] == 403


async def test_person_timeline_and_masked_evidence(demo: Demo, clients: dict[str, Client]) -> None:
    sue = clients["sue"]
    status, person = await sue.get(f"/api/persons/{demo.anna}")
    assert status == 200
    assert {p["channel"] for p in person["profiles"]} == {"telegram", "whatsapp", "max", "avito", "webform"}
    identifiers = [i for p in person["profiles"] for i in p["identifiers"]]
    # Phones and e-mails are masked; other ids (a form visitor's random hex) may hold any digits.
    assert not any("9123456789" in i for i in identifiers)
    assert any("+7 912 ***-**-89" in i for i in identifiers)
    channels = {c["channel"]: c for c in person["reply_channels"]}
    assert not channels["webform"]["available"] and channels["whatsapp"]["window_open"]
    _, timeline = await sue.get(f"/api/persons/{demo.anna}/timeline")
    assert {m["channel"] for m in timeline["timeline"]} >= {"telegram", "whatsapp", "max", "avito", "webform"}
    _, evidence = await sue.get(f"/api/persons/{demo.anna}/evidence")
    text = " ".join(evidence["evidence"])
    assert "79123456789" not in text
    # One line per link (four merges joined five channels), strongest first, each naming its channels.
    links = evidence["links"]
    assert [link["text"] for link in links] == evidence["evidence"] and len(set(evidence["evidence"])) == 4
    assert links[0] == {
        "text": "WhatsApp +7 912 ***-**-89 is the phone Telegram confirmed; same name Anna",
        "strength": "certain",
        "bars": 4,
        "probability": links[0]["probability"],
        "likelihood": "99% likely the same person",
        "linked_by": "",
        "channels": ["whatsapp", "telegram"],
    }
    assert [link["strength"] for link in links] == ["certain", "strong", "strong", "strong"]
    # As the README quotes them.
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert "".join(f"{link['strength']:<8} {link['text']}\n" for link in links) in readme
    assert "the phone typed in the web form is Telegram's confirmed phone +7 912 ***-**-89" in text
    assert "the same subject in other words on MAX and Telegram within a minute; same name Анна" in text


async def test_reply_on_whatsapp_reaches_twilio(demo: Demo, clients: dict[str, Client]) -> None:
    person = await demo.store.get_person(demo.anna)
    assert person is not None
    owner = person.responsible
    status, item = await clients[owner].post(
        f"/api/persons/{demo.anna}/reply", {"text": "Анна, iPhone 13 ждёт вас", "channel": "whatsapp"}
    )
    assert status == 201 and item["channel"] == "whatsapp" and item["status"] == "sent"
    assert demo.run.twilio.messages[-1].body == "Анна, iPhone 13 ждёт вас"
    status, body = await clients[owner].post(f"/api/persons/{demo.anna}/reply", {"text": "", "channel": "whatsapp"})
    assert status == 400 and "text" in body["errors"]
    status, body = await clients[owner].post(f"/api/persons/{demo.anna}/reply", {"text": "x", "channel": "webform"})
    assert status == 409
    _, audit = await clients[owner].get("/api/audit", person=demo.anna)
    assert audit["audit"][0]["action"] == "reply" and audit["audit"][0]["actor"] == owner


async def test_accept_a_suggestion_then_split_it(demo: Demo, clients: dict[str, Client]) -> None:
    sue, mia = clients["sue"], clients["mia"]
    _, queue = await sue.get("/api/review")
    # The office phone the two colleagues left (the namesake minutes after Anna may wait for review too).
    suggestion = next(s for s in queue["suggestions"] if "+7 495 ***-**-67" in s["why"])
    sid, a, b = suggestion["suggestion_id"], suggestion["a"]["person_id"], suggestion["b"]["person_id"]
    assert 0.0 < suggestion["score"] < 1.0  # a match probability
    assert (
        suggestion["probability"] == suggestion["score"]
        and suggestion["likelihood"] == "under 1% likely the same person"
    )
    assert suggestion["strength"] == "weak"
    assert suggestion["why"] == (
        "same phone +7 495 ***-**-67 typed in the web form both times, but the names differ: Мария Козлова / Пётр Иванов"
    )
    status, body = await mia.post(f"/api/review/{sid}/accept", {"primary": b})
    assert status == 403 and "supervisor" in body["error"]
    status, body = await sue.post(f"/api/review/{sid}/accept", {"primary": "p_nobody"})
    assert status == 400
    status, merge = await sue.post(f"/api/review/{sid}/accept", {"primary": b})
    assert status == 201 and merge["into"] == b and merge["from"] == a and merge["kind"] == "manual"
    _, person = await sue.get(f"/api/persons/{a}")
    assert person["person_id"] == b and len(person["profiles"]) == 2
    assert (await mia.post(f"/api/merges/{merge['merge_id']}/split"))[0] == 403
    status, split = await sue.post(f"/api/merges/{merge['merge_id']}/split")
    assert status == 201 and split["kind"] == "split"
    _, person = await sue.get(f"/api/persons/{a}")
    assert person["person_id"] == a
    assert (await sue.post(f"/api/merges/{merge['merge_id']}/split"))[0] == 409
    _, audit = await sue.get("/api/audit")
    assert [e["action"] for e in audit["audit"][:2]] == ["split", "accept"]
    assert (await mia.get("/api/audit"))[0] == 403


async def test_reject_remembers_not_the_same_person(demo: Demo, clients: dict[str, Client]) -> None:
    sue = clients["sue"]
    _, queue = await sue.get("/api/review")
    s = next(s for s in queue["suggestions"] if "+7 495 ***-**-67" in s["why"])
    assert (await clients["leo"].post(f"/api/review/{s['suggestion_id']}/reject"))[0] == 403
    assert (await sue.post(f"/api/review/{s['suggestion_id']}/reject"))[0] == 200
    _, queue = await sue.get("/api/review")
    assert s["suggestion_id"] not in {x["suggestion_id"] for x in queue["suggestions"]}
    status, body = await sue.post(f"/api/persons/{s['a']['person_id']}/link", {"existing": s["b"]["person_id"]})
    assert status == 409 and "not the same person" in body["error"]


async def test_link_not_same_and_add_identifier(demo: Demo, clients: dict[str, Client]) -> None:
    ada, sue = clients["ada"], clients["sue"]
    namesake = await demo.store.person_of_profile(demo.story.namesake_profile)
    assert namesake is not None
    assert (await clients["mia"].post(f"/api/persons/{namesake}/link", {"existing": demo.anna}))[0] == 403
    status, merge = await ada.post(f"/api/persons/{namesake}/link", {"existing": demo.anna})
    assert status == 201 and merge["into"] == demo.anna and "linked by ada" in merge["why"]
    _, evidence = await ada.get(f"/api/persons/{demo.anna}/evidence")
    manual = next(link for link in evidence["links"] if link["linked_by"])
    assert manual["linked_by"] == "ada" and manual["strength"] == "confirmed"
    assert manual["text"].endswith("linked by ada") and evidence["links"][0]["strength"] == "certain"
    assert (await ada.post(f"/api/merges/{merge['merge_id']}/split"))[0] == 201
    assert (await sue.post(f"/api/persons/{namesake}/not-same", {"other": demo.anna}))[0] == 200
    status, added = await sue.post(
        f"/api/persons/{namesake}/identifiers", {"kind": "phone", "value": "+7 903 111-22-33"}
    )
    assert status == 201 and added["identifier"] == "+7 903 ***-**-33"
    status, _body = await sue.post(f"/api/persons/{namesake}/identifiers", {"kind": "phone", "value": "12"})
    assert status == 400
    status, found = await sue.get("/api/persons", q="+79031112233")
    assert [p["person_id"] for p in found["persons"]] == [namesake]


async def test_the_audit_log_masks_the_profile_an_identifier_was_added_to(
    demo: Demo, clients: dict[str, Client]
) -> None:
    # The namesake's only profile is her WhatsApp number: the audit names it without the full number.
    sue = clients["sue"]
    namesake = await demo.store.person_of_profile(demo.story.namesake_profile)
    assert namesake is not None
    status, _ = await sue.post(f"/api/persons/{namesake}/identifiers", {"kind": "email", "value": "anna.s@mail.ru"})
    assert status == 201
    full = demo.story.namesake_profile.partition(":")[2]
    for params in ({"person_id": namesake}, {}):
        status, body = await sue.get("/api/audit", **params)
        assert status == 200
        [entry] = [a for a in body["audit"] if a["action"] == "identifier.add" and a["person_id"] == namesake]
        assert entry["target"] == "whatsapp:+7 903 ***-**-01"
        assert full not in json.dumps(body) and full[1:] not in json.dumps(body)


async def test_lead_stages_and_junk_reasons(demo: Demo, clients: dict[str, Client]) -> None:
    sue = clients["sue"]
    _, person = await sue.get(f"/api/persons/{demo.anna}")
    lead = person["leads"][-1]["lead_id"]
    assert (await sue.post(f"/api/leads/{lead}/stage", {"status": "qualified"}))[0] == 200
    status, body = await sue.post(f"/api/leads/{lead}/stage", {"status": "junk", "junk_reason": "because"})
    assert status == 400 and "existing client — additional data" in body["errors"]["junk_reason"]
    status, body = await sue.post(f"/api/leads/{lead}/stage", {"status": "converted"})
    assert status == 400
    status, body = await sue.post(
        f"/api/leads/{lead}/stage", {"status": "junk", "junk_reason": "existing client — additional data"}
    )
    assert status == 200 and body["status"] == "junk"
    assert (await sue.post(f"/api/leads/{lead}/stage", {"status": "new"}))[0] == 400
    assert (await clients["otto"].post(f"/api/leads/{lead}/stage", {"status": "new"}))[0] == 403


async def test_setting_the_stage_a_lead_is_in_changes_nothing(demo: Demo, clients: dict[str, Client]) -> None:
    sue = clients["sue"]
    _, person = await sue.get(f"/api/persons/{demo.anna}")
    before = person["leads"][-1]
    assert before["status"] == "new"

    async def moves() -> list[str]:
        _, audit = await sue.get("/api/audit", person=demo.anna)
        return [a["detail"] for a in audit["audit"] if a["action"] == "lead.stage"]

    async def sentences() -> list[str]:
        _, audit = await sue.get("/api/audit", person=demo.anna)
        return [a["sentence"] for a in audit["audit"] if a["action"] == "lead.stage"]

    for status, audited in (("new", []), ("qualified", ["new → qualified"]), ("qualified", ["new → qualified"])):
        answer = await sue.post(f"/api/leads/{before['lead_id']}/stage", {"status": status})
        assert answer == (200, {"lead_id": before["lead_id"], "status": status, "junk_reason": ""})
        assert await moves() == audited
    _, person = await sue.get(f"/api/persons/{demo.anna}")
    assert person["leads"][-1]["status"] == "qualified"
    # The sentence names the lead as the person page does; its id stays in the entry's `target`.
    where = ("in " if before["channel"] == "webform" else "on ") + before["channel_title"]
    assert await sentences() == [f"sue (supervisor) moved {person['name']}'s inquiry {where}: new → qualified"]


async def test_conversion_checks_fields_and_flags_repeat_deals(demo: Demo, clients: dict[str, Client]) -> None:
    sue = clients["sue"]
    _, person = await sue.get(f"/api/persons/{demo.anna}")
    lead = person["leads"][-1]["lead_id"]
    status, body = await sue.post(f"/api/leads/{lead}/convert", {"kind": "contact_company", "title": ""})
    assert status == 400
    assert set(body["errors"]) >= {"title", "contact_name", "contact_phone", "company_name", "company_tax_id"}
    status, body = await sue.post(f"/api/leads/{lead}/convert", {"kind": "deal_only", "title": "iPhone"})
    assert status == 400 and "no contact yet" in body["errors"]["kind"]
    status, deal = await sue.post(
        f"/api/leads/{lead}/convert",
        {
            "kind": "contact",
            "title": "iPhone 13",
            "amount": 900,
            "contact_name": "Анна",
            "contact_phone": "89123456789",
        },
    )
    assert status == 201 and deal["contact_phone"] == "+7 912 ***-**-89"
    assert not deal["repeat_inquiry"] and not deal["repeat_deal"]
    assert (await sue.post(f"/api/leads/{lead}/convert", {"kind": "contact", "title": "again"}))[0] == 400
    assert (await sue.post(f"/api/deals/{deal['deal_id']}/close", {"status": "won"}))[0] == 200
    # She writes again weeks later: a repeat lead; its deal is a repeat deal (she has a won deal).
    await _returning_customer(demo)
    _, person = await sue.get(f"/api/persons/{demo.anna}")
    newest = person["leads"][-1]
    assert newest["lead_id"] != lead and newest["repeat_lead"]
    status, again = await sue.post(f"/api/leads/{newest['lead_id']}/convert", {"kind": "deal_only", "title": "Case"})
    assert status == 201 and again["repeat_deal"] and not again["repeat_inquiry"]
    _, flagged = await sue.get("/api/persons", flag="repeat_deal")
    assert [p["person_id"] for p in flagged["persons"]] == [demo.anna]
    _, flagged = await sue.get("/api/persons", flag="repeat_lead")
    assert demo.anna in [p["person_id"] for p in flagged["persons"]]


async def _returning_customer(demo: Demo) -> None:
    """Anna's next WhatsApp message after her lead was closed opens a new lead."""
    from app.demo import ANNA_PHONE, BUSINESS_NUMBER

    twilio = demo.run.twilio
    path = "/webhooks/whatsapp"
    fields = twilio.inbound_fields(
        wa_id=ANNA_PHONE, body="Нужен чехол к iPhone", profile_name="Anna", to=BUSINESS_NUMBER
    )
    delivery = await twilio.post_inbound(demo.base + path, demo.run.settings.public_url + path, fields)
    assert delivery.status == 200
    await demo.run.settle()


async def test_repeat_inquiry_and_flags_follow_a_split(tmp_path: Path) -> None:
    demo = await start(tmp_path, demo_env(tmp_path, STITCH_MERGE_ROLES="manager,supervisor,admin"))
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
            async with s.post(demo.base + "/api/login", json={"name": "sue", "password": PASSWORD}) as r:
                sue = Client(demo.base, s, (await r.json())["csrf"])
            namesake = await demo.store.person_of_profile(demo.story.namesake_profile)
            assert namesake is not None
            # With Anna's lead closed, linking the namesake into Anna makes the namesake's lead her repeat lead...
            _, person = await sue.get(f"/api/persons/{demo.anna}")
            closed = person["leads"][0]["lead_id"]
            await sue.post(f"/api/leads/{closed}/stage", {"status": "junk", "junk_reason": "duplicate"})
            _, merge = await sue.post(f"/api/persons/{namesake}/link", {"existing": demo.anna})
            _, person = await sue.get(f"/api/persons/{demo.anna}")
            leads = {lead["lead_id"]: lead for lead in person["leads"]}
            repeat = [lid for lid, lead in leads.items() if lead["repeat_lead"]]
            assert len(repeat) == 1
            _, deal = await sue.post(
                f"/api/leads/{repeat[0]}/convert",
                {"kind": "contact", "title": "Sofa", "contact_name": "Anna", "contact_email": "anna.s@yandex.ru"},
            )
            assert deal["repeat_inquiry"] and not deal["repeat_deal"]
            # ...and splitting them again recomputes it: the namesake's lead and deal are first ones.
            await sue.post(f"/api/merges/{merge['merge_id']}/split")
            _, person = await sue.get(f"/api/persons/{namesake}")
            assert not person["leads"][0]["repeat_lead"] and not person["deals"][0]["repeat_inquiry"]
            # The merge roles setting let a manager merge here.
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as m:
                async with m.post(demo.base + "/api/login", json={"name": "mia", "password": PASSWORD}) as r:
                    me = await r.json()
                async with m.get(demo.base + "/api/me") as r:
                    assert (await r.json())["may_merge"] and me["role"] == "manager"
    finally:
        await demo.run.close()


async def test_numbers_stay_masked_in_the_api_until_revealed(demo: Demo, clients: dict[str, Client]) -> None:
    """A WhatsApp profile's key is its number: the API masks it like the page does."""
    anna = demo.anna
    for name in ("sue", "ada"):
        client = clients[name]
        for path in ("/api/persons", f"/api/persons/{anna}", f"/api/persons/{anna}/timeline", "/api/review"):
            async with client.session.get(client.base + path) as r:
                assert r.status == 200 and ANNA_PHONE not in await r.text(), (name, path)
    _, person = await clients["sue"].get(f"/api/persons/{anna}")
    whatsapp = next(p for p in person["profiles"] if p["channel"] == "whatsapp")
    assert whatsapp["key"] == "whatsapp:+7 912 ***-**-89" and whatsapp["ref"].startswith("r_")
    assert len({p["ref"] for p in person["profiles"]}) == len(person["profiles"])
    # The audited reveal names the profile by its key and by the same reference.
    status, shown = await clients["sue"].post(f"/api/persons/{anna}/reveal")
    assert status == 200
    assert {
        "profile": f"whatsapp:+{ANNA_PHONE}",
        "ref": whatsapp["ref"],
        "type": "phone",
        "value": f"+{ANNA_PHONE}",
    } in (shown["identifiers"])
    _, log = await clients["sue"].get("/api/audit", person=anna)
    assert log["audit"][0]["sentence"].startswith("sue (supervisor) viewed ")
    assert log["audit"][0]["action"] == "contact.reveal" and log["audit"][0]["person_id"] == anna
