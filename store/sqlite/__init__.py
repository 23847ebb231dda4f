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

from store.sqlite.crm import SqliteCrm
from store.sqlite.events import SqliteEvents
from store.sqlite.graph import SqliteGraph
from store.sqlite.inbox import SqliteInbox
from store.sqlite.leads import SqliteLeads
from store.sqlite.merges import SqliteMerges
from store.sqlite.ops import SqliteOps
from store.sqlite.outbox import SqliteOutbox
from store.sqlite.personal import SqlitePersonal

__all__ = ["SqliteStore"]


class SqliteStore(
    SqliteEvents,
    SqliteGraph,
    SqliteMerges,
    SqliteLeads,
    SqliteOutbox,
    SqliteCrm,
    SqliteInbox,
    SqliteOps,
    SqlitePersonal,
):
    """The embedded store: one SQLite file in WAL mode.

    One class per area (events, graph, merges, leads, outbox, CRM, inbox, ops, personal data),
    all on one connection, so a unit of work spans every area."""
