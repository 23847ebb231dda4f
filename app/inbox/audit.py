"""The audit log in sentences: "sue (supervisor) merged Anna's Telegram into Anna Smirnova".

An audit entry stores ids (persons, merges, leads, replies) and a few masked words; this module
looks the ids up once per page and words each entry as `parts`, a list the page renders and links
(`{"text": …}`, or `{"text": name, "person": id}`), plus the same as one plain `sentence`.
The ids stay in every entry as they were stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.masking import mask_key
from core.erasure import FORGET_ACTION
from core.inbox import AuditEntry
from core.values import Channel
from resolver.service import CHANNEL_TITLES
from store.base import BaseStore

Part = dict[str, str]


class AuditWords:
    """Words one page of audit entries; person names, roles and channels are looked up once each."""

    def __init__(self, store: BaseStore) -> None:
        self.store = store
        self._names: dict[str, str] = {}
        self._roles: dict[str, str] | None = None

    async def describe(self, entries: Sequence[AuditEntry]) -> list[dict[str, Any]]:
        out = []
        for entry in entries:
            parts = [*await self._actor(entry.actor), *await self._what(entry)]
            out.append(
                {
                    "at": entry.at.isoformat(),
                    "actor": entry.actor,
                    "action": entry.action,
                    "person_id": entry.person_id,
                    # A profile key names a WhatsApp profile by its number: shown masked, like everywhere.
                    "target": mask_key(entry.target),
                    "detail": entry.detail,
                    "sentence": "".join(p["text"] for p in parts),
                    "parts": parts,
                }
            )
        return out

    # -- lookups -------------------------------------------------------------------------------
    async def _actor(self, actor: str) -> list[Part]:
        if self._roles is None:
            self._roles = {u.name: str(u.role) for u in await self.store.users()}
        role = self._roles.get(actor)
        return [{"text": f"{actor} ({role}) " if role else f"{actor} "}]

    async def _name(self, person_id: str) -> str:
        if person_id not in self._names:
            person = await self.store.get_person(person_id) if person_id else None
            self._names[person_id] = person.display_name if person and person.display_name else person_id
        return self._names[person_id]

    async def _person(self, person_id: str) -> Part:
        return {"text": await self._name(person_id) or "someone", "person": person_id}

    async def _channels(self, person_id: str) -> str:
        """The channels the person brought along, in words: "Telegram and WhatsApp"."""
        keys = await self.store.profile_keys_of(await self.store.members_of(person_id))
        titles = []
        for key in keys:
            try:
                titles.append(CHANNEL_TITLES[Channel(key.partition(":")[0])].removeprefix("the "))
            except ValueError:
                continue
        titles = list(dict.fromkeys(titles))
        if not titles:
            return "profile"
        return titles[0] if len(titles) == 1 else ", ".join(titles[:-1]) + " and " + titles[-1]

    async def _lead(self, lead_id: str) -> str:
        """A lead as the person page names it, "inquiry on Telegram"; its id stays in the tooltip."""
        lead = await self.store.get_lead(lead_id)
        if lead is None:
            return f"lead {lead_id}"
        title = CHANNEL_TITLES[lead.channel]
        return f"inquiry {'in' if lead.channel is Channel.WEBFORM else 'on'} {title}"

    # -- one entry -----------------------------------------------------------------------------
    async def _what(self, a: AuditEntry) -> list[Part]:
        text = _text
        person = a.person_id
        if a.action in ("accept", "link", "merge"):
            record = await self.store.get_merge(a.target)
            if record is not None:
                return [
                    text("merged "),
                    await self._person(record.from_),
                    text(f"'s {await self._channels(record.from_)} into "),
                    await self._person(record.into),
                ]
        if a.action == "split":
            record = await self.store.get_merge(a.target)
            if record is not None:
                return [
                    text("split "),
                    await self._person(record.from_),
                    text(f"'s {await self._channels(record.from_)} off "),
                    await self._person(record.into),
                ]
        if a.action == "not_same":
            other = a.target
            suggestion = await self.store.get_suggestion(a.target)
            if suggestion is not None:
                person, other = suggestion.a, suggestion.b
            first, second = await self._person(person), await self._person(other)
            return [text("marked "), first, text(" and "), second, text(" as different people")]
        if a.action == "reply":
            channel, _, status = a.detail.removeprefix("on ").partition(": ")
            title = _channel_title(channel)
            return [text("replied to "), await self._person(person), text(f" on {title} ({status or 'queued'})")]
        if a.action == "identifier.add":
            return [text(f"added {a.detail} to "), await self._person(person)]
        if a.action == "lead.stage":
            stages = a.detail.replace("_", " ")
            return [text("moved "), await self._person(person), text(f"'s {await self._lead(a.target)}: {stages}")]
        if a.action == "lead.convert":
            lead, _, kind = a.detail.partition(" → ")
            return [text("converted "), await self._person(person), text(f"'s {await self._lead(lead)} into a {kind}")]
        if a.action == "deal.close":
            found = await self.store.get_deal(a.target)
            title = f" “{found.title}”" if found is not None and found.title else ""
            return [text("closed "), await self._person(person), text(f"'s deal{title} as {a.detail}")]
        if a.action == "contact.reveal":
            return [text("viewed "), await self._person(person), text(f"'s contact details ({a.detail})")]
        if a.action == "person.export":
            return [text("exported everything held about "), await self._person(person)]
        if a.action == FORGET_ACTION:
            return [text("erased the data of "), {"text": "a person", "person": person}]
        words = f" ({a.detail})" if a.detail else ""
        action = a.action.replace(".", " ").replace("_", " ")
        return [text(f"did {action} on "), await self._person(person), text(words)]


def _text(words: str) -> Part:
    return {"text": words}


def _channel_title(channel: str) -> str:
    try:
        return CHANNEL_TITLES[Channel(channel)]
    except ValueError:
        return channel
