"""The SQLite store: the connection every area shares, its unit of work and the module-level helpers."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from core.errors import StoreMissing, StoreUnavailable
from core.inbox import search_words
from core.records import Lead, Person, Profile, RecentHit
from store.base import BaseStore

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


# Entries one kind of cached row may hold before the cache starts again from nothing: the rows
# of the customers writing lately stay, at a bounded cost in memory on a store of millions.
CACHE_ROWS = 200_000


@dataclass(slots=True)
class _GraphCache:
    """The identity graph's rows as the resolver reads them, kept in memory across transactions.

    This connection is the store's only writer while it holds the writer lock, and every write
    of these rows goes through the methods that keep this cache current, so what is cached stays
    true from one transaction to the next. Another process's commit is seen at the next BEGIN
    (`PRAGMA data_version` moved) and drops everything, as does any rollback: the store stays the
    truth, and this is rebuilt from it on demand.
    """

    persons: dict[str, Person | None] = field(default_factory=dict)
    children: dict[str, list[str]] = field(default_factory=dict)
    profiles: dict[str, Profile | None] = field(default_factory=dict)
    keys_of: dict[str, list[tuple[float, str]]] = field(default_factory=dict)
    apart: dict[str, list[str]] = field(default_factory=dict)  # person -> persons marked "not the same"
    leads: dict[str, list[Lead]] = field(default_factory=dict)  # person -> its leads, oldest first
    lead_home: dict[str, str] = field(default_factory=dict)  # lead -> the person whose list holds it
    # block -> (bound, hits): every hit of the block at or after the bound, oldest first
    recent: dict[str, tuple[float, list[RecentHit]]] = field(default_factory=dict)

    def clear(self) -> None:
        for rows in self._all():
            rows.clear()

    def trim(self) -> None:
        """Start again from nothing once any kind of row outgrows CACHE_ROWS."""
        if any(len(rows) > CACHE_ROWS for rows in self._all()):
            self.clear()

    def _all(self) -> tuple[dict[str, Any], ...]:
        return (
            self.persons, self.children, self.profiles, self.keys_of,
            self.apart, self.leads, self.lead_home, self.recent,
        )  # fmt: skip

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


class SqliteConnection(BaseStore):
    """The connection and unit of work that every area of the SQLite store shares."""

    def __init__(self, path: str | Path, *, existing: bool = False) -> None:
        self.path = str(path)
        self.url = f"sqlite:///{self.path}"
        self.existing = existing  # reading commands: a missing file is a typo, not a new store
        self._db: sqlite3.Connection | None = None
        self._depth = 0
        self._writer = asyncio.Lock()
        self._owner: asyncio.Task[object] | None = None
        self._cache = _GraphCache()
        self._version = -1  # PRAGMA data_version when this connection last committed
        self._checkpointer: _Checkpointer | None = None

    @classmethod
    def from_url(cls, url: str, *, existing: bool = False) -> Self:
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
            version = db.execute("PRAGMA data_version").fetchone()[0]
            if version != self._version:  # another process wrote since our last transaction
                self._cache.clear()
                self._version = version
            self._cache.trim()
            self._depth = 1
            try:
                yield
            except BaseException:
                self._cache.clear()  # it may hold rows the rollback takes back
                db.execute("ROLLBACK")
                raise
            else:
                db.execute("COMMIT")
            finally:
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

    def _fill(self, cache: dict[str, list[Any]], ids: Sequence[str], sql: str) -> None:
        """Cache the rows of the ids not cached yet, grouped by the first column (the rest as the value).

        `sql` names the ids' list as `{0}`, as often as it needs them."""
        missing = [i for i in dict.fromkeys(ids) if i not in cache]
        if not missing:
            return
        for i in missing:
            cache[i] = []
        rows = self.db.execute(sql.format(_qs(len(missing))), tuple(missing) * sql.count("{0}")).fetchall()
        for group, *rest in rows:
            cache[group].append(rest[0] if len(rest) == 1 else tuple(rest))

    @asynccontextmanager
    async def lock(self, keys: Iterable[str]) -> AsyncIterator[None]:
        # One process owns the file and `atomic` already serializes writers: nothing more to hold.
        yield


# Chunk size for `IN (...)` lists: far below SQLite's variable limit (32766).
_IN_CHUNK = 500
# A reader may hold the WAL for a moment; an erasure waits this long at most for it to let go.
SCRUB_TRIES = 20
SCRUB_PAUSE_S = 0.05


def _chunks(values: Sequence[str]) -> list[tuple[str, ...]]:
    items = tuple(dict.fromkeys(values))
    return [items[i : i + _IN_CHUNK] for i in range(0, len(items), _IN_CHUNK)]
