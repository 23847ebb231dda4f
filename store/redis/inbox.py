"""The managers' inbox: users, sessions, deals, the audit log, list rows and search."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.errors import StoreError
from core.inbox import AuditEntry, Deal, DealKind, DealStatus, InboxRow, Session, User, search_words
from store.codec import USERS, dt, ts
from store.redis.connection import _LEX_TOP, INBOX_FLAGS, RedisConnection, _f, _Unit


class RedisInbox(RedisConnection):
    # -- the managers' inbox: users, sessions, counters ------------------------------------------
    def _put_user(self, unit: _Unit, user: User) -> None:
        self._hset(unit, self.key("us", user.name), USERS.to_hash(user, skip=["name"]))
        self._zadd(unit, self.key("us", "all"), user.name, 0.0)

    async def add_user(self, user: User) -> bool:
        async with self._work() as unit:
            if not await self._absent(unit, self.key("us", user.name)):
                return False
            self._put_user(unit, user)
            return True

    async def put_user(self, user: User) -> None:
        async with self._work() as unit:
            self._put_user(unit, user)

    async def get_user(self, name: str) -> User | None:
        async with self._work() as unit:
            h = await self._hash(unit, self.key("us", name))
            return USERS.from_hash(h, name=name) if h else None

    async def users(self) -> list[User]:
        async with self._work() as unit:
            (rows,) = await self._zsets(unit, [self.key("us", "all")])
            names = [m for m, _ in rows]
            hashes = await self._hashes(unit, [self.key("us", n) for n in names])
            return [USERS.from_hash(h, name=n) for n, h in zip(names, hashes, strict=True) if h]

    async def add_session(self, session: Session) -> None:
        async with self._work() as unit:
            self._hset(
                unit,
                self.key("ss", session.token_hash),
                {
                    "user": session.user,
                    "csrf": session.csrf,
                    "created_at": _f(ts(session.created_at)),
                    "expires_at": _f(ts(session.expires_at)),
                },
            )

    async def get_session(self, token_hash: str) -> Session | None:
        async with self._work() as unit:
            h = await self._hash(unit, self.key("ss", token_hash))
            if not h:
                return None
            return Session(
                token_hash=token_hash,
                user=h["user"],
                csrf=h["csrf"],
                created_at=dt(h["created_at"]),
                expires_at=dt(h["expires_at"]),
            )

    async def delete_session(self, token_hash: str) -> None:
        async with self._work() as unit:
            key = self.key("ss", token_hash)
            self._hdel_all(unit, key, await self._hash(unit, key))

    async def next_counter(self, name: str) -> int:
        # HINCRBY at once, outside the unit: the value is needed now, and an optimistic check would
        # make every pair of concurrent callers conflict. A number taken by a unit that then rolls
        # back is skipped, which only moves the round robin on by one.
        (value,) = await self._fetch([("hincrby", (self.key("ctr"), name, 1))])
        return int(value)

    # -- deals and audit -------------------------------------------------------------------------
    @staticmethod
    def _deal(deal_id: str, h: dict[str, str]) -> Deal:
        return Deal(
            deal_id=deal_id,
            lead_id=h["lead_id"],
            person_id=h["person_id"],
            kind=DealKind(h["kind"]),
            title=h["title"],
            created_at=dt(h["created_at"]),
            actor=h["actor"],
            status=DealStatus(h["status"]),
            amount=float(h["amount"]),
            contact_name=h["contact_name"],
            contact_phone=h["contact_phone"],
            contact_email=h["contact_email"],
            company_name=h["company_name"],
            company_tax_id=h["company_tax_id"],
            closed_at=dt(h["closed_at"]) if "closed_at" in h else None,
        )

    async def _put_deal(self, unit: _Unit, deal: Deal, old: dict[str, str]) -> None:
        key = self.key("dl", deal.deal_id)
        created = ts(deal.created_at)
        if old and old["person_id"] != deal.person_id:
            self._zrem(unit, self.key("dl", "of", old["person_id"]), deal.deal_id)
        if old.get("person_id") != deal.person_id or old.get("created_at") != _f(created):
            self._zadd(unit, self.key("dl", "of", deal.person_id), deal.deal_id, created)
        self._hset(
            unit,
            key,
            {
                "lead_id": deal.lead_id,
                "person_id": deal.person_id,
                "kind": deal.kind.value,
                "title": deal.title,
                "created_at": _f(created),
                "actor": deal.actor,
                "status": deal.status.value,
                "amount": _f(deal.amount),
                "contact_name": deal.contact_name,
                "contact_phone": deal.contact_phone,
                "contact_email": deal.contact_email,
                "company_name": deal.company_name,
                "company_tax_id": deal.company_tax_id,
                "closed_at": _f(ts(deal.closed_at)) if deal.closed_at else None,
            },
        )

    async def add_deal(self, deal: Deal) -> None:
        async with self._work() as unit:
            if not await self._absent(unit, self.key("dl", deal.deal_id)):
                raise StoreError(f"deal {deal.deal_id} already exists")
            await self._put_deal(unit, deal, {})

    async def put_deal(self, deal: Deal) -> None:
        async with self._work() as unit:
            await self._put_deal(unit, deal, await self._hash(unit, self.key("dl", deal.deal_id)))

    async def get_deal(self, deal_id: str) -> Deal | None:
        async with self._work() as unit:
            h = await self._hash(unit, self.key("dl", deal_id))
            return self._deal(deal_id, h) if h else None

    async def deals_of(self, person_ids: Sequence[str]) -> list[Deal]:
        if not person_ids:
            return []
        async with self._work() as unit:
            zsets = await self._zsets(unit, [self.key("dl", "of", p) for p in dict.fromkeys(person_ids)])
            rows = sorted((ms for z in zsets for ms in z), key=lambda ms: (ms[1], ms[0]))
            ids = list(dict.fromkeys(m for m, _ in rows))
            hashes = await self._hashes(unit, [self.key("dl", i) for i in ids])
            return [self._deal(i, h) for i, h in zip(ids, hashes, strict=True) if h]

    async def add_audit(self, entry: AuditEntry) -> None:
        async with self._work() as unit:
            key = self.key("au", entry.entry_id)
            if not await self._absent(unit, key):
                return
            self._hset(
                unit,
                key,
                {
                    "at": _f(ts(entry.at)),
                    "actor": entry.actor,
                    "action": entry.action,
                    "person_id": entry.person_id,
                    "target": entry.target,
                    "detail": entry.detail,
                },
            )
            # Numbered at commit from the shared counter, so both indexes keep one order.
            self._zadd_seq(unit, self.key("au", "all"), entry.entry_id)
            self._zadd_seq(unit, self.key("au", "of", entry.person_id), entry.entry_id)

    async def audit_log(self, *, person_ids: Sequence[str] | None = None, limit: int = 100) -> list[AuditEntry]:
        if person_ids is not None and not person_ids:
            return []
        async with self._work() as unit:
            if person_ids is None:
                keys = [self.key("au", "all")]
            else:
                keys = [self.key("au", "of", p) for p in dict.fromkeys(person_ids)]
            rows = [ms for top in await self._tops(unit, keys, limit, desc=True) for ms in top]
            rows.sort(key=lambda ms: (ms[1], ms[0]), reverse=True)
            ids = list(dict.fromkeys(m for m, _ in rows))[:limit]
            hashes = await self._hashes(unit, [self.key("au", i) for i in ids])
            return [
                AuditEntry(
                    entry_id=i,
                    at=dt(h["at"]),
                    actor=h["actor"],
                    action=h["action"],
                    person_id=h["person_id"],
                    target=h["target"],
                    detail=h["detail"],
                )
                for i, h in zip(ids, hashes, strict=True)
                if h
            ]

    # -- the inbox list --------------------------------------------------------------------------
    def _inbox_index(self, unread: bool, flag: str | None, responsible: str | None) -> str:
        # Unread and read rows live in separate indexes scored by last_at, so "unread first, then the
        # latest activity first" is the top of the unread index followed by the top of the read one;
        # equal times fall back to the member, descending, as SqliteStore orders by person_id DESC.
        who = "all" if responsible is None else f"to:{responsible}"
        return self.key("ib", "ix", "u" if unread else "r", flag or "-", who)

    def _inbox_indexes(self, h: dict[str, str]) -> list[str]:
        """Every index a stored row belongs to: all rows, its responsible, each flag set, and both."""
        unread = int(h["unread"]) > 0
        flags = [None, *(f for f in INBOX_FLAGS if h[f] == "1")]
        return [self._inbox_index(unread, f, w) for f in flags for w in (None, h["responsible"])]

    @staticmethod
    def _inbox_row(person_id: str, h: dict[str, str]) -> InboxRow:
        return InboxRow(
            person_id=person_id,
            display_name=h["display_name"],
            responsible=h["responsible"],
            last_at=dt(h["last_at"]),
            last_channel=h["last_channel"],
            channels=tuple(c for c in h["channels"].split(",") if c),
            unread=int(h["unread"]),
            awaiting_since=dt(h["awaiting_since"]) if "awaiting_since" in h else None,
            lead_id=h["lead_id"],
            lead_status=h["lead_status"],
            repeat_lead=h["repeat_lead"] == "1",
            repeat_inquiry=h["repeat_inquiry"] == "1",
            repeat_deal=h["repeat_deal"] == "1",
        )

    async def put_inbox_row(self, row: InboxRow) -> None:
        async with self._work() as unit:
            key = self.key("ib", row.person_id)
            old = await self._hash(unit, key)
            new: dict[str, str | None] = {
                "display_name": row.display_name,
                "responsible": row.responsible,
                "last_at": _f(ts(row.last_at)),
                "last_channel": row.last_channel,
                "channels": ",".join(row.channels),
                "unread": str(row.unread),
                "awaiting_since": _f(ts(row.awaiting_since)) if row.awaiting_since else None,
                "lead_id": row.lead_id,
                "lead_status": row.lead_status,
                "repeat_lead": "1" if row.repeat_lead else "0",
                "repeat_inquiry": "1" if row.repeat_inquiry else "0",
                "repeat_deal": "1" if row.repeat_deal else "0",
            }
            indexes = self._inbox_indexes({f: v for f, v in new.items() if v is not None})
            before = set(self._inbox_indexes(old)) if old else set()
            if not old:
                self._count(unit, "inbox", 1)
            for index in sorted(before - set(indexes)):
                self._zrem(unit, index, row.person_id)
            # A row rewritten with the same time and filters (a read, a rename) leaves its indexes alone.
            moved = old.get("last_at") != new["last_at"]
            for index in indexes:
                if moved or index not in before:
                    self._zadd(unit, index, row.person_id, ts(row.last_at))
            self._hset(unit, key, new)

    async def inbox_rows(self, person_ids: Sequence[str]) -> dict[str, InboxRow]:
        if not person_ids:
            return {}
        async with self._work() as unit:
            hashes = await self._hashes(unit, [self.key("ib", p) for p in person_ids])
            return {p: self._inbox_row(p, h) for p, h in zip(person_ids, hashes, strict=True) if h}

    async def delete_inbox_rows(self, person_ids: Sequence[str]) -> None:
        if not person_ids:
            return
        async with self._work() as unit:
            ids = list(dict.fromkeys(person_ids))
            keys = [self.key("ib", p) for p in ids]
            for person_id, key, h in zip(ids, keys, await self._hashes(unit, keys), strict=True):
                if not h:
                    continue
                for index in self._inbox_indexes(h):
                    self._zrem(unit, index, person_id)
                self._hdel_all(unit, key, h)
                self._count(unit, "inbox", -1)

    async def inbox_page(
        self,
        *,
        responsible: Sequence[str] | None = None,
        flag: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[InboxRow]:
        if flag is not None and flag not in INBOX_FLAGS:
            raise ValueError(f"unknown flag {flag!r}")
        if responsible is not None and not responsible:
            return []
        names: list[str | None] = [None] if responsible is None else list(dict.fromkeys(responsible))
        end = offset + limit
        async with self._work() as unit:
            # The top `offset + limit` of each index read (one per name, unread and read), in one round
            # trip, then merged: the cost follows the page, not the number of rows.
            keys = [self._inbox_index(unread, flag, w) for unread in (True, False) for w in names]
            tops = await self._tops(unit, keys, end, desc=True)
            ids: list[str] = []
            for part in (tops[: len(names)], tops[len(names) :]):
                rows = sorted((ms for top in part for ms in top), key=lambda ms: (ms[1], ms[0]), reverse=True)
                ids.extend(m for m, _ in rows)
            page = ids[offset:end]
            hashes = await self._hashes(unit, [self.key("ib", p) for p in page])
            return [self._inbox_row(p, h) for p, h in zip(page, hashes, strict=True) if h]

    async def inbox_row_count(self) -> int:
        async with self._work() as unit:
            return (await self._counters(unit)).get("inbox", 0)

    async def find_profiles(self, word: str, *, limit: int = 50) -> list[str]:
        words = sorted(search_words(word))
        if not words or limit <= 0:
            return []
        async with self._work() as unit:
            key = self.key("pw")
            over = unit.zsets.get(key, {})
            # A prefix range per word: "петр" finds "петров" without scanning (members sort by word,
            # then profile key, byte-wise like SQLite's primary key).
            calls: list[tuple[str, tuple[Any, ...]]] = [
                ("zrangebylex", (key, "[" + w, "(" + w + _LEX_TOP, 0, limit + len(over))) for w in words
            ]
            found: list[str] = []
            for w, got in zip(words, await self._fetch(calls), strict=True):
                members = {m for m in got if over.get(m, 0.0) is not None}
                members.update(m for m, s in over.items() if s is not None and m.startswith(w))
                for member in sorted(members)[:limit]:
                    profile_key = member.partition(" ")[2]
                    if profile_key not in found:
                        found.append(profile_key)
            return found[:limit]
