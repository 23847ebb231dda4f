"""The demo story: the impatient customer on five channels ends as one person."""

from __future__ import annotations

import io
from pathlib import Path

from app.demo import play_story, start_demo
from app.keys import STORE
from core.config import Settings


async def test_five_channel_customer_ends_as_one_person(tmp_path: Path) -> None:
    settings = Settings.from_env({"STITCH_STORE": f"sqlite:///{tmp_path / 'demo.db'}"})
    run = await start_demo(settings, host="127.0.0.1", port=0)
    try:
        out = io.StringIO()
        result = await play_story(run, out=out, pause=0)
        store = run.app[STORE]
        assert sorted(k.split(":")[0] for k in result.anna_profiles) == [
            "avito",
            "max",
            "telegram",
            "webform",
            "whatsapp",
        ]
        persons = {await store.person_of_profile(k) for k in result.anna_profiles}
        assert len(persons) == 1
        anna = persons.pop()
        # The namesake and the colleagues sharing an office phone stay apart.
        assert await store.person_of_profile(result.namesake_profile) != anna
        office = {await store.person_of_profile(k) for k in result.office_profiles}
        assert len(office) == 2 and anna not in office
        # The bot asked for her phone once, and the manager's reply reached her.
        assert [m.reply_markup is not None for m in run.telegram.sent] == [True]
        assert result.reply_channel == "avito" and len(run.avito.sent) == 1
        assert "The reply went out on Avito (sent)." in out.getvalue()
    finally:
        await run.close()
