"""The managers' inbox: users, sessions, deals, the audit log, list rows and search."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from core.inbox import AuditEntry, Deal, DealKind, DealStatus, InboxRow, Session, User, search_words
from store.codec import USERS, dt, ts
from store.sqlite.connection import _INBOX_FLAGS, _INBOX_ORDER, SqliteConnection, _qs


class SqliteInbox(SqliteConnection):
    # -- the managers' inbox ---------------------------------------------------------------------
    async def add_user(self, user: User) -> bool:
        cur = self.db.execute(f"INSERT OR IGNORE INTO users({USERS.columns}) VALUES ({USERS.marks})", USERS.row(user))
        return cur.rowcount == 1

    async def put_user(self, user: User) -> None:
        self.db.execute(f"INSERT OR REPLACE INTO users({USERS.columns}) VALUES ({USERS.marks})", USERS.row(user))

    async def get_user(self, name: str) -> User | None:
        row = self.db.execute(f"SELECT {USERS.columns} FROM users WHERE name=?", (name,)).fetchone()
        return None if row is None else USERS.load(row)

    async def users(self) -> list[User]:
        return [USERS.load(r) for r in self.db.execute(f"SELECT {USERS.columns} FROM users ORDER BY name").fetchall()]

    async def add_session(self, session: Session) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO sessions VALUES (?,?,?,?,?)",
            (session.token_hash, session.user, session.csrf, ts(session.created_at), ts(session.expires_at)),
        )

    async def get_session(self, token_hash: str) -> Session | None:
        row = self.db.execute("SELECT * FROM sessions WHERE token_hash=?", (token_hash,)).fetchone()
        if row is None:
            return None
        return Session(token_hash=row[0], user=row[1], csrf=row[2], created_at=dt(row[3]), expires_at=dt(row[4]))

    async def delete_session(self, token_hash: str) -> None:
        self.db.execute("DELETE FROM sessions WHERE token_hash=?", (token_hash,))

    async def next_counter(self, name: str) -> int:
        row = self.db.execute(
            "INSERT INTO counters VALUES (?, 1) ON CONFLICT(name) DO UPDATE SET value=value+1 RETURNING value",
            (name,),
        ).fetchone()
        return int(row[0])

    @staticmethod
    def _deal_body(deal: Deal) -> str:
        body = {
            "lead_id": deal.lead_id,
            "kind": deal.kind.value,
            "title": deal.title,
            "actor": deal.actor,
            "status": deal.status.value,
            "amount": deal.amount,
            "contact_name": deal.contact_name,
            "contact_phone": deal.contact_phone,
            "contact_email": deal.contact_email,
            "company_name": deal.company_name,
            "company_tax_id": deal.company_tax_id,
            "closed_at": ts(deal.closed_at) if deal.closed_at else None,
        }
        return json.dumps(body, ensure_ascii=False)

    @staticmethod
    def _deal(r: Sequence[Any]) -> Deal:
        b = json.loads(r[3])
        return Deal(
            deal_id=r[0],
            person_id=r[1],
            created_at=dt(r[2]),
            lead_id=b["lead_id"],
            kind=DealKind(b["kind"]),
            title=b["title"],
            actor=b["actor"],
            status=DealStatus(b["status"]),
            amount=b["amount"],
            contact_name=b["contact_name"],
            contact_phone=b["contact_phone"],
            contact_email=b["contact_email"],
            company_name=b["company_name"],
            company_tax_id=b["company_tax_id"],
            closed_at=dt(b["closed_at"]) if b["closed_at"] is not None else None,
        )

    async def add_deal(self, deal: Deal) -> None:
        self.db.execute(
            "INSERT INTO deals VALUES (?,?,?,?)",
            (deal.deal_id, deal.person_id, ts(deal.created_at), self._deal_body(deal)),
        )

    async def put_deal(self, deal: Deal) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO deals VALUES (?,?,?,?)",
            (deal.deal_id, deal.person_id, ts(deal.created_at), self._deal_body(deal)),
        )

    async def get_deal(self, deal_id: str) -> Deal | None:
        row = self.db.execute("SELECT * FROM deals WHERE deal_id=?", (deal_id,)).fetchone()
        return None if row is None else self._deal(row)

    async def deals_of(self, person_ids: Sequence[str]) -> list[Deal]:
        if not person_ids:
            return []
        rows = self.db.execute(
            f"SELECT * FROM deals WHERE person_id IN ({_qs(len(person_ids))}) ORDER BY created_at, deal_id",
            tuple(person_ids),
        ).fetchall()
        return [self._deal(r) for r in rows]

    async def add_audit(self, entry: AuditEntry) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO audit(entry_id, at, actor, action, person_id, target, detail)"
            " VALUES (?,?,?,?,?,?,?)",
            (entry.entry_id, ts(entry.at), entry.actor, entry.action, entry.person_id, entry.target, entry.detail),
        )

    async def audit_log(self, *, person_ids: Sequence[str] | None = None, limit: int = 100) -> list[AuditEntry]:
        columns = "entry_id, at, actor, action, person_id, target, detail"
        if person_ids is None:
            rows = self.db.execute(f"SELECT {columns} FROM audit ORDER BY seq DESC LIMIT ?", (limit,)).fetchall()
        elif not person_ids:
            rows = []
        else:
            rows = self.db.execute(
                f"SELECT {columns} FROM audit WHERE person_id IN ({_qs(len(person_ids))}) ORDER BY seq DESC LIMIT ?",
                (*person_ids, limit),
            ).fetchall()
        return [
            AuditEntry(entry_id=r[0], at=dt(r[1]), actor=r[2], action=r[3], person_id=r[4], target=r[5], detail=r[6])
            for r in rows
        ]

    _INBOX_COLUMNS = (
        "person_id, display_name, responsible, last_at, last_channel, channels, unread, unread_rank,"
        " awaiting_since, lead_id, lead_status, repeat_lead, repeat_inquiry, repeat_deal"
    )

    @staticmethod
    def _inbox_row(r: Sequence[Any]) -> InboxRow:
        return InboxRow(
            person_id=r[0],
            display_name=r[1],
            responsible=r[2],
            last_at=dt(r[3]),
            last_channel=r[4],
            channels=tuple(c for c in r[5].split(",") if c),
            unread=r[6],
            awaiting_since=dt(r[8]) if r[8] is not None else None,
            lead_id=r[9],
            lead_status=r[10],
            repeat_lead=bool(r[11]),
            repeat_inquiry=bool(r[12]),
            repeat_deal=bool(r[13]),
        )

    async def put_inbox_row(self, row: InboxRow) -> None:
        self.db.execute(
            f"INSERT OR REPLACE INTO inbox({self._INBOX_COLUMNS}) VALUES ({_qs(14)})",
            (
                row.person_id,
                row.display_name,
                row.responsible,
                ts(row.last_at),
                row.last_channel,
                ",".join(row.channels),
                row.unread,
                1 if row.unread > 0 else 0,
                ts(row.awaiting_since) if row.awaiting_since else None,
                row.lead_id,
                row.lead_status,
                int(row.repeat_lead),
                int(row.repeat_inquiry),
                int(row.repeat_deal),
            ),
        )

    async def inbox_rows(self, person_ids: Sequence[str]) -> dict[str, InboxRow]:
        if not person_ids:
            return {}
        rows = self.db.execute(
            f"SELECT {self._INBOX_COLUMNS} FROM inbox WHERE person_id IN ({_qs(len(person_ids))})",
            tuple(person_ids),
        ).fetchall()
        return {r[0]: self._inbox_row(r) for r in rows}

    async def delete_inbox_rows(self, person_ids: Sequence[str]) -> None:
        if person_ids:
            self.db.execute(f"DELETE FROM inbox WHERE person_id IN ({_qs(len(person_ids))})", tuple(person_ids))

    async def inbox_page(
        self,
        *,
        responsible: Sequence[str] | None = None,
        flag: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[InboxRow]:
        where: list[str] = []
        args: list[Any] = []
        if flag is not None:
            if flag not in _INBOX_FLAGS:
                raise ValueError(f"unknown flag {flag!r}")
            where.append(f"{flag}=1")
        if responsible is not None:
            if not responsible:
                return []
            if len(responsible) == 1:
                where.append("responsible=?")
                args.append(responsible[0])
            else:
                # One index range per name, merged: SQLite walks each in order instead of sorting the table.
                parts = " UNION ALL ".join(
                    f"SELECT * FROM (SELECT {self._INBOX_COLUMNS} FROM inbox WHERE responsible=?"
                    f"{' AND ' + ' AND '.join(where) if where else ''} {_INBOX_ORDER} LIMIT ?)"
                    for _ in responsible
                )
                sub_args: list[Any] = []
                for name in responsible:
                    sub_args.extend([name, limit + offset])
                rows = self.db.execute(
                    f"SELECT * FROM ({parts}) {_INBOX_ORDER} LIMIT ? OFFSET ?", (*sub_args, limit, offset)
                ).fetchall()
                return [self._inbox_row(r) for r in rows]
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self.db.execute(
            f"SELECT {self._INBOX_COLUMNS} FROM inbox {clause} {_INBOX_ORDER} LIMIT ? OFFSET ?", (*args, limit, offset)
        ).fetchall()
        return [self._inbox_row(r) for r in rows]

    async def inbox_row_count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM inbox").fetchone()[0])

    async def find_profiles(self, word: str, *, limit: int = 50) -> list[str]:
        words = sorted(search_words(word))
        if not words:
            return []
        found: list[str] = []
        for w in words:
            # A prefix range on the primary key: "петр" finds "петров" without scanning.
            rows = self.db.execute(
                "SELECT profile_key FROM profile_words WHERE word >= ? AND word < ? LIMIT ?",
                (w, w + "\U0010ffff", limit),
            ).fetchall()
            found.extend(r[0] for r in rows if r[0] not in found)
        return found[:limit]
