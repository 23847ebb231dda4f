"""The inbox's Split button on the demo story: the WhatsApp side gets its messages, reply and lead back."""

from __future__ import annotations

from app.demo import ANNA_PHONE
from tests.inbox.conftest import Client, Demo


async def test_split_through_the_api_gives_whatsapp_its_reply_and_a_lead(
    demo: Demo, clients: dict[str, Client]
) -> None:
    sue = clients["sue"]
    whatsapp = f"whatsapp:+{ANNA_PHONE}"
    status, reply = await sue.post(
        f"/api/persons/{demo.anna}/reply", {"text": "Да, iPhone 13 есть", "channel": "whatsapp"}
    )
    assert status == 201 and reply["channel"] == "whatsapp"
    _, before = await sue.get(f"/api/persons/{demo.anna}")
    (lead,) = before["leads"]
    home = (await demo.store.get_profiles([whatsapp]))[whatsapp].person_id
    (merge,) = [m for m in before["merges"] if m["from"] == home]

    status, split = await sue.post(f"/api/merges/{merge['merge_id']}/split")
    assert status == 201 and split["kind"] == "split"

    wa_person = await demo.store.person_of_profile(whatsapp)
    assert wa_person is not None and wa_person != demo.anna
    _, anna_timeline = await sue.get(f"/api/persons/{demo.anna}/timeline")
    _, wa_timeline = await sue.get(f"/api/persons/{wa_person}/timeline")
    assert "Да, iPhone 13 есть" not in [i["text"] for i in anna_timeline["timeline"]]
    assert all(i["channel"] != "whatsapp" for i in anna_timeline["timeline"])
    assert [(i["direction"], i["channel"]) for i in wa_timeline["timeline"]] == [
        ("in", "whatsapp"),
        ("out", "whatsapp"),
    ]
    assert wa_timeline["timeline"][1]["text"] == "Да, iPhone 13 есть" and wa_timeline["timeline"][1]["author"] == "sue"

    _, anna = await sue.get(f"/api/persons/{demo.anna}")
    _, wa = await sue.get(f"/api/persons/{wa_person}")
    assert [x["lead_id"] for x in anna["leads"]] == [lead["lead_id"]]
    (own,) = wa["leads"]
    assert own["lead_id"] != lead["lead_id"] and own["channel"] == "whatsapp" and own["open"]
    assert not own["repeat_lead"] and not anna["leads"][0]["repeat_lead"]
    # Both sides are in the inbox list, each with its own lead and flags.
    _, listed = await sue.get("/api/persons", per_page="200")
    rows = {row["person_id"]: row for row in listed["persons"]}
    assert rows[wa_person]["lead_id"] == own["lead_id"] and rows[demo.anna]["lead_id"] == lead["lead_id"]
    assert not rows[wa_person]["repeat_lead"] and not rows[demo.anna]["repeat_lead"]
