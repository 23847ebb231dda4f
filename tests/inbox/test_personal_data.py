"""Admins export and erase one person's data from the inbox: the API and the person page."""

from __future__ import annotations

from inbox.conftest import Client, Demo


async def _page(client: Client, path: str) -> tuple[int, str]:
    async with client.session.get(client.base + path) as r:
        return r.status, await r.text()


async def test_only_admins_export_and_erase(demo: Demo, clients: dict[str, Client]) -> None:
    anna = demo.anna
    for name in ("mia", "sue", "otto"):
        assert (await clients[name].get(f"/api/persons/{anna}/export"))[0] == 403
        assert (await clients[name].post(f"/api/persons/{anna}/forget", {"confirm": anna}))[0] == 403
    status, page = await _page(clients["sue"], f"/inbox/persons/{anna}")
    assert status == 200 and "Erase this person" not in page
    status, page = await _page(clients["ada"], f"/inbox/persons/{anna}")
    assert status == 200 and "Erase this person" in page and f"/api/persons/{anna}/export" in page


async def test_admin_downloads_everything_then_erases_with_a_confirmation(
    demo: Demo, clients: dict[str, Client]
) -> None:
    ada, anna = clients["ada"], demo.anna
    async with ada.session.get(f"{ada.base}/api/persons/{anna}/export") as r:
        assert r.status == 200 and "attachment" in r.headers["Content-Disposition"]
        doc = await r.json()
    assert doc["person_id"] == anna and doc["messages"] and all("text" in m for m in doc["messages"])
    assert any(i["type"] == "phone" for i in doc["identifiers"])
    merges = [m["merge_id"] for m in doc["merges"] if m["kind"] != "split" and not m["undone_by"]]
    assert merges

    status, body = await ada.post(f"/api/persons/{anna}/forget", {})
    assert status == 400 and "confirm" in body["errors"]
    assert (await ada.get(f"/api/persons/{anna}"))[0] == 200  # nothing happened
    status, body = await ada.post(f"/api/persons/{anna}/forget", {"confirm": anna})
    assert status == 200 and body["summary"].startswith(f"person {anna} erased:")

    status, body = await ada.get(f"/api/persons/{anna}")
    assert status == 410 and "erased" in body["error"]
    status, body = await ada.post(f"/api/merges/{merges[0]}/split")
    assert status == 409 and "erased" in body["error"]
    status, body = await ada.post(f"/api/persons/{anna}/forget", {"confirm": anna})
    assert status == 410
    status, page = await _page(ada, f"/inbox/persons/{anna}")
    assert status == 410 and "can no longer be split" in page and "ada" in page
    for text in (m["text"] for m in doc["messages"] if m["text"]):
        assert text not in page
    status, body = await ada.get("/api/audit", person=anna)
    actions = [a["action"] for a in body["audit"]]
    assert "person.forget" in actions and "person.export" in actions


async def test_contact_details_are_revealed_on_request_to_who_may_see_them(
    demo: Demo, clients: dict[str, Client]
) -> None:
    anna = demo.anna
    person = await demo.store.get_person(anna)
    assert person is not None and person.responsible in ("mia", "leo")
    own, other = person.responsible, ({"mia", "leo"} - {person.responsible}).pop()
    status, page = await _page(clients[own], f"/inbox/persons/{anna}")
    assert status == 200 and "Show contact details" in page and "***" in page
    for name in (own, "sue", "ada"):
        status, body = await clients[name].post(f"/api/persons/{anna}/reveal")
        assert status == 200 and any(i["type"] == "phone" and "*" not in i["value"] for i in body["identifiers"])
    for name in (other, "otto"):
        assert (await clients[name].post(f"/api/persons/{anna}/reveal"))[0] == 403
    status, body = await clients["sue"].get("/api/audit", person=anna)
    reveals = [a for a in body["audit"] if a["action"] == "contact.reveal"]
    assert {a["actor"] for a in reveals} == {own, "sue", "ada"}
