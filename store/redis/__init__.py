"""RedisStore: the scale-out store shared by any number of web processes and resolver workers.

Units of work (`atomic`)
------------------------
A unit is a per-task write overlay with optimistic validation:

* every write inside a unit is applied to an in-memory overlay (per key, per field/member) and
  appended to an operation list; nothing reaches Redis until the outermost unit exits;
* every read consults Redis (one pipelined round trip per call, cached for the rest of the unit) and
  then the overlay, so a unit reads its own writes (the resolver creates a person, merges, and the
  lead book then reads the members);
* reads follow the resolver's walk ahead of it: a profile is read with its person's alias chain,
  members, their profiles and leads (`_graph`, one read-only script), recent hits with their
  profiles' roots, identifier hits with the shared flags. Each reply is cached only as its accessor
  would have cached it, and the accessor still adds its commit check when it is called, so reading
  ahead changes no decision and weakens no check; a fresh person or merge id is taken as free
  without a read and the commit checks that it is (EXISTS = 0);
* a nested unit is a savepoint: the overlay keeps an undo journal, and a nested failure pops the
  journal and truncates the operation list back to where the nested unit began;
* at the outermost exit one Lua script (EVALSHA, one round trip) first re-reads the few values the
  unit's decisions rest on — each person's `merged_into`, the size of each children set, cannot-link
  hash and lead index read, a suggestion pair's existence, an event's status, and the tokens of the
  resolution locks the unit holds — and applies every operation only if all are unchanged. Otherwise
  nothing is written and WriteConflict is raised; the caller runs the event again (the stream worker
  does). A crash anywhere before the script leaves nothing behind; Redis runs the script atomically,
  and with AOF `appendfsync always` it is durable once answered.

Writer, fence and graph lock
----------------------------
One `stitch worker` per store is the graph's writer (`store/lease.py`, `app/streams.py`). While it
is, `fence` holds its lease key and token: every commit script also checks that token, so a writer
whose lease lapsed writes nothing, and `lock` takes no locks in Redis at all, only the in-process
ones below (no other process resolves). The writer holds GRAPH_LOCK (`hold_graph`) for each batch;
a process that is not the writer adds GRAPH_LOCK to every `lock` it takes (a manual merge or split
through `Merger`, an in-process replay), so it waits for the writer's batch to end. A new writer
frees the graph lock a dead writer held (`break_graph_lock`).

Writer batches (`writer_batch`)
-------------------------------
With the lease and GRAPH_LOCK held, nothing but the writer changes the graph, so the writer resolves
a whole stream batch (READ_BATCH entries) as one unit: its events run one after the other in one
task, each in a nested unit (a savepoint: a failing event rolls back alone), `lock` takes nothing,
what one event read stays cached for the next (Redis cannot have changed it; later events read the
earlier ones' writes from the overlay), the event statuses read ahead seed the unit, and whether the
batch's messages were already stored is read in one round trip (`read_seen_ahead`), and a
recent-message block read once answers the batch's later reads of it (`recent`). One commit
script writes the whole batch, still checking what the events read and the lease token. Only then
are the events acknowledged and the observers told; a crash before it leaves the whole batch
pending, to be resolved again with the same ids. A batch whose commit refuses, or whose event raises
what `settle` does not handle, is resolved again one unit per event. The cache lives only as long as
the batch: a web process may write between batches.

Locks (`lock`)
--------------
One Redis string per resolution key (`{stitch}:lock:<key>`), taken all-or-nothing by one Lua script
(SET NX PX per key in sorted order, undone if any key is busy: a waiter never holds a part, so there
is no deadlock). A busy try counts itself in `lockwait`; the holder's release pushes one token per
waiter to `wake:<lock key>`, and the waiter blocks on that list (BLPOP) for at most a pause doubling up
to LOCK_POLL_MAX_S (a dead holder releases nothing), then tries again, up to `lock_wait_s`, then
StoreError. Units of one process wait for each other's keys in memory, all-or-nothing as well, and
never poll Redis for them. The lease (`lock_lease_s`) is far above one event's time; a dead
worker's locks expire with it. Locks are held until the unit they were taken in has committed
(strict two-phase locking): releasing them before the commit would let another worker decide on
state that is not yet written. Outside a unit, `lock` opens one, so the pipeline's
`lock(keys), atomic()` commits when the lock is left, and the commit script releases the locks in
the same round trip (compare-and-delete, whatever the outcome); the commit also checks that the
tokens are still ours, so a unit that outlived its lease cannot write.

Keys (all under the hash tag `{<prefix>}`, default `{stitch}`)
-------------------------------------------------------------
| key | type | content |
|---|---|---|
| `ev:<event id>` | hash | envelope (JSON), status, reason |
| `ev:pending` | zset | seq -> event id, events not yet resolved |
| `ev:failed` | zset | received_at -> event id, parked events (the hash adds `attempts`) |
| `seq` | string | arrival counter (events, messages, merges), taken by the commit script |
| `counts` | hash | ev:<status>, persons (roots), profiles, merges, suggestions, leads, messages, mg:<kind>, ob:<status>, cj:<status>, inbox |
| `msg:<event id>` | hash | a stored message (+ seq) |
| `msg:ids` | hash | `<channel>|<provider id>|<direction>` -> event id (repeated deliveries) |
| `msg:in`, `msg:out` | zset | seq -> event id (export in arrival order) |
| `msg:by:<profile key>` | zset | sent_at -> event id |
| `pr:<profile key>` | hash | a profile |
| `pr:all` | zset | first_seen -> profile key |
| `pp:<person id>` | zset | first_seen -> profile keys that joined this person first |
| `id:<kind:value>` | hash | profile key -> provenance |
| `pid:<profile key>` | hash | identifier key -> provenance |
| `shared` | hash | identifier key -> [reason, since] |
| `edge:<profile key>` | hash | other profile key -> {score, evidence, at} (both directions) |
| `pe:<person id>` | hash | a person; `merged_into` absent for a root |
| `pe:all` | zset | created_at -> person id |
| `ch:<person id>` | set | persons merged into this one (the alias forest, reversed) |
| `mg:<merge id>`, `mg:all` | hash, zset | merge and split audit records; seq -> merge id |
| `sg:<id>`, `sg:st:<status>`, `sg:of:<person>`, `sg:pair:<a>|<b>` | hash, zset, set, string | suggestions |
| `cl:<person id>` | hash | other person -> [actor, at] ("not the same person", both directions) |
| `rc:<block>` | zset | at -> [profile key, event id, text]: recent messages per blocking key, capped |
| `rc:blocks` | set | every block name (pruning) |
| `ld:<lead id>`, `ld:all`, `ld:of:<person>`, `ld:mb:<merge>` | hash, zset, zset, set | leads |
| `ob:<id>`, `ob:of:<person>`, `ob:st:<status>`, `ob:failed`, `ob:pid` | hash, zset, zset, zset, hash | outbox |
| `asked` | hash | profile key -> when it was asked for its phone |
| `pw` | zset | `<word> <profile key>` at score 0: the name index, read by prefix with ZRANGEBYLEX |
| `cj:<job id>`, `cj:st:<status>`, `cj:due` | hash, zset, zset | CRM push jobs; seq -> job id per status; due_at -> job id (queued only) |
| `lk:<entity>`, `lk:of:<entity>:<remote id>` | hash, set | Stitch id -> CRM id; the Stitch ids mapped to one CRM id |
| `us:<name>`, `us:all` | hash, zset | inbox users; every name at score 0 (by name) |
| `ss:<token hash>` | hash | a login session |
| `ctr` | hash | named counters shared by every worker (round robin) |
| `dl:<deal id>`, `dl:of:<person>` | hash, zset | deals; created_at -> deal id |
| `au:<entry id>`, `au:all`, `au:of:<person>` | hash, zset, zset | audit entries; seq -> entry id |
| `ib:<person id>` | hash | a person's inbox list row |
| `ib:ix:<u, r>:<flag, ->:<all, to:<name>>` | zset | last_at -> person id: the inbox list order, unread (`u`) and read (`r`) apart |
| `meta` | hash | one-time migrations done (`profile_words`) |
| `lock:<resolution key>` | string | lock token (PX lease); `lock:graph` is the graph lock |
| `lease` | string | the graph writer's lease token (`<worker name>:<random>`, PX) |
| `lockwait` | hash | lock key -> processes waiting for it |
| `wake:<lock key>` | list | one token per waiter, pushed by the release (expires after 1 s) |

Redis Cluster
-------------
Every key of one store carries the same hash tag, so the whole store lives in one hash slot: the
commit script and the lock script touch many keys and Cluster only runs a script whose keys share a
slot. The identity graph cannot be split across slots without giving up atomic merges (persons in
different slots cannot be merged atomically). What Cluster buys here is failover and room for
several stores (one prefix per tenant: each prefix is its own slot, spread over the nodes). One
slot is not the bottleneck: a worker spends most of an event in Python, and one Redis core serves
far more commands per second than a handful of workers send.

`redis+cluster://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...][/][?prefix=NAME]` (`rediss+cluster://` for
TLS) builds a `RedisCluster` client from the seed nodes instead (it learns the rest of the cluster
from them). Every command this store and the stream queue send names at least one key, so the client
routes it to the node that owns the slot: each script is called with at least one declared key
(EVALSHA with no keys would go to a random node), pipelines carry only keys of the one slot (a
MULTI pipeline is allowed there for that reason), BLPOP, XREADGROUP, XAUTOCLAIM and XACK name the
store's keys. Only SCAN (`drop_everything`) is sent to every primary, which is what it needs.

Hot paths never scan: recent messages are read per block with ZREVRANGEBYSCORE ... LIMIT and each
block is trimmed to RECENT_CAP; `iter_*` walk sorted sets in chunks; an inbox page reads the top of
one index per responsible name; a name search is a ZRANGEBYLEX prefix range. The client must decode responses
(`from_url` sets it).
"""

from __future__ import annotations

from store.redis.crm import RedisCrm
from store.redis.events import RedisEvents
from store.redis.graph import RedisGraph
from store.redis.inbox import RedisInbox
from store.redis.leads import RedisLeads
from store.redis.merges import RedisMerges
from store.redis.ops import RedisOps
from store.redis.outbox import RedisOutbox
from store.redis.personal import RedisPersonal

__all__ = ["RedisStore"]


class RedisStore(
    RedisEvents,
    RedisGraph,
    RedisMerges,
    RedisLeads,
    RedisOutbox,
    RedisCrm,
    RedisInbox,
    RedisOps,
    RedisPersonal,
):
    """Stitch's state in Redis; see the module docstring for units, locks and keys.

    One class per area (events, graph, merges, leads, outbox, CRM, inbox, ops, personal data),
    all on one connection, so a unit of work spans every area."""
