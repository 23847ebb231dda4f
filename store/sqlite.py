"""SqliteStore: the embedded default. One file, WAL, one writer.

Statements run on the event loop's thread on purpose: every query here is an indexed point
lookup or a small insert (microseconds), and with WAL plus `synchronous=NORMAL` a commit does not
fsync. Handing each one to a thread pool would cost more than the query. Durability: a crash may
lose the last commits since the previous checkpoint-free fsync window, never leave half an event
(each event's effects are one transaction or savepoint).

Checkpoints (copying the WAL back into the database file, with its fsyncs) are the one slow step:
SQLite runs them inside whichever commit crosses the threshold, which would stall the event loop
for milliseconds. A `_Checkpointer` thread with its own connection runs them instead (sqlite3
releases the GIL while it works); the writer never waits for it (PASSIVE checkpoints).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from core.erasure import Erasure
from core.errors import StoreMissing, StoreUnavailable
from core.inbox import AuditEntry, Deal, DealKind, DealStatus, InboxRow, Role, Session, User, search_words
from core.records import (
    CrmJob,
    CrmJobStatus,
    Direction,
    EventStatus,
    Evidence,
    Lead,
    LeadStatus,
    MergeKind,
    MergeRecord,
    OutboxItem,
    OutboxStatus,
    ParkedEvent,
    Person,
    Profile,
    RecentHit,
    StoredMessage,
    Suggestion,
    SuggestionStatus,
)
from core.values import Channel, Envelope, Identifier, IdKind, Provenance
from store.base import BaseStore
from store.codec import blank_evidence, dt, envelope_dump, envelope_load, evidence_dump, evidence_load, ts

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  event_id TEXT NOT NULL UNIQUE,
  channel TEXT NOT NULL,
  received_at REAL NOT NULL,
  envelope TEXT NOT NULL,
  status TEXT NOT NULL,
  reason TEXT NOT NULL DEFAULT '',
  attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS events_pending ON events(status) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS events_failed ON events(status) WHERE status = 'failed';
CREATE TABLE IF NOT EXISTS messages (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  event_id TEXT NOT NULL UNIQUE,
  channel TEXT NOT NULL,
  provider_message_id TEXT NOT NULL,
  profile_key TEXT NOT NULL,
  lead_id TEXT NOT NULL,
  sent_at REAL NOT NULL,
  direction TEXT NOT NULL,
  text TEXT NOT NULL,
  meta TEXT NOT NULL,
  UNIQUE (channel, provider_message_id, direction)
);
CREATE INDEX IF NOT EXISTS messages_profile ON messages(profile_key, sent_at);
CREATE TABLE IF NOT EXISTS profiles (
  key TEXT PRIMARY KEY,
  channel TEXT NOT NULL,
  user_id TEXT NOT NULL,
  account TEXT NOT NULL,
  chat_id TEXT NOT NULL,
  name TEXT NOT NULL,
  handle TEXT NOT NULL,
  person_id TEXT NOT NULL,
  first_seen REAL NOT NULL,
  last_seen REAL NOT NULL,
  unreachable INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS profiles_person ON profiles(person_id);
CREATE TABLE IF NOT EXISTS identifiers (
  ident TEXT NOT NULL,
  profile_key TEXT NOT NULL,
  provenance TEXT NOT NULL,
  PRIMARY KEY (ident, profile_key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS identifiers_profile ON identifiers(profile_key);
CREATE TABLE IF NOT EXISTS shared (
  ident TEXT PRIMARY KEY, reason TEXT NOT NULL, since REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS edges (
  a TEXT NOT NULL, b TEXT NOT NULL, score REAL NOT NULL, evidence TEXT NOT NULL, at REAL NOT NULL,
  PRIMARY KEY (a, b)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS edges_b ON edges(b);
CREATE TABLE IF NOT EXISTS persons (
  person_id TEXT PRIMARY KEY,
  created_at REAL NOT NULL,
  display_name TEXT NOT NULL,
  responsible TEXT NOT NULL DEFAULT '',
  merged_into TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS persons_merged ON persons(merged_into) WHERE merged_into IS NOT NULL;
CREATE TABLE IF NOT EXISTS merges (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  merge_id TEXT NOT NULL UNIQUE,
  at REAL NOT NULL,
  kind TEXT NOT NULL,
  into_id TEXT NOT NULL,
  from_id TEXT NOT NULL,
  evidence TEXT NOT NULL,
  actor TEXT NOT NULL,
  undone_by TEXT,
  undoes TEXT
);
CREATE TABLE IF NOT EXISTS suggestions (
  suggestion_id TEXT PRIMARY KEY,
  a TEXT NOT NULL, b TEXT NOT NULL,
  score REAL NOT NULL, evidence TEXT NOT NULL, created_at REAL NOT NULL, status TEXT NOT NULL
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS suggestions_pending_pair ON suggestions(a, b) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS suggestions_b ON suggestions(b) WHERE status = 'pending';
CREATE TABLE IF NOT EXISTS cannot_link (
  a TEXT NOT NULL, b TEXT NOT NULL, actor TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (a, b)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS recent (
  block TEXT NOT NULL, at REAL NOT NULL, profile_key TEXT NOT NULL, event_id TEXT NOT NULL, text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS recent_block ON recent(block, at);
CREATE INDEX IF NOT EXISTS recent_at ON recent(at);
CREATE TABLE IF NOT EXISTS leads (
  lead_id TEXT PRIMARY KEY,
  person_id TEXT NOT NULL,
  status TEXT NOT NULL,
  is_repeat INTEGER NOT NULL,
  created_at REAL NOT NULL,
  last_activity REAL NOT NULL,
  channel TEXT NOT NULL,
  responsible TEXT NOT NULL DEFAULT '',
  junk_reason TEXT NOT NULL DEFAULT '',
  merged_into TEXT,
  merged_by TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS leads_person ON leads(person_id);
CREATE INDEX IF NOT EXISTS leads_merged_by ON leads(merged_by) WHERE merged_by IS NOT NULL;
CREATE TABLE IF NOT EXISTS outbox (
  id TEXT PRIMARY KEY,
  person_id TEXT NOT NULL,
  profile_key TEXT NOT NULL,
  channel TEXT NOT NULL,
  text TEXT NOT NULL,
  status TEXT NOT NULL,
  created_at REAL NOT NULL,
  updated_at REAL NOT NULL,
  actor TEXT NOT NULL DEFAULT '',
  attempts INTEGER NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT '',
  provider_message_id TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS outbox_person ON outbox(person_id, created_at);
CREATE INDEX IF NOT EXISTS outbox_queued ON outbox(created_at) WHERE status = 'queued';
CREATE INDEX IF NOT EXISTS outbox_provider ON outbox(channel, provider_message_id) WHERE provider_message_id != '';
CREATE TABLE IF NOT EXISTS contact_asked (profile_key TEXT PRIMARY KEY, at REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS crm_jobs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  subject TEXT NOT NULL,
  payload TEXT NOT NULL,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at REAL NOT NULL,
  due_at REAL NOT NULL,
  error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS crm_jobs_due ON crm_jobs(due_at) WHERE status = 'queued';
CREATE INDEX IF NOT EXISTS crm_jobs_status ON crm_jobs(status, seq);
CREATE TABLE IF NOT EXISTS crm_links (
  entity TEXT NOT NULL, stitch_id TEXT NOT NULL, remote_id INTEGER NOT NULL, PRIMARY KEY (entity, stitch_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS crm_links_remote ON crm_links(entity, remote_id);
CREATE TABLE IF NOT EXISTS users (
  name TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT NOT NULL, created_at REAL NOT NULL,
  disabled INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sessions (
  token_hash TEXT PRIMARY KEY, user TEXT NOT NULL, csrf TEXT NOT NULL, created_at REAL NOT NULL,
  expires_at REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS deals (
  deal_id TEXT PRIMARY KEY, person_id TEXT NOT NULL, created_at REAL NOT NULL, body TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS deals_person ON deals(person_id, created_at);
CREATE TABLE IF NOT EXISTS audit (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, entry_id TEXT NOT NULL UNIQUE, at REAL NOT NULL, actor TEXT NOT NULL,
  action TEXT NOT NULL, person_id TEXT NOT NULL, target TEXT NOT NULL, detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_person ON audit(person_id, seq);
CREATE TABLE IF NOT EXISTS inbox (
  person_id TEXT PRIMARY KEY,
  display_name TEXT NOT NULL,
  responsible TEXT NOT NULL,
  last_at REAL NOT NULL,
  last_channel TEXT NOT NULL,
  channels TEXT NOT NULL,
  unread INTEGER NOT NULL,
  unread_rank INTEGER NOT NULL,
  awaiting_since REAL,
  lead_id TEXT NOT NULL,
  lead_status TEXT NOT NULL,
  repeat_lead INTEGER NOT NULL,
  repeat_inquiry INTEGER NOT NULL,
  repeat_deal INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS inbox_order ON inbox(unread_rank, last_at, person_id);
CREATE INDEX IF NOT EXISTS inbox_responsible ON inbox(responsible, unread_rank, last_at, person_id);
CREATE TABLE IF NOT EXISTS profile_words (
  word TEXT NOT NULL, profile_key TEXT NOT NULL, PRIMARY KEY (word, profile_key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS profile_words_key ON profile_words(profile_key);
"""

# The inbox list order: unread first, newest activity first (see `inbox_page`).
_INBOX_ORDER = "ORDER BY unread_rank DESC, last_at DESC, person_id DESC"
_INBOX_FLAGS = ("repeat_lead", "repeat_inquiry", "repeat_deal")


log = logging.getLogger("stitch.store.sqlite")


# Columns added after a table's first release: (table, column, definition). A file made by an
# older Stitch gets them at open; CREATE TABLE IF NOT EXISTS leaves an existing table as it was.
ADDED_COLUMNS = (("events", "attempts", "INTEGER NOT NULL DEFAULT 0"),)


def _add_missing_columns(db: sqlite3.Connection) -> None:
    for table, column, definition in ADDED_COLUMNS:
        have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if column not in have:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")


def _qs(n: int) -> str:
    return ",".join("?" * n)


@dataclass(slots=True)
class _UnitCache:
    """Rows read or written inside the current transaction: the resolver asks for the same persons
    and profiles many times per event. Valid only while the transaction holds the writer lock (no
    other process can write then); cleared at its start and end and by any rollback."""

    persons: dict[str, Person | None] = field(default_factory=dict)
    children: dict[str, list[str]] = field(default_factory=dict)
    profiles: dict[str, Profile | None] = field(default_factory=dict)
    keys_of: dict[str, list[tuple[float, str]]] = field(default_factory=dict)

    def clear(self) -> None:
        self.persons.clear()
        self.children.clear()
        self.profiles.clear()
        self.keys_of.clear()

    def forget_keys_of(self, *person_ids: str | None) -> None:
        for person_id in person_ids:
            if person_id is not None:
                self.keys_of.pop(person_id, None)


# How often the checkpointer copies the WAL back into the database file. SQLite's own threshold
# (1000 frames) would be crossed every few hundred milliseconds under load anyway.
CHECKPOINT_EVERY_S = 0.5


class _Checkpointer:
    """Runs the WAL checkpoints on a thread of its own, off the event loop (see the module doc)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stitch-sqlite-checkpoint", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            while not self._stop.wait(CHECKPOINT_EVERY_S):
                try:
                    # PASSIVE: copies what no reader still needs and never waits for the writer.
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error as e:
                    # The WAL grows until the next try; closing the store checkpoints it anyway.
                    log.warning("sqlite checkpoint failed", extra={"reason": str(e)})
        finally:
            db.close()


class SqliteStore(BaseStore):
    """The embedded store: one SQLite file in WAL mode."""

    def __init__(self, path: str | Path, *, existing: bool = False) -> None:
        self.path = str(path)
        self.url = f"sqlite:///{self.path}"
        self.existing = existing  # reading commands: a missing file is a typo, not a new store
        self._db: sqlite3.Connection | None = None
        self._depth = 0
        self._writer = asyncio.Lock()
        self._owner: asyncio.Task[object] | None = None
        self._cache = _UnitCache()
        self._checkpointer: _Checkpointer | None = None

    @classmethod
    def from_url(cls, url: str, *, existing: bool = False) -> SqliteStore:
        if not url.startswith("sqlite:///") or len(url) <= len("sqlite:///"):
            raise StoreUnavailable(url, "expected sqlite:///PATH")
        return cls(url.removeprefix("sqlite:///"), existing=existing)

    # -- lifecycle -------------------------------------------------------------------------------
    async def open(self) -> None:
        if self._db is not None:
            return
        parent = Path(self.path).parent
        if not parent.exists():
            raise StoreUnavailable(self.url, f"folder {parent} does not exist")
        if Path(self.path).is_dir():
            raise StoreUnavailable(self.url, "is a folder, not a store file")
        if self.existing and self.path != ":memory:" and not Path(self.path).exists():
            raise StoreMissing(self.url)
        try:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=OFF")
            db.execute("PRAGMA busy_timeout=5000")
            db.execute("PRAGMA cache_size=-65536")
            db.executescript(SCHEMA)
            _add_missing_columns(db)
            db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            wal = db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            if wal:
                db.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer's job, off the event loop
        except sqlite3.Error as e:
            raise StoreUnavailable(self.url, str(e)) from e
        self._db = db
        self._index_words_once()
        if wal:
            self._checkpointer = _Checkpointer(self.path)
            self._checkpointer.start()

    def _index_words_once(self) -> None:
        """Fill the name index for profiles stored before it existed (one pass, at the first open)."""
        db = self.db
        if db.execute("SELECT 1 FROM meta WHERE key='profile_words'").fetchone():
            return
        db.execute("BEGIN IMMEDIATE")
        for key, name, handle in db.execute("SELECT key, name, handle FROM profiles").fetchall():
            db.executemany(
                "INSERT OR IGNORE INTO profile_words VALUES (?,?)", [(w, key) for w in search_words(name, handle)]
            )
        db.execute("INSERT OR IGNORE INTO meta VALUES ('profile_words', '1')")
        db.execute("COMMIT")

    async def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        if self._db is not None:
            self._db.close()  # the last connection to close checkpoints the WAL
            self._db = None

    async def ping(self) -> bool:
        try:
            self.db.execute("SELECT 1").fetchone()
        except (sqlite3.Error, StoreUnavailable):
            return False
        return True

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreUnavailable(self.url, "store is not open")
        return self._db

    @asynccontextmanager
    async def atomic(self) -> AsyncIterator[None]:
        # One connection, one writer: the outermost unit of a task takes the writer lock; units
        # nested inside it (the same task) become savepoints.
        task = asyncio.current_task()
        if self._owner is task and self._depth > 0:
            async with self._savepoint():
                yield
            return
        async with self._writer:
            self._owner = task
            db = self.db
            db.execute("BEGIN IMMEDIATE")
            # Another process may have written since our last transaction: start with nothing cached.
            self._cache.clear()
            self._depth = 1
            try:
                yield
            except BaseException:
                db.execute("ROLLBACK")
                raise
            else:
                db.execute("COMMIT")
            finally:
                self._cache.clear()
                self._depth = 0
                self._owner = None

    @asynccontextmanager
    async def _savepoint(self) -> AsyncIterator[None]:
        db = self.db
        name = f"sp{self._depth}"
        db.execute(f"SAVEPOINT {name}")
        self._depth += 1
        try:
            yield
        except BaseException:
            db.execute(f"ROLLBACK TO {name}")
            db.execute(f"RELEASE {name}")
            self._cache.clear()  # it may hold rows the rollback took back
            raise
        else:
            db.execute(f"RELEASE {name}")
        finally:
            self._depth -= 1

    @asynccontextmanager
    async def lock(self, keys: Iterable[str]) -> AsyncIterator[None]:
        # One process owns the file and `atomic` already serializes writers: nothing more to hold.
        yield

    # -- events ----------------------------------------------------------------------------------
    async def add_event(self, envelope: Envelope) -> bool:
        cur = self.db.execute(
            "INSERT OR IGNORE INTO events(event_id, channel, received_at, envelope, status) VALUES (?,?,?,?,?)",
            (
                envelope.id,
                envelope.channel.value,
                ts(envelope.received_at),
                envelope_dump(envelope),
                "pending",
            ),
        )
        return cur.rowcount == 1

    async def get_event(self, event_id: str) -> Envelope | None:
        row = self.db.execute("SELECT envelope FROM events WHERE event_id=?", (event_id,)).fetchone()
        return None if row is None else envelope_load(row[0])

    async def event_status(self, event_id: str) -> EventStatus | None:
        row = self.db.execute("SELECT status FROM events WHERE event_id=?", (event_id,)).fetchone()
        return None if row is None else EventStatus(row[0])

    async def finish_event(self, event_id: str, status: EventStatus, reason: str = "") -> None:
        self.db.execute("UPDATE events SET status=?, reason=? WHERE event_id=?", (status.value, reason, event_id))

    async def pending_events(self, limit: int) -> list[Envelope]:
        rows = self.db.execute(
            "SELECT envelope FROM events WHERE status='pending' ORDER BY seq LIMIT ?", (limit,)
        ).fetchall()
        return [envelope_load(r[0]) for r in rows]

    async def event_counts(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT status, count(*) FROM events GROUP BY status").fetchall())

    async def count_events(self, status: EventStatus) -> int:
        # The status is written into the statement: only a literal lets SQLite use the partial
        # index of pending (or failed) events instead of reading the whole table.
        row = self.db.execute(f"SELECT count(*) FROM events WHERE status='{EventStatus(status).value}'").fetchone()
        return int(row[0])

    async def park_event(self, event_id: str, reason: str, attempts: int) -> bool:
        cur = self.db.execute(
            "UPDATE events SET status='failed', reason=?, attempts=attempts+? WHERE event_id=? AND status='pending'",
            (reason, attempts, event_id),
        )
        return cur.rowcount == 1

    async def unpark_event(self, event_id: str) -> bool:
        cur = self.db.execute(
            "UPDATE events SET status='pending', reason='' WHERE event_id=? AND status='failed'", (event_id,)
        )
        return cur.rowcount == 1

    async def parked_events(self, limit: int) -> list[ParkedEvent]:
        rows = self.db.execute(
            "SELECT event_id, channel, received_at, attempts, reason FROM events WHERE status='failed'"
            " ORDER BY received_at, seq LIMIT ?",
            (limit,),
        ).fetchall()
        return [
            ParkedEvent(event_id=r[0], channel=r[1], received_at=dt(r[2]), attempts=r[3], reason=r[4]) for r in rows
        ]

    # -- messages --------------------------------------------------------------------------------
    async def message_seen(self, channel: str, provider_message_id: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM messages WHERE channel=? AND provider_message_id=? AND direction='in'",
            (channel, provider_message_id),
        ).fetchone()
        return row is not None

    async def add_message(self, message: StoredMessage) -> None:
        self.db.execute(
            "INSERT INTO messages(event_id, channel, provider_message_id, profile_key, lead_id, sent_at,"
            " direction, text, meta) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                message.event_id,
                message.channel.value,
                message.provider_message_id,
                message.profile_key,
                message.lead_id,
                ts(message.sent_at),
                message.direction.value,
                message.text,
                json.dumps(dict(message.meta), ensure_ascii=False),
            ),
        )

    @staticmethod
    def _message(row: Sequence[Any]) -> StoredMessage:
        return StoredMessage(
            event_id=row[0],
            channel=Channel(row[1]),
            provider_message_id=row[2],
            profile_key=row[3],
            lead_id=row[4],
            sent_at=dt(row[5]),
            direction=Direction(row[6]),
            text=row[7],
            meta=json.loads(row[8]),
        )

    _MESSAGE_COLUMNS = "event_id, channel, provider_message_id, profile_key, lead_id, sent_at, direction, text, meta"

    async def messages_of(
        self, profile_keys: Sequence[str], *, limit: int = 200, before: datetime | None = None
    ) -> list[StoredMessage]:
        if not profile_keys:
            return []
        bound = ts(before) if before else float("inf")
        rows = self.db.execute(
            f"SELECT {self._MESSAGE_COLUMNS} FROM messages WHERE profile_key IN ({_qs(len(profile_keys))})"
            " AND sent_at < ? ORDER BY sent_at DESC, seq DESC LIMIT ?",
            (*profile_keys, bound, limit),
        ).fetchall()
        return [self._message(r) for r in rows]

    async def relead_messages(self, profile_keys: Sequence[str], from_lead: str, to_lead: str) -> None:
        if profile_keys:
            self.db.execute(
                f"UPDATE messages SET lead_id=? WHERE lead_id=? AND profile_key IN ({_qs(len(profile_keys))})",
                (to_lead, from_lead, *profile_keys),
            )

    async def iter_messages(self) -> AsyncIterator[StoredMessage]:
        cur = self.db.execute(f"SELECT {self._MESSAGE_COLUMNS} FROM messages WHERE direction='in' ORDER BY seq")
        while rows := cur.fetchmany(1000):
            for row in rows:
                yield self._message(row)

    # -- profiles and identifiers ----------------------------------------------------------------
    _PROFILE_COLUMNS = (
        "key, channel, user_id, account, chat_id, name, handle, person_id, first_seen, last_seen, unreachable"
    )

    async def get_profiles(self, keys: Sequence[str]) -> dict[str, Profile]:
        if not keys:
            return {}
        cache = self._cache.profiles if self._depth else None
        missing = [k for k in keys if k not in cache] if cache is not None else list(keys)
        found: dict[str, Profile] = {}
        if missing:
            rows = self.db.execute(
                f"SELECT {self._PROFILE_COLUMNS} FROM profiles WHERE key IN ({_qs(len(missing))})", tuple(missing)
            ).fetchall()
            found = {r[0]: self._profile(r) for r in rows}
            if cache is not None:
                cache.update((k, found.get(k)) for k in missing)
        if cache is None:
            return found
        return {k: p for k in keys if (p := cache[k]) is not None}

    @staticmethod
    def _profile(r: Sequence[Any]) -> Profile:
        return Profile(
            key=r[0],
            channel=Channel(r[1]),
            user_id=r[2],
            account=r[3],
            chat_id=r[4],
            name=r[5],
            handle=r[6],
            person_id=r[7],
            first_seen=dt(r[8]),
            last_seen=dt(r[9]),
            unreachable=bool(r[10]),
        )

    async def put_profile(self, profile: Profile) -> None:
        old = (await self.get_profiles([profile.key])).get(profile.key)
        if self._depth:
            self._cache.profiles[profile.key] = profile
        if old is not None and replace(old, last_seen=profile.last_seen) == profile:
            # Most writes only move last_seen: no index but the row's own changes.
            self.db.execute("UPDATE profiles SET last_seen=? WHERE key=?", (ts(profile.last_seen), profile.key))
            return
        if self._depth:
            self._cache.forget_keys_of(profile.person_id, old.person_id if old else None)
        if old is None or (old.name, old.handle) != (profile.name, profile.handle):
            # Only a new or renamed profile touches the name index.
            if old is not None:
                self.db.execute("DELETE FROM profile_words WHERE profile_key=?", (profile.key,))
            self.db.executemany(
                "INSERT OR IGNORE INTO profile_words VALUES (?,?)",
                [(w, profile.key) for w in search_words(profile.name, profile.handle)],
            )
        self.db.execute(
            f"INSERT OR REPLACE INTO profiles({self._PROFILE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                profile.key,
                profile.channel.value,
                profile.user_id,
                profile.account,
                profile.chat_id,
                profile.name,
                profile.handle,
                profile.person_id,
                ts(profile.first_seen),
                ts(profile.last_seen),
                int(profile.unreachable),
            ),
        )

    async def iter_profiles(self) -> AsyncIterator[Profile]:
        cur = self.db.execute(f"SELECT {self._PROFILE_COLUMNS} FROM profiles ORDER BY first_seen")
        while rows := cur.fetchmany(1000):
            for r in rows:
                yield self._profile(r)

    async def link_identifier(self, profile_key: str, identifier: Identifier) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO identifiers(ident, profile_key, provenance) VALUES (?,?,?)",
            (identifier.key, profile_key, identifier.provenance.value),
        )

    async def identifiers_of(self, profile_keys: Sequence[str]) -> dict[str, list[Identifier]]:
        out: dict[str, list[Identifier]] = {k: [] for k in profile_keys}
        if not profile_keys:
            return out
        rows = self.db.execute(
            f"SELECT profile_key, ident, provenance FROM identifiers WHERE profile_key IN ({_qs(len(profile_keys))})",
            tuple(profile_keys),
        ).fetchall()
        for key, ident, provenance in rows:
            kind, _, value = ident.partition(":")
            out[key].append(Identifier(kind=IdKind(kind), value=value, provenance=Provenance(provenance)))
        return out

    async def profiles_by_identifier(self, identifier_keys: Sequence[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {k: [] for k in identifier_keys}
        if not identifier_keys:
            return out
        rows = self.db.execute(
            f"SELECT ident, profile_key FROM identifiers WHERE ident IN ({_qs(len(identifier_keys))})",
            tuple(identifier_keys),
        ).fetchall()
        for ident, key in rows:
            out[ident].append(key)
        return out

    async def mark_shared(self, identifier_key: str, reason: str, at: datetime) -> None:
        self.db.execute("INSERT OR IGNORE INTO shared VALUES (?,?,?)", (identifier_key, reason, ts(at)))

    async def shared_among(self, identifier_keys: Sequence[str]) -> set[str]:
        if not identifier_keys:
            return set()
        rows = self.db.execute(
            f"SELECT ident FROM shared WHERE ident IN ({_qs(len(identifier_keys))})", tuple(identifier_keys)
        ).fetchall()
        return {r[0] for r in rows}

    async def list_shared(self) -> list[tuple[str, str, datetime]]:
        rows = self.db.execute("SELECT ident, reason, since FROM shared ORDER BY since DESC").fetchall()
        return [(r[0], r[1], dt(r[2])) for r in rows]

    async def add_edge(self, a: str, b: str, score: float, evidence: Sequence[Evidence], at: datetime) -> None:
        a, b = min(a, b), max(a, b)
        self.db.execute(
            "INSERT OR REPLACE INTO edges VALUES (?,?,?,?,?)", (a, b, score, evidence_dump(evidence), ts(at))
        )

    async def edges_of(self, profile_keys: Sequence[str]) -> list[tuple[str, str, float, list[Evidence]]]:
        if not profile_keys:
            return []
        marks = _qs(len(profile_keys))
        rows = self.db.execute(
            f"SELECT a, b, score, evidence FROM edges WHERE a IN ({marks}) UNION"
            f" SELECT a, b, score, evidence FROM edges WHERE b IN ({marks})",
            (*profile_keys, *profile_keys),
        ).fetchall()
        return [(r[0], r[1], r[2], list(evidence_load(r[3]))) for r in rows]

    # -- persons ---------------------------------------------------------------------------------
    async def add_person(self, person: Person) -> None:
        if self._depth:
            self._cache.persons[person.person_id] = person
            self._cache.children[person.person_id] = []  # nobody is merged into a new person yet
            if person.merged_into is not None:
                self._cache.children.pop(person.merged_into, None)
        self.db.execute(
            "INSERT INTO persons VALUES (?,?,?,?,?)",
            (
                person.person_id,
                ts(person.created_at),
                person.display_name,
                person.responsible,
                person.merged_into,
            ),
        )

    @staticmethod
    def _person(r: Sequence[Any]) -> Person:
        return Person(person_id=r[0], created_at=dt(r[1]), display_name=r[2], responsible=r[3], merged_into=r[4])

    async def get_person(self, person_id: str) -> Person | None:
        cache = self._cache.persons
        if self._depth and person_id in cache:
            return cache[person_id]
        row = self.db.execute("SELECT * FROM persons WHERE person_id=?", (person_id,)).fetchone()
        person = None if row is None else self._person(row)
        if self._depth:
            cache[person_id] = person
        return person

    async def update_person(
        self, person_id: str, *, display_name: str | None = None, responsible: str | None = None
    ) -> None:
        self._cache.persons.pop(person_id, None)
        if display_name is not None:
            self.db.execute("UPDATE persons SET display_name=? WHERE person_id=?", (display_name, person_id))
        if responsible is not None:
            self.db.execute("UPDATE persons SET responsible=? WHERE person_id=?", (responsible, person_id))

    async def set_merged_into(self, person_id: str, into: str | None) -> None:
        before = await self.get_person(person_id)
        self._cache.persons.pop(person_id, None)
        for parent in (before.merged_into if before else None, into):
            if parent is not None:
                self._cache.children.pop(parent, None)
        self.db.execute("UPDATE persons SET merged_into=? WHERE person_id=?", (into, person_id))

    async def children_of(self, person_ids: Sequence[str]) -> list[str]:
        if not person_ids:
            return []
        if not self._depth:
            rows = self.db.execute(
                f"SELECT person_id FROM persons WHERE merged_into IN ({_qs(len(person_ids))})", tuple(person_ids)
            ).fetchall()
            return [r[0] for r in rows]
        cache = self._cache.children
        self._fill(cache, person_ids, "SELECT merged_into, person_id FROM persons WHERE merged_into IN ({})")
        return [child for p in person_ids for child in cache[p]]

    def _fill(self, cache: dict[str, list[Any]], ids: Sequence[str], sql: str) -> None:
        """Cache the rows of the ids not cached yet, grouped by the first column (the rest as the value)."""
        missing = [i for i in dict.fromkeys(ids) if i not in cache]
        if not missing:
            return
        for i in missing:
            cache[i] = []
        for group, *rest in self.db.execute(sql.format(_qs(len(missing))), tuple(missing)).fetchall():
            cache[group].append(rest[0] if len(rest) == 1 else tuple(rest))

    async def profile_keys_of(self, person_ids: Sequence[str]) -> list[str]:
        if not person_ids:
            return []
        if not self._depth:
            rows = self.db.execute(
                f"SELECT key FROM profiles WHERE person_id IN ({_qs(len(person_ids))}) ORDER BY first_seen",
                tuple(person_ids),
            ).fetchall()
            return [r[0] for r in rows]
        cache = self._cache.keys_of
        self._fill(cache, person_ids, "SELECT person_id, first_seen, key FROM profiles WHERE person_id IN ({})")
        return [key for _, key in sorted(entry for p in dict.fromkeys(person_ids) for entry in cache[p])]

    async def iter_persons(self) -> AsyncIterator[Person]:
        cur = self.db.execute("SELECT * FROM persons ORDER BY created_at")
        while rows := cur.fetchmany(1000):
            for row in rows:
                yield self._person(row)

    async def counts(self) -> dict[str, int]:
        one = self.db.execute
        return {
            "persons": one("SELECT count(*) FROM persons WHERE merged_into IS NULL").fetchone()[0],
            "profiles": one("SELECT count(*) FROM profiles").fetchone()[0],
            "merges": one("SELECT count(*) FROM merges WHERE kind != 'split' AND undone_by IS NULL").fetchone()[0],
            "suggestions": one("SELECT count(*) FROM suggestions WHERE status='pending'").fetchone()[0],
            "leads": one("SELECT count(*) FROM leads WHERE merged_into IS NULL").fetchone()[0],
            "messages": one("SELECT count(*) FROM messages").fetchone()[0],
        }

    # -- merges, suggestions, cannot-links -------------------------------------------------------
    async def add_merge(self, record: MergeRecord) -> None:
        self.db.execute(
            "INSERT INTO merges(merge_id, at, kind, into_id, from_id, evidence, actor, undone_by, undoes)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            (
                record.merge_id,
                ts(record.at),
                record.kind.value,
                record.into,
                record.from_,
                evidence_dump(record.evidence),
                record.actor,
                record.undone_by,
                record.undoes,
            ),
        )

    @staticmethod
    def _merge(r: Sequence[Any]) -> MergeRecord:
        return MergeRecord(
            merge_id=r[0],
            at=dt(r[1]),
            kind=MergeKind(r[2]),
            into=r[3],
            from_=r[4],
            evidence=evidence_load(r[5]),
            actor=r[6],
            undone_by=r[7],
            undoes=r[8],
        )

    _MERGE_COLUMNS = "merge_id, at, kind, into_id, from_id, evidence, actor, undone_by, undoes"

    async def get_merge(self, merge_id: str) -> MergeRecord | None:
        row = self.db.execute(f"SELECT {self._MERGE_COLUMNS} FROM merges WHERE merge_id=?", (merge_id,)).fetchone()
        return None if row is None else self._merge(row)

    async def set_merge_undone(self, merge_id: str, by: str) -> None:
        self.db.execute("UPDATE merges SET undone_by=? WHERE merge_id=?", (by, merge_id))

    async def merges(self, *, limit: int | None = None) -> list[MergeRecord]:
        rows = self.db.execute(
            f"SELECT {self._MERGE_COLUMNS} FROM merges ORDER BY seq DESC LIMIT ?", (limit or -1,)
        ).fetchall()
        return [self._merge(r) for r in rows]

    async def add_suggestion(self, suggestion: Suggestion) -> bool:
        a, b = sorted((suggestion.a, suggestion.b))
        cur = self.db.execute(
            "INSERT OR IGNORE INTO suggestions VALUES (?,?,?,?,?,?,?)",
            (
                suggestion.suggestion_id,
                a,
                b,
                suggestion.score,
                evidence_dump(suggestion.evidence),
                ts(suggestion.created_at),
                suggestion.status.value,
            ),
        )
        return cur.rowcount == 1

    @staticmethod
    def _suggestion(r: Sequence[Any]) -> Suggestion:
        return Suggestion(
            suggestion_id=r[0],
            a=r[1],
            b=r[2],
            score=r[3],
            evidence=evidence_load(r[4]),
            created_at=dt(r[5]),
            status=SuggestionStatus(r[6]),
        )

    async def get_suggestion(self, suggestion_id: str) -> Suggestion | None:
        row = self.db.execute("SELECT * FROM suggestions WHERE suggestion_id=?", (suggestion_id,)).fetchone()
        return None if row is None else self._suggestion(row)

    async def set_suggestion_status(self, suggestion_id: str, status: SuggestionStatus) -> None:
        self.db.execute("UPDATE suggestions SET status=? WHERE suggestion_id=?", (status.value, suggestion_id))

    async def suggestions(self, status: SuggestionStatus = SuggestionStatus.PENDING) -> list[Suggestion]:
        rows = self.db.execute(
            "SELECT * FROM suggestions WHERE status=? ORDER BY created_at", (status.value,)
        ).fetchall()
        return [self._suggestion(r) for r in rows]

    async def suggestions_of(self, person_ids: Sequence[str]) -> list[Suggestion]:
        if not person_ids:
            return []
        marks = _qs(len(person_ids))
        rows = self.db.execute(
            f"SELECT * FROM suggestions WHERE status='pending' AND a IN ({marks}) UNION"
            f" SELECT * FROM suggestions WHERE status='pending' AND b IN ({marks})",
            (*person_ids, *person_ids),
        ).fetchall()
        return [self._suggestion(r) for r in rows]

    async def add_cannot_link(self, a: str, b: str, actor: str, at: datetime) -> None:
        a, b = sorted((a, b))
        self.db.execute("INSERT OR IGNORE INTO cannot_link VALUES (?,?,?,?)", (a, b, actor, ts(at)))

    async def cannot_links_of(self, person_ids: Sequence[str]) -> set[str]:
        if not person_ids:
            return set()
        marks = _qs(len(person_ids))
        rows = self.db.execute(
            f"SELECT b FROM cannot_link WHERE a IN ({marks}) UNION SELECT a FROM cannot_link WHERE b IN ({marks})",
            (*person_ids, *person_ids),
        ).fetchall()
        return {r[0] for r in rows}

    # -- recent ----------------------------------------------------------------------------------
    async def add_recent(self, blocks: Iterable[str], hit: RecentHit) -> None:
        at = ts(hit.at)
        self.db.executemany(
            "INSERT INTO recent VALUES (?,?,?,?,?)",
            [(block, at, hit.profile_key, hit.event_id, hit.text) for block in blocks],
        )

    async def recent(self, blocks: Iterable[str], since: datetime, limit: int) -> list[RecentHit]:
        keys = list(blocks)
        if not keys:
            return []
        rows = self.db.execute(
            f"SELECT DISTINCT profile_key, event_id, at, text FROM recent WHERE block IN ({_qs(len(keys))})"
            " AND at >= ? ORDER BY at DESC LIMIT ?",
            (*keys, ts(since), limit),
        ).fetchall()
        return [RecentHit(profile_key=r[0], event_id=r[1], at=dt(r[2]), text=r[3]) for r in rows]

    async def prune_recent(self, before: datetime) -> int:
        return self.db.execute("DELETE FROM recent WHERE at < ?", (ts(before),)).rowcount

    # -- leads -----------------------------------------------------------------------------------
    _LEAD_COLUMNS = (
        "lead_id, person_id, status, is_repeat, created_at, last_activity, channel, responsible, junk_reason,"
        " merged_into, merged_by"
    )

    @staticmethod
    def _lead(r: Sequence[Any]) -> Lead:
        return Lead(
            lead_id=r[0],
            person_id=r[1],
            status=LeadStatus(r[2]),
            is_repeat=bool(r[3]),
            created_at=dt(r[4]),
            last_activity=dt(r[5]),
            channel=Channel(r[6]),
            responsible=r[7],
            junk_reason=r[8],
            merged_into=r[9],
            merged_by=r[10],
        )

    async def add_lead(self, lead: Lead) -> None:
        await self.put_lead(lead)

    async def put_lead(self, lead: Lead) -> None:
        self.db.execute(
            f"INSERT OR REPLACE INTO leads({self._LEAD_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                lead.lead_id,
                lead.person_id,
                lead.status.value,
                int(lead.is_repeat),
                ts(lead.created_at),
                ts(lead.last_activity),
                lead.channel.value,
                lead.responsible,
                lead.junk_reason,
                lead.merged_into,
                lead.merged_by,
            ),
        )

    async def get_lead(self, lead_id: str) -> Lead | None:
        row = self.db.execute(f"SELECT {self._LEAD_COLUMNS} FROM leads WHERE lead_id=?", (lead_id,)).fetchone()
        return None if row is None else self._lead(row)

    async def leads_of(self, person_ids: Sequence[str]) -> list[Lead]:
        if not person_ids:
            return []
        rows = self.db.execute(
            f"SELECT {self._LEAD_COLUMNS} FROM leads WHERE person_id IN ({_qs(len(person_ids))}) ORDER BY created_at",
            tuple(person_ids),
        ).fetchall()
        return [self._lead(r) for r in rows]

    async def leads_merged_by(self, merge_id: str) -> list[Lead]:
        rows = self.db.execute(f"SELECT {self._LEAD_COLUMNS} FROM leads WHERE merged_by=?", (merge_id,)).fetchall()
        return [self._lead(r) for r in rows]

    async def iter_leads(self) -> AsyncIterator[Lead]:
        cur = self.db.execute(f"SELECT {self._LEAD_COLUMNS} FROM leads ORDER BY created_at")
        while rows := cur.fetchmany(1000):
            for row in rows:
                yield self._lead(row)

    # -- outbox ----------------------------------------------------------------------------------
    _OUTBOX_COLUMNS = (
        "id, person_id, profile_key, channel, text, status, created_at, updated_at, actor, attempts, error,"
        " provider_message_id"
    )

    @staticmethod
    def _outbox(r: Sequence[Any]) -> OutboxItem:
        return OutboxItem(
            id=r[0],
            person_id=r[1],
            profile_key=r[2],
            channel=Channel(r[3]),
            text=r[4],
            status=OutboxStatus(r[5]),
            created_at=dt(r[6]),
            updated_at=dt(r[7]),
            actor=r[8],
            attempts=r[9],
            error=r[10],
            provider_message_id=r[11],
        )

    def _outbox_row(self, item: OutboxItem) -> tuple[Any, ...]:
        return (
            item.id,
            item.person_id,
            item.profile_key,
            item.channel.value,
            item.text,
            item.status.value,
            ts(item.created_at),
            ts(item.updated_at),
            item.actor,
            item.attempts,
            item.error,
            item.provider_message_id,
        )

    async def add_outbox(self, item: OutboxItem) -> None:
        self.db.execute(f"INSERT INTO outbox({self._OUTBOX_COLUMNS}) VALUES ({_qs(12)})", self._outbox_row(item))

    async def put_outbox(self, item: OutboxItem) -> None:
        self.db.execute(
            f"INSERT OR REPLACE INTO outbox({self._OUTBOX_COLUMNS}) VALUES ({_qs(12)})", self._outbox_row(item)
        )

    async def get_outbox(self, item_id: str) -> OutboxItem | None:
        row = self.db.execute(f"SELECT {self._OUTBOX_COLUMNS} FROM outbox WHERE id=?", (item_id,)).fetchone()
        return None if row is None else self._outbox(row)

    async def outbox_by_provider_id(self, channel: str, provider_message_id: str) -> OutboxItem | None:
        if not provider_message_id:
            return None
        row = self.db.execute(
            f"SELECT {self._OUTBOX_COLUMNS} FROM outbox WHERE channel=? AND provider_message_id=?",
            (channel, provider_message_id),
        ).fetchone()
        return None if row is None else self._outbox(row)

    async def outbox_queued(self, before: datetime, limit: int) -> list[OutboxItem]:
        rows = self.db.execute(
            f"SELECT {self._OUTBOX_COLUMNS} FROM outbox WHERE status='queued' AND created_at < ?"
            " ORDER BY created_at LIMIT ?",
            (ts(before), limit),
        ).fetchall()
        return [self._outbox(r) for r in rows]

    async def outbox_of(self, person_ids: Sequence[str], *, limit: int = 200) -> list[OutboxItem]:
        if not person_ids:
            return []
        rows = self.db.execute(
            f"SELECT {self._OUTBOX_COLUMNS} FROM outbox WHERE person_id IN ({_qs(len(person_ids))})"
            " ORDER BY created_at DESC LIMIT ?",
            (*person_ids, limit),
        ).fetchall()
        return [self._outbox(r) for r in rows]

    async def mark_contact_asked(self, profile_key: str, at: datetime) -> bool:
        cur = self.db.execute("INSERT OR IGNORE INTO contact_asked VALUES (?,?)", (profile_key, ts(at)))
        return cur.rowcount == 1

    # -- CRM push queue and mapping --------------------------------------------------------------
    _CRM_JOB_COLUMNS = "job_id, kind, subject, payload, status, attempts, created_at, due_at, error"

    @staticmethod
    def _crm_job(r: Sequence[Any]) -> CrmJob:
        return CrmJob(
            job_id=r[0],
            kind=r[1],
            subject=r[2],
            payload=json.loads(r[3]),
            status=CrmJobStatus(r[4]),
            attempts=r[5],
            created_at=dt(r[6]),
            due_at=dt(r[7]),
            error=r[8],
        )

    async def add_crm_job(self, job: CrmJob) -> bool:
        cur = self.db.execute(
            f"INSERT OR IGNORE INTO crm_jobs({self._CRM_JOB_COLUMNS}) VALUES ({_qs(9)})",
            (
                job.job_id,
                job.kind,
                job.subject,
                json.dumps(dict(job.payload), ensure_ascii=False),
                job.status.value,
                job.attempts,
                ts(job.created_at),
                ts(job.due_at),
                job.error,
            ),
        )
        return cur.rowcount == 1

    async def claim_crm_jobs(self, now: datetime, lease: timedelta, limit: int) -> list[CrmJob]:
        rows = self.db.execute(
            f"SELECT {self._CRM_JOB_COLUMNS} FROM crm_jobs WHERE status='queued' AND due_at <= ? ORDER BY seq LIMIT ?",
            (ts(now), limit),
        ).fetchall()
        jobs = [self._crm_job(r) for r in rows]
        if jobs:
            until = ts(now + lease)
            self.db.execute(
                f"UPDATE crm_jobs SET due_at=? WHERE job_id IN ({_qs(len(jobs))})", (until, *(j.job_id for j in jobs))
            )
        return jobs

    async def put_crm_job(self, job: CrmJob) -> None:
        self.db.execute(
            "UPDATE crm_jobs SET status=?, attempts=?, due_at=?, error=?, payload=? WHERE job_id=?",
            (
                job.status.value,
                job.attempts,
                ts(job.due_at),
                job.error,
                json.dumps(dict(job.payload), ensure_ascii=False),
                job.job_id,
            ),
        )

    async def get_crm_job(self, job_id: str) -> CrmJob | None:
        row = self.db.execute(f"SELECT {self._CRM_JOB_COLUMNS} FROM crm_jobs WHERE job_id=?", (job_id,)).fetchone()
        return None if row is None else self._crm_job(row)

    async def crm_jobs(self, status: CrmJobStatus, *, limit: int = 200) -> list[CrmJob]:
        rows = self.db.execute(
            f"SELECT {self._CRM_JOB_COLUMNS} FROM crm_jobs WHERE status=? ORDER BY seq LIMIT ?", (status.value, limit)
        ).fetchall()
        return [self._crm_job(r) for r in rows]

    async def crm_job_counts(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT status, count(*) FROM crm_jobs GROUP BY status").fetchall())

    async def set_crm_link(self, entity: str, stitch_id: str, remote_id: int) -> None:
        self.db.execute("INSERT OR REPLACE INTO crm_links VALUES (?,?,?)", (entity, stitch_id, remote_id))

    async def crm_link(self, entity: str, stitch_id: str) -> int | None:
        row = self.db.execute(
            "SELECT remote_id FROM crm_links WHERE entity=? AND stitch_id=?", (entity, stitch_id)
        ).fetchone()
        return None if row is None else int(row[0])

    async def crm_link_owner(self, entity: str, remote_id: int) -> str | None:
        row = self.db.execute(
            "SELECT stitch_id FROM crm_links WHERE entity=? AND remote_id=? ORDER BY stitch_id LIMIT 1",
            (entity, remote_id),
        ).fetchone()
        return None if row is None else str(row[0])

    async def drop_crm_link(self, entity: str, stitch_id: str) -> None:
        self.db.execute("DELETE FROM crm_links WHERE entity=? AND stitch_id=?", (entity, stitch_id))

    # -- the managers' inbox ---------------------------------------------------------------------
    @staticmethod
    def _user(r: Sequence[Any]) -> User:
        return User(name=r[0], role=Role(r[1]), password_hash=r[2], created_at=dt(r[3]), disabled=bool(r[4]))

    async def add_user(self, user: User) -> bool:
        cur = self.db.execute(
            "INSERT OR IGNORE INTO users VALUES (?,?,?,?,?)",
            (user.name, user.role.value, user.password_hash, ts(user.created_at), int(user.disabled)),
        )
        return cur.rowcount == 1

    async def put_user(self, user: User) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO users VALUES (?,?,?,?,?)",
            (user.name, user.role.value, user.password_hash, ts(user.created_at), int(user.disabled)),
        )

    async def get_user(self, name: str) -> User | None:
        row = self.db.execute("SELECT * FROM users WHERE name=?", (name,)).fetchone()
        return None if row is None else self._user(row)

    async def users(self) -> list[User]:
        return [self._user(r) for r in self.db.execute("SELECT * FROM users ORDER BY name").fetchall()]

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

    # -- ops aggregates --------------------------------------------------------------------------
    # Every profile counts for the root of the person it joined first; the alias forest is walked
    # once, top-down, so each query is one pass over persons and profiles.
    _ROOTED_SIZES = """
        WITH RECURSIVE rooted(person_id, root) AS (
          SELECT person_id, person_id FROM persons WHERE merged_into IS NULL
          UNION ALL
          SELECT p.person_id, r.root FROM persons p JOIN rooted r ON p.merged_into = r.person_id
        )
        SELECT r.root, count(*) AS size FROM rooted r JOIN profiles pr ON pr.person_id = r.person_id
        GROUP BY r.root
    """

    async def person_sizes(self) -> dict[int, int]:
        rows = self.db.execute(f"SELECT size, count(*) FROM ({self._ROOTED_SIZES}) GROUP BY size").fetchall()
        return {int(r[0]): int(r[1]) for r in rows}

    async def largest_persons(self, limit: int) -> list[tuple[str, int]]:
        rows = self.db.execute(
            f"SELECT root, size FROM ({self._ROOTED_SIZES}) ORDER BY size DESC, root LIMIT ?", (limit,)
        ).fetchall()
        return [(r[0], int(r[1])) for r in rows]

    async def merge_counts(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT kind, count(*) FROM merges GROUP BY kind").fetchall())

    async def outbox_counts(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall())

    async def outbox_failed(self, limit: int) -> list[OutboxItem]:
        rows = self.db.execute(
            f"SELECT {self._OUTBOX_COLUMNS} FROM outbox WHERE status='failed' ORDER BY updated_at DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [self._outbox(r) for r in rows]

    # -- one person's data -----------------------------------------------------------------------
    async def iter_events(self) -> AsyncIterator[Envelope]:
        cur = self.db.execute("SELECT envelope FROM events ORDER BY seq")
        while rows := cur.fetchmany(1000):
            for (raw,) in rows:
                yield envelope_load(raw)

    async def erase(self, erasure: Erasure) -> None:
        db = self.db
        # Zero what this transaction frees, then rebuild the file: older free pages (a pruned recent
        # entry, a profile row rewritten with a longer name) may still hold the person's bytes.
        db.execute("PRAGMA secure_delete=ON")
        try:
            async with self.atomic():
                self._erase_rows(erasure)
        finally:
            db.execute("PRAGMA secure_delete=OFF")
        self.scrub_files()

    def _erase_rows(self, e: Erasure) -> None:
        db = self.db

        def delete(table: str, column: str, values: Sequence[str]) -> None:
            for chunk in _chunks(values):
                db.execute(f"DELETE FROM {table} WHERE {column} IN ({_qs(len(chunk))})", chunk)

        delete("events", "event_id", e.event_ids)
        delete("messages", "event_id", e.message_ids)
        delete("outbox", "id", e.outbox_ids)
        for table, column in (
            ("profiles", "key"),
            ("identifiers", "profile_key"),
            ("recent", "profile_key"),
            ("profile_words", "profile_key"),
            ("contact_asked", "profile_key"),
            ("messages", "profile_key"),
            ("edges", "a"),
            ("edges", "b"),
        ):
            delete(table, column, e.profile_keys)
        # An identifier marked shared stays marked while another profile still carries it.
        for chunk in _chunks(e.identifier_keys):
            db.execute(
                f"DELETE FROM shared WHERE ident IN ({_qs(len(chunk))})"
                " AND NOT EXISTS (SELECT 1 FROM identifiers i WHERE i.ident = shared.ident)",
                chunk,
            )
        delete("suggestions", "suggestion_id", e.suggestion_ids)
        for chunk in _chunks(e.merge_ids):
            rows = db.execute(
                f"SELECT merge_id, evidence FROM merges WHERE merge_id IN ({_qs(len(chunk))})", chunk
            ).fetchall()
            db.executemany(
                "UPDATE merges SET evidence=? WHERE merge_id=?",
                [(evidence_dump(blank_evidence(evidence_load(raw))), mid) for mid, raw in rows],
            )
        for chunk in _chunks(e.crm_job_ids):
            db.execute(f"UPDATE crm_jobs SET payload='{{}}' WHERE job_id IN ({_qs(len(chunk))})", chunk)
        for chunk in _chunks(e.audit_ids):
            # The target may be a profile key, and a WhatsApp profile is named by its number.
            db.execute(f"UPDATE audit SET detail='', target='' WHERE entry_id IN ({_qs(len(chunk))})", chunk)
        self._cache.clear()

    async def expire(self, before: datetime, *, vacuum: bool = False) -> dict[str, int]:
        db = self.db
        bound = ts(before)
        db.execute("PRAGMA secure_delete=ON")  # the old texts' bytes are zeroed, not just unlinked
        try:
            async with self.atomic():
                counts = {
                    "messages": db.execute(
                        "UPDATE messages SET text='', meta='{}' WHERE sent_at < ? AND (text != '' OR meta != '{}')",
                        (bound,),
                    ).rowcount,
                    "replies": db.execute(
                        "UPDATE outbox SET text='' WHERE created_at < ? AND status != 'queued' AND text != ''",
                        (bound,),
                    ).rowcount,
                    "events": db.execute(
                        "UPDATE events SET envelope=json_set(envelope, '$.payload', json('{}'), '$.lookups', json('{}'))"
                        " WHERE received_at < ? AND status != 'pending' AND json_extract(envelope, '$.payload') != '{}'",
                        (bound,),
                    ).rowcount,
                    "crm_jobs": db.execute(
                        "UPDATE crm_jobs SET payload='{}' WHERE created_at < ? AND status != 'queued' AND payload != '{}'",
                        (bound,),
                    ).rowcount,
                    "recent": db.execute("DELETE FROM recent WHERE at < ?", (bound,)).rowcount,
                }
        finally:
            db.execute("PRAGMA secure_delete=OFF")
        if vacuum:
            self.scrub_files()
        elif any(counts.values()):
            # The WAL still holds the pages as they were before: empty it when no reader needs it.
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return counts

    async def put_note(self, name: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?,?)", (f"note:{name}", value))

    async def get_note(self, name: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (f"note:{name}",)).fetchone()
        return None if row is None else str(row[0])

    def scrub_files(self) -> bool:
        """Rewrite the file without free pages and empty the WAL; False if a reader kept the WAL busy."""
        db = self.db
        db.execute("VACUUM")
        busy = 1
        for _ in range(SCRUB_TRIES):
            busy = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            if not busy:
                return True
            time.sleep(SCRUB_PAUSE_S)
        log.warning("sqlite WAL still in use after an erasure; it empties at the next idle checkpoint")
        return False


# Chunk size for `IN (...)` lists: far below SQLite's variable limit (32766).
_IN_CHUNK = 500
# A reader may hold the WAL for a moment; an erasure waits this long at most for it to let go.
SCRUB_TRIES = 20
SCRUB_PAUSE_S = 0.05


def _chunks(values: Sequence[str]) -> list[tuple[str, ...]]:
    items = tuple(dict.fromkeys(values))
    return [items[i : i + _IN_CHUNK] for i in range(0, len(items), _IN_CHUNK)]
