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

import asyncio
import json
import logging
import math
import secrets
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisError

from core.erasure import Erasure
from core.errors import LeaseLost, StoreError, StoreUnavailable, WriteConflict
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
from store.base import GRAPH_LOCK, MAX_ALIAS_DEPTH, BaseStore
from store.codec import blank_evidence, dt, envelope_dump, envelope_load, evidence_dump, evidence_load, ts

log = logging.getLogger("stitch.store.redis")

# Newest hits kept per recent-message block; far above what one event reads (RECENT_LIMIT).
RECENT_CAP = 1000
# Rows fetched per round trip when walking a whole index (export).
CHUNK = 1000
# Defaults for the resolution locks; Settings overrides them.
LOCK_LEASE_S = 30.0
LOCK_WAIT_S = 60.0
# Longest waits for a busy lock's release before trying again, doubling from the first to the
# cap: a release wakes the waiter at once, so these only bound the wait for a holder that died.
LOCK_POLL_MIN_S = 0.01
LOCK_POLL_MAX_S = 0.2
# Overlay members not yet numbered by the commit script sort after every committed one.
_LOCAL_SEQ = 1e15
# The inbox list's filters (InboxRow fields); each has its own index.
INBOX_FLAGS = ("repeat_lead", "repeat_inquiry", "repeat_deal")
# Above every code point: `word < prefix + _LEX_TOP` bounds a prefix range (as SqliteStore does).
_LEX_TOP = "\U0010ffff"

# Releasing a lock wakes the processes waiting for it: an acquire that finds a key busy counts
# itself in the `lockwait` hash, and the release pushes one token per waiter to the key's wake list,
# which the waiters block on (BLPOP) instead of polling. A token pushed before its waiter blocks is
# still there when it does (no lost wake-up); a token nobody takes expires with the list.
_RELEASE_FN = """
local function release(first, token, waits, wake)
  for i = first, #KEYS do
    local k = KEYS[i]
    if redis.call('GET', k) == token then
      redis.call('DEL', k)
      local n = tonumber(redis.call('HGET', waits, k) or '0')
      if n > 0 then
        redis.call('HDEL', waits, k)
        for _ = 1, n do redis.call('RPUSH', wake .. k, '1') end
        redis.call('PEXPIRE', wake .. k, 1000)
      end
    end
  end
end
"""

_COMMIT = (
    _RELEASE_FN
    + """
-- KEYS[1]: the arrival counter; KEYS[2..]: the unit's lock keys, all held with the token ARGV[3];
-- ARGV[4], ARGV[5]: the lockwait hash and the wake lists' prefix. The locks are released here
-- whatever the outcome (compare-and-delete): a separate release would cost one more round trip.
local checks = cjson.decode(ARGV[1])
for i, c in ipairs(checks) do
  local n = #c
  local args = {}
  for j = 3, n - 1 do args[#args + 1] = c[j] end
  local got = redis.call(c[1], c[2], unpack(args))
  if got == false or got == nil then got = '' end
  if tostring(got) ~= c[n] then release(2, ARGV[3], ARGV[4], ARGV[5]); return i end
end
local ops = cjson.decode(ARGV[2])
for _, op in ipairs(ops) do
  if op[1] == 'SEQ' then
    local n = redis.call('INCR', KEYS[1])
    redis.call('ZADD', op[2], n, op[3])
    if op[4] ~= '' then redis.call('HSET', op[4], 'seq', n) end
  else
    redis.call(unpack(op))
  end
end
release(2, ARGV[3], ARGV[4], ARGV[5])
return 0
"""
)

_ACQUIRE = """
for i, k in ipairs(KEYS) do
  if not redis.call('SET', k, ARGV[1], 'NX', 'PX', ARGV[2]) then
    for j = 1, i - 1 do redis.call('DEL', KEYS[j]) end
    redis.call('HINCRBY', ARGV[3], k, 1)
    return i
  end
end
return 0
"""

_RELEASE = (
    _RELEASE_FN
    + """
release(1, ARGV[1], ARGV[2], ARGV[3])
return 0
"""
)

# A new writer frees the graph lock a previous writer held when it died (its token carries the
# writer prefix, ARGV[1]; a manual change's token never does), waking whoever waits for it.
_BREAK = (
    _RELEASE_FN
    + """
local held = redis.call('GET', KEYS[1])
if held and string.sub(held, 1, #ARGV[1]) == ARGV[1] then
  release(1, held, ARGV[2], ARGV[3])
  return 1
end
return 0
"""
)

_RENEW = """
local n = 0
for _, k in ipairs(KEYS) do
  if redis.call('GET', k) == ARGV[1] then redis.call('PEXPIRE', k, ARGV[2]); n = n + 1 end
end
return n
"""

# KEYS[1]: the index of block names; KEYS[2..]: blocks; ARGV[1]: the exclusive upper score bound;
# ARGV[2..]: the blocks' names. Old entries go; a block left empty leaves the index in the same step,
# so a commit adding to it (ZADD then SADD, atomically) either comes before and keeps it, or after
# and adds it again.
_PRUNE = """
local removed = 0
for i = 2, #KEYS do
  removed = removed + redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', ARGV[1])
  if redis.call('EXISTS', KEYS[i]) == 0 then redis.call('SREM', KEYS[1], ARGV[i]) end
end
return removed
"""

# Read-only: what the resolver reads about the profiles and persons it is about to follow, in one
# round trip instead of one per step of a dependent walk (profile -> person -> alias chain -> root ->
# children -> the members' profiles and leads). ARGV: the key prefix, the longest alias chain, the
# most keys followed, and a JSON spec: "p" profiles to follow to their whole person, "m" persons to
# expand, "i" identifier hashes whose profiles are followed like "p", "r" recent-message ranges
# ([key, min score, limit]) whose profiles are followed to their root only, "f" fields of the
# shared-identifier hash. KEYS: the keys named in the spec (one slot). Returns flat triples (kind,
# key, reply): every reply is whole, so the caller may cache it as if it had read that key itself.
# The budget keeps a huge person or a flooded block from turning one read into a scan: whatever it
# leaves out is read on demand, as before.
_GRAPH = """
local p, depth, budget = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local spec = cjson.decode(ARGV[4])
local out, seen, parent, expanded = {}, {}, {}, {}
local function emit(kind, key, got)
  out[#out + 1] = kind
  out[#out + 1] = key
  out[#out + 1] = got
end
local function take(kind, key)
  if seen[key] then return seen[key] end
  if budget <= 0 then return nil end
  budget = budget - 1
  local got
  if kind == 'h' then got = redis.call('HGETALL', key)
  elseif kind == 's' then got = redis.call('SMEMBERS', key)
  else got = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES') end
  seen[key] = got
  emit(kind, key, got)
  return got
end
local function field(flat, name)
  for i = 1, #flat, 2 do
    if flat[i] == name then return flat[i + 1] end
  end
  return nil
end
local function root_of(pid)
  for _ = 1, depth do
    if parent[pid] == nil then
      local h = take('h', p .. 'pe:' .. pid)
      if h == nil then return nil end
      parent[pid] = field(h, 'merged_into') or false
    end
    if parent[pid] == false then return pid end
    pid = parent[pid]
  end
  return nil
end
local function expand(root)
  if expanded[root] then return end
  expanded[root] = true
  local members, frontier = {root}, {root}
  while #frontier > 0 do
    local nxt = {}
    for _, m in ipairs(frontier) do
      local kids = take('s', p .. 'ch:' .. m)
      if kids == nil then return end
      for _, c in ipairs(kids) do
        members[#members + 1] = c
        nxt[#nxt + 1] = c
      end
    end
    frontier = nxt
  end
  for _, m in ipairs(members) do
    local profiles = take('z', p .. 'pp:' .. m)
    if profiles == nil then return end
    for i = 1, #profiles, 2 do take('h', p .. 'pr:' .. profiles[i]) end
    local leads = take('z', p .. 'ld:of:' .. m)
    if leads == nil then return end
    for i = 1, #leads, 2 do take('h', p .. 'ld:' .. leads[i]) end
    take('h', p .. 'cl:' .. m)
    take('s', p .. 'sg:of:' .. m)
  end
end
local function follow(profile_key, whole)
  local profile = take('h', p .. 'pr:' .. profile_key)
  if profile == nil then return end
  local pid = field(profile, 'person_id')
  if not pid then return end
  local root = root_of(pid)
  if root and whole then
    take('h', p .. 'pid:' .. profile_key)
    expand(root)
  end
end
if spec.f and #spec.f > 0 then
  emit('f', p .. 'shared', redis.call('HMGET', p .. 'shared', unpack(spec.f)))
end
local hits = {}
for _, r in ipairs(spec.r or {}) do
  local got = redis.call('ZREVRANGEBYSCORE', r[1], '+inf', r[2], 'WITHSCORES', 'LIMIT', 0, r[3])
  emit('r', r[1], got)
  for i = 1, #got, 2 do hits[#hits + 1] = cjson.decode(got[i])[1] end
end
local linked = {}
for _, k in ipairs(spec.i or {}) do
  local got = redis.call('HGETALL', k)
  seen[k] = got
  emit('h', k, got)
  for i = 1, #got, 2 do linked[#linked + 1] = got[i] end
end
for _, k in ipairs(spec.p or {}) do follow(k, true) end
for _, m in ipairs(spec.m or {}) do
  local root = root_of(m)
  if root then expand(root) end
end
for _, k in ipairs(linked) do follow(k, true) end
for _, k in ipairs(hits) do follow(k, false) end
return out
"""
# The most keys one graph read follows (a person of the usual size needs a few dozen).
GRAPH_BUDGET = 400

_MISSING: Any = object()
FINISHED = frozenset({EventStatus.DONE.value, EventStatus.IGNORED.value})


class _Unit:
    """One task's unit of work: the overlay, its undo journal, operations, checks and held locks."""

    def __init__(self) -> None:
        self.hashes: dict[str, dict[str, str | None]] = {}
        self.sets: dict[str, dict[str, bool]] = {}
        self.zsets: dict[str, dict[str, float | None]] = {}
        self.strings: dict[str, str | None] = {}
        self.counters: dict[str, dict[str, int]] = {}
        self.ops: list[list[str]] = []
        self.checks: list[list[str]] = []
        self.checked: set[tuple[str, ...]] = set()
        self.journal: list[tuple[dict[str, Any], str, Any]] = []
        # What Redis held when first read in this unit (repeatable reads, fewer round trips).
        self.cache_h: dict[str, dict[str, str]] = {}
        self.cache_f: dict[tuple[str, str], str | None] = {}
        self.cache_s: dict[str, set[str]] = {}
        self.cache_z: dict[str, list[tuple[str, float]]] = {}
        self.cache_str: dict[str, str | None] = {}
        self.locks: dict[str, str] = {}  # lock key -> token (the unit's own)
        self.token = secrets.token_hex(12)
        self.local: list[str] = []  # lock keys this unit holds in the process's table
        self.renewed_at = 0.0  # monotonic time the held locks' leases were last renewed
        self.local_seq = 0
        # The graph writer's batch (`writer_batch`): nobody else writes while it is open.
        self.batch = False
        # In a writer batch: recent-message ranges read, (block key, limit) -> (lowest score, reply).
        self.cache_r: dict[tuple[str, int], tuple[float, list[Any]]] = {}

    def forget_reads(self) -> None:
        self.cache_h.clear()
        self.cache_f.clear()
        self.cache_s.clear()
        self.cache_z.clear()
        self.cache_str.clear()

    def put(self, container: dict[str, Any], key: str, value: Any) -> None:
        self.journal.append((container, key, container.get(key, _MISSING)))
        container[key] = value

    def savepoint(self) -> tuple[int, int]:
        return len(self.journal), len(self.ops)

    def rollback_to(self, point: tuple[int, int]) -> None:
        journal_len, ops_len = point
        while len(self.journal) > journal_len:
            container, key, previous = self.journal.pop()
            if previous is _MISSING:
                container.pop(key, None)
            else:
                container[key] = previous
        del self.ops[ops_len:]

    def check(self, *parts: str) -> None:
        # Checks survive a nested rollback on purpose: the values were read, and stay read.
        if parts[:-1] not in self.checked:
            self.checked.add(parts[:-1])
            self.checks.append(list(parts))

    def next_local(self) -> float:
        self.local_seq += 1
        return _LOCAL_SEQ + self.local_seq


class _Ahead:
    """An event read ahead of its resolution (`read_events_ahead`)."""

    __slots__ = ("envelope", "seed", "status")

    def __init__(self, *, envelope: str, status: str | None) -> None:
        self.envelope = envelope
        self.status = status  # not yet handed out by event_status
        self.seed: str | None = None  # handed out, not yet used by the event's unit


def _f(value: float) -> str:
    return repr(float(value))


# A single server's client or a cluster's: every command the store sends works on both.
RedisClient = aioredis.Redis | RedisCluster
# URL schemes of a Redis Cluster (seed nodes separated by commas).
CLUSTER_SCHEMES = ("redis+cluster://", "rediss+cluster://")


def _cluster_client(url: str) -> tuple[RedisCluster, str | None]:
    """`redis+cluster://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...][/][?prefix=NAME]` -> client, prefix."""
    parts = urlsplit(url)
    userinfo, _, hosts = parts.netloc.rpartition("@")
    username, _, password = userinfo.partition(":")
    nodes: list[ClusterNode] = []
    for seed in filter(None, hosts.split(",")):
        host, _, port = seed.rpartition(":")
        host = host.strip("[]")
        if not host or not port.isdigit():
            raise StoreUnavailable(url, f"malformed Redis Cluster URL: expected HOST:PORT, got {seed!r}")
        nodes.append(ClusterNode(host, int(port)))
    if not nodes:
        raise StoreUnavailable(url, "malformed Redis Cluster URL: no HOST:PORT seed node")
    if parts.path not in ("", "/", "/0"):
        raise StoreUnavailable(url, "malformed Redis Cluster URL: a cluster has only database 0")
    options = parse_qs(parts.query, keep_blank_values=True)
    unknown = set(options) - {"prefix"}
    if unknown:
        raise StoreUnavailable(url, f"malformed Redis Cluster URL: unknown option {sorted(unknown)[0]!r}")
    prefix = options.get("prefix", [""])[-1] or None
    try:
        client = RedisCluster(
            startup_nodes=nodes,
            decode_responses=True,
            health_check_interval=30,
            username=unquote(username) or None,
            password=unquote(password) or None,
            ssl=parts.scheme == "rediss+cluster",
        )
    except (ValueError, RedisError) as e:
        raise StoreUnavailable(url, f"malformed Redis Cluster URL: {e}") from e
    return client, prefix


def _split_prefix(url: str) -> tuple[str | None, str]:
    """`redis://HOST:PORT/DB?prefix=NAME` -> (NAME, the URL without it): redis-py knows no `prefix`."""
    parts = urlsplit(url)
    options = parse_qs(parts.query, keep_blank_values=True)
    if "prefix" not in options:
        return None, url
    prefix = options.pop("prefix")[-1] or None
    query = urlencode([(k, v) for k, values in options.items() for v in values])
    return prefix, parts._replace(query=query).geturl()


def _check_database(url: str) -> None:
    """redis-py reads `/abc` as database 0 without a word: a typo would share another store's data."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return  # the path is the socket; the database comes as `?db=N`
    database = parts.path.strip("/")
    if database and not database.isdigit():
        raise StoreUnavailable(url, f"malformed Redis URL: database {database!r} is not a number")


class RedisStore(BaseStore):
    """Stitch's state in Redis; see the module docstring for units, locks and keys."""

    outages = (StoreError, OSError, RedisError)

    def __init__(
        self,
        client: RedisClient,
        *,
        prefix: str = "stitch",
        url: str = "",
        lock_lease_s: float = LOCK_LEASE_S,
        lock_wait_s: float = LOCK_WAIT_S,
        owns_client: bool = False,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.url = url or f"redis://(client)/{prefix}"
        self.lock_lease_s = lock_lease_s
        self.lock_wait_s = lock_wait_s
        self.round_trips = 0  # counted client-side (bench/scale.py)
        self._tag = "{" + prefix + "}"
        self._owns_client = owns_client
        self._units: dict[asyncio.Task[Any], _Unit] = {}
        self._commit = client.register_script(_COMMIT)
        self._acquire = client.register_script(_ACQUIRE)
        self._release = client.register_script(_RELEASE)
        self._renew = client.register_script(_RENEW)
        self._break = client.register_script(_BREAK)
        self._prune = client.register_script(_PRUNE)
        self._graph_script = client.register_script(_GRAPH)
        # Lock keys held by this process's units -> set when they are released.
        self._local: dict[str, asyncio.Event] = {}
        self.lock_retries = 0  # tries of the lock script that found a key busy (bench/scale.py)
        self.lock_waited_s = 0.0  # time spent taking locks in Redis, retries included (bench/scale.py)
        self.lock_waited_local_s = 0.0  # time spent waiting for this process's other units (bench/scale.py)
        self._ahead: dict[str, _Ahead] = {}
        # (lease key, token) while this process is the graph's writer (`StreamWorker`): every commit
        # then checks that the lease is still ours, and resolution takes no locks in Redis.
        self.fence: tuple[str, str] | None = None
        self._wake_args = (self.key("lockwait"), self.key("wake") + ":")

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str | None = None,
        lock_lease_s: float = LOCK_LEASE_S,
        lock_wait_s: float = LOCK_WAIT_S,
    ) -> RedisStore:
        """A store on `redis://HOST:PORT/DB` (one server) or `redis+cluster://HOST:PORT[,HOST:PORT...]`.

        `prefix` names the store's hash tag (one graph, one writer lease); the URL may give it as
        `?prefix=NAME` (the keyword wins). The default is `stitch`.
        """
        client: RedisClient
        if url.startswith(CLUSTER_SCHEMES):
            client, url_prefix = _cluster_client(url)
            prefix = prefix or url_prefix
        else:
            url_prefix, server_url = _split_prefix(url)
            prefix = prefix or url_prefix
            _check_database(server_url)
            try:
                client = aioredis.Redis.from_url(server_url, decode_responses=True, health_check_interval=30)
            except (ValueError, RedisError) as e:
                raise StoreUnavailable(url, f"malformed Redis URL: {e}") from e
        return cls(
            client,
            prefix=prefix or "stitch",
            url=url,
            lock_lease_s=lock_lease_s,
            lock_wait_s=lock_wait_s,
            owns_client=True,
        )

    def key(self, *parts: str) -> str:
        """A key of this store (public: the stream queue and tests name keys the same way)."""
        return ":".join((self._tag, *parts))

    # -- lifecycle -------------------------------------------------------------------------------
    async def open(self) -> None:
        kwargs = self.client.get_connection_kwargs()
        if not kwargs.get("decode_responses"):
            raise StoreUnavailable(self.url, "the Redis client must be built with decode_responses=True")
        try:
            await self.client.ping()
        except (RedisError, OSError) as e:
            raise StoreUnavailable(self.url, f"Redis does not answer: {e}") from e
        await self._index_words_once()

    async def _index_words_once(self) -> None:
        """Fill the name index for profiles stored before it existed (one pass, at the first open)."""
        meta = self.key("meta")
        (done,) = await self._fetch([("hget", (meta, "profile_words"))])
        if done:
            return
        # Straight on committed state, like prune_recent: ZADD is idempotent, so two processes opening
        # at once only do the same work twice.
        async for keys in self._walk(self.key("pr", "all")):
            got = await self._fetch([("hmget", (self.key("pr", k), ["name", "handle"])) for k in keys])
            members: dict[str, float] = {}
            for k, (name, handle) in zip(keys, got, strict=True):
                members.update(dict.fromkeys((f"{w} {k}" for w in search_words(name or "", handle or "")), 0.0))
            if members:
                await self._fetch([("zadd", (self.key("pw"), members))])
        await self._fetch([("hset", (meta, "profile_words", "1"))])

    async def close(self) -> None:
        if self._owns_client:
            await self.client.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await self.client.ping())
        except (RedisError, OSError):
            return False

    @asynccontextmanager
    async def atomic(self) -> AsyncIterator[None]:
        task = asyncio.current_task()
        assert task is not None
        unit = self._units.get(task)
        if unit is not None:
            point = unit.savepoint()
            try:
                yield
            except BaseException:
                unit.rollback_to(point)
                raise
            return
        unit = _Unit()
        self._units[task] = unit
        try:
            yield
            await self._apply(unit)
        finally:
            del self._units[task]
            try:
                if unit.locks:
                    await self._unlock(unit.locks)
            finally:
                # After Redis: a local waiter let go now finds the keys free there too.
                self._local_release(unit)

    @asynccontextmanager
    async def writer_batch(self, event_ids: Sequence[str]) -> AsyncIterator[None]:
        """The graph writer's batch of events as one unit: one commit script for all of them.

        Only for the writer (`fence` set) while it holds GRAPH_LOCK (`hold_graph`): then no other
        process changes the graph, so what the unit has read stays true for the whole batch and is
        read once, and the events' locks (`lock`) are not needed, since the batch runs its events
        one after the other in this task. Each event inside is a nested unit (a savepoint), so a
        failing event rolls back alone. The statuses read ahead (`read_events_ahead`) seed the
        unit's reads, and the commit checks them as `finish_event` does. Nothing is written until
        the batch leaves: a crash before that leaves every event of the batch pending.
        """
        task = asyncio.current_task()
        assert task is not None
        if self.fence is None or task in self._units:
            raise StoreError("a writer batch needs the writer's lease and no unit open")
        unit = _Unit()
        unit.batch = True
        for event_id in event_ids:
            ahead = self._ahead.get(event_id)
            if ahead is not None and ahead.status is not None:
                unit.cache_f[(self.key("ev", event_id), "status")] = ahead.status
        self._units[task] = unit
        try:
            yield
            await self._apply(unit)
        finally:
            del self._units[task]

    async def _apply(self, unit: _Unit) -> None:
        if not unit.ops:
            return
        await self._keep_leases(unit)
        checks = unit.checks + [["GET", k, token] for k, token in unit.locks.items()]
        fence = self.fence
        if fence is not None:
            # Checked in the commit script itself: a writer whose lease lapsed writes nothing, even
            # a unit that was already in flight when it lapsed.
            checks.append(["GET", fence[0], fence[1]])
        payload = [
            json.dumps(checks, ensure_ascii=False),
            json.dumps(unit.ops, ensure_ascii=False),
            unit.token,
            *self._wake_args,
        ]
        self.round_trips += 1
        try:
            failed = await self._commit(keys=[self.key("seq"), *unit.locks], args=payload)
        except RedisError as e:
            raise StoreError(f"commit failed: {e}") from e
        # The script released the locks either way (they all carry the unit's token).
        unit.locks.clear()
        if failed:
            if fence is not None and int(failed) == len(checks):
                raise LeaseLost(fence[0])
            what = checks[int(failed) - 1][0]
            raise WriteConflict(f"another worker changed what this unit read ({what})")

    @asynccontextmanager
    async def _work(self) -> AsyncIterator[_Unit]:
        """The current unit, or a one-call unit committed at once (a method called outside `atomic`)."""
        task = asyncio.current_task()
        assert task is not None
        unit = self._units.get(task)
        if unit is not None:
            yield unit
            return
        async with self.atomic():
            yield self._units[task]

    # -- locks -----------------------------------------------------------------------------------
    @asynccontextmanager
    async def lock(self, keys: Iterable[str]) -> AsyncIterator[None]:
        """Take the keys all-or-nothing; held until the unit they were taken in has committed.

        Outside a unit, `lock` opens one, so what the block writes commits when the block is left, and
        the commit script releases the locks in the same round trip (the pipeline's
        `lock(keys), atomic()` then costs one script for commit and release together).
        """
        task = asyncio.current_task()
        assert task is not None
        if task not in self._units:
            async with self.atomic(), self.lock(keys):
                yield
            return
        unit = self._units[task]
        if unit.batch:
            # The writer's batch: its events run one at a time and nobody else writes (`writer_batch`).
            yield
            return
        wanted = set(keys)
        if self.fence is None:
            # Not the graph's writer (a replay in this process, a manual change): keep apart from the
            # writer's batches, which hold GRAPH_LOCK, and from any other such process.
            wanted.add(GRAPH_LOCK)
        else:
            # The writer: no other process resolves, and GRAPH_LOCK is held for the whole batch
            # (`hold_graph`); only this process's units in flight need keeping apart, in memory.
            wanted.discard(GRAPH_LOCK)
        names = sorted({self.key("lock", k) for k in wanted})
        # Re-entrant within the unit.
        need = [n for n in names if n not in unit.local]
        await self._keep_leases(unit)
        if need:
            # Tasks of this process wait for each other here, without polling Redis; only another
            # process's holder makes the Redis script below retry.
            started = time.monotonic()
            await self._local_acquire(unit, need)
            waited = time.monotonic()
            self.lock_waited_local_s += waited - started
            if self.fence is None:
                await self._lock(need, unit.token)
                self.lock_waited_s += time.monotonic() - waited
                unit.locks.update(dict.fromkeys(need, unit.token))
                unit.renewed_at = unit.renewed_at or time.monotonic()
            # What was read before waiting may have changed meanwhile: read it again.
            unit.forget_reads()
        yield

    @asynccontextmanager
    async def hold_graph(self, token: str) -> AsyncIterator[None]:
        """The writer's hold on GRAPH_LOCK while it resolves one batch (`StreamWorker`).

        A manual merge, split or "not the same" takes the same lock (`Merger`), so it waits for the
        batch's end instead of racing the writer's decisions; the release wakes it at once.
        """
        name = self.key("lock", GRAPH_LOCK)
        started = time.monotonic()
        await self._lock([name], token)
        self.lock_waited_s += time.monotonic() - started
        try:
            yield
        finally:
            await self._unlock({name: token})

    async def break_graph_lock(self, writer_prefix: str) -> bool:
        """Free GRAPH_LOCK if a previous writer (token starting with `writer_prefix`) still holds it.

        Called by a new writer once the lease is its own: the old one is dead or fenced off, and
        its hold would otherwise keep manual changes and the new writer waiting for its expiry.
        """
        self.round_trips += 1
        freed = await self._break(keys=[self.key("lock", GRAPH_LOCK)], args=[writer_prefix, *self._wake_args])
        return bool(freed)

    async def _local_acquire(self, unit: _Unit, names: list[str]) -> None:
        # All-or-nothing, like the Redis script. A unit that already holds keys (a replay batch) and
        # waits for more can still meet another such unit: the wait is bounded as in Redis.
        deadline = time.monotonic() + self.lock_wait_s
        while busy := [self._local[n] for n in names if n in self._local]:
            try:
                await asyncio.wait_for(busy[0].wait(), max(0.0, deadline - time.monotonic()))
            except TimeoutError as e:
                raise StoreError(f"resolution keys stayed locked for {self.lock_wait_s:.0f}s") from e
        freed = asyncio.Event()
        for n in names:
            self._local[n] = freed
        unit.local.extend(names)

    def _local_release(self, unit: _Unit) -> None:
        if not unit.local:
            return
        freed = {self._local.pop(n) for n in unit.local}
        unit.local.clear()
        for event in freed:
            event.set()

    async def _lock(self, names: list[str], token: str) -> None:
        lease_ms = str(int(self.lock_lease_s * 1000))
        deadline = time.monotonic() + self.lock_wait_s
        delay = LOCK_POLL_MIN_S
        waits, wake = self._wake_args
        while True:
            self.round_trips += 1
            busy = await self._acquire(keys=names, args=[token, lease_ms, waits])
            if not busy:
                return
            self.lock_retries += 1
            if time.monotonic() >= deadline:
                raise StoreError(f"resolution keys stayed locked for {self.lock_wait_s:.0f}s")
            # Until the holder releases the busy key (it pushes a token), or a pause that doubles up to
            # a cap: a holder whose lease ran out releases nothing. Jitter keeps two waiters apart.
            self.round_trips += 1
            pause = delay * (0.5 + secrets.randbelow(1000) / 1000)
            await self.client.blpop([wake + names[int(busy) - 1]], timeout=pause)
            delay = min(delay * 2, LOCK_POLL_MAX_S)

    async def _keep_leases(self, unit: _Unit) -> None:
        """Renew the leases of a long unit (a replay batch holds its locks until it commits)."""
        if not unit.locks or time.monotonic() - unit.renewed_at < self.lock_lease_s / 3:
            return
        lease_ms = str(int(self.lock_lease_s * 1000))
        self.round_trips += 1
        await self._renew(keys=list(unit.locks), args=[unit.token, lease_ms])
        unit.renewed_at = time.monotonic()

    async def _unlock(self, held: dict[str, str]) -> None:
        by_token: dict[str, list[str]] = {}
        for name, token in held.items():
            by_token.setdefault(token, []).append(name)
        try:
            for token, names in by_token.items():
                self.round_trips += 1
                await self._release(keys=names, args=[token, *self._wake_args])
        except (RedisError, OSError):
            # The lease frees them; a failed release only delays the next worker.
            log.warning("lock release failed; leases will expire", extra={"keys": len(held)})

    # -- overlay primitives ----------------------------------------------------------------------
    async def _fetch(self, calls: list[tuple[str, tuple[Any, ...]]]) -> list[Any]:
        if not calls:
            return []
        self.round_trips += 1
        try:
            if len(calls) == 1:
                name, args = calls[0]
                return [await getattr(self.client, name)(*args)]
            pipe = self.client.pipeline(transaction=False)
            for name, args in calls:
                getattr(pipe, name)(*args)
            return list(await pipe.execute())
        except RedisError as e:
            raise StoreError(f"read failed: {e}") from e

    async def _hashes(self, unit: _Unit, keys: Sequence[str]) -> list[dict[str, str]]:
        """Whole hashes as this unit sees them (Redis, cached, then the unit's own writes)."""
        missing = [k for k in dict.fromkeys(keys) if k not in unit.cache_h]
        for k, got in zip(missing, await self._fetch([("hgetall", (k,)) for k in missing]), strict=True):
            unit.cache_h[k] = got
        out = []
        for k in keys:
            merged = dict(unit.cache_h[k])
            for f, v in unit.hashes.get(k, {}).items():
                if v is None:
                    merged.pop(f, None)
                else:
                    merged[f] = v
            out.append(merged)
        return out

    async def _hash(self, unit: _Unit, key: str) -> dict[str, str]:
        return (await self._hashes(unit, [key]))[0]

    async def _fields(self, unit: _Unit, key: str, fields: Sequence[str]) -> list[str | None]:
        """Some fields of a large hash, without reading all of it."""
        over = unit.hashes.get(key, {})
        whole = unit.cache_h.get(key)
        missing = [f for f in dict.fromkeys(fields) if f not in over and whole is None and (key, f) not in unit.cache_f]
        if missing:
            (got,) = await self._fetch([("hmget", (key, missing))])
            for f, v in zip(missing, got, strict=True):
                unit.cache_f[(key, f)] = v
        out: list[str | None] = []
        for f in fields:
            if f in over:
                out.append(over[f])
            elif whole is not None:
                out.append(whole.get(f))
            else:
                out.append(unit.cache_f[(key, f)])
        return out

    @staticmethod
    def _assume_absent(unit: _Unit, hashes: Sequence[str]) -> None:
        """Take the hashes of a freshly made id as absent without reading them; the commit checks it.

        An id that did exist after all makes the unit refuse to commit (WriteConflict, a StoreError),
        where a read would have refused at once (StoreError): the same unit is rejected either way.
        """
        partial = {k for k, _ in unit.cache_f}
        for k in hashes:
            if k not in unit.cache_h and k not in partial:
                unit.cache_h[k] = {}
                unit.check("EXISTS", k, "0")

    async def _graph(
        self,
        unit: _Unit,
        *,
        profiles: Sequence[str] = (),
        persons: Sequence[str] = (),
        identifiers: Sequence[str] = (),
        shared: Sequence[str] = (),
        ranges: Sequence[tuple[str, str, int]] = (),
    ) -> dict[str, list[Any]]:
        """One round trip for a read and what the resolver reads next about the profiles it names.

        `profiles` (keys) and `persons` are followed to the whole person: alias chain, root, members,
        their profiles, leads, cannot-links and suggestions; `identifiers` (identifier keys) are read
        and their profiles followed the same way; `ranges` are recent-message blocks
        (key, min score, limit) whose profiles are followed to their root. Every hash, set and sorted
        set read is cached as if its accessor had read it, only where the unit has not read that key
        yet (repeatable reads); the accessors add their commit checks when they are called, exactly
        as before, so reading ahead changes no decision and no guarantee. Returns the replies of the
        `ranges` (by key) and of the `shared` fields (under the shared hash's key), which are answers
        rather than cache.
        """
        spec: dict[str, list[Any]] = {}
        if profiles:
            spec["p"] = list(profiles)
        if persons:
            spec["m"] = list(persons)
        if identifiers:
            spec["i"] = [self.key("id", k) for k in identifiers]
        if shared:
            spec["f"] = list(shared)
        if ranges:
            spec["r"] = [list(r) for r in ranges]
        if not spec:
            return {}
        keys = [*(r[0] for r in ranges), *spec.get("i", ())] or [self.key("seq")]
        self.round_trips += 1
        try:
            got = await self._graph_script(
                keys=keys, args=[self._tag + ":", MAX_ALIAS_DEPTH, GRAPH_BUDGET, json.dumps(spec, ensure_ascii=False)]
            )
        except RedisError as e:
            raise StoreError(f"read failed: {e}") from e
        partial = {k for k, _ in unit.cache_f}
        answers: dict[str, list[Any]] = {}
        for i in range(0, len(got), 3):
            kind, key, reply = got[i], got[i + 1], got[i + 2]
            if kind == "h":
                if key not in unit.cache_h and key not in partial:
                    unit.cache_h[key] = dict(zip(reply[::2], reply[1::2], strict=True))
            elif kind == "s":
                unit.cache_s.setdefault(key, set(reply))
            elif kind == "z":
                if key not in unit.cache_z:
                    unit.cache_z[key] = [(m, float(sc)) for m, sc in zip(reply[::2], reply[1::2], strict=True)]
            else:
                answers[key] = reply
        return answers

    def _hset(self, unit: _Unit, key: str, mapping: dict[str, str | None]) -> None:
        over = unit.hashes.setdefault(key, {})
        sets: list[str] = []
        dels: list[str] = []
        for f, v in mapping.items():
            unit.put(over, f, v)
            if v is None:
                dels.append(f)
            else:
                sets.extend((f, v))
        if sets:
            unit.ops.append(["HSET", key, *sets])
        if dels:
            unit.ops.append(["HDEL", key, *dels])

    def _hsetnx(self, unit: _Unit, key: str, field: str, value: str) -> None:
        # The caller saw the field absent; HSETNX keeps the first writer's value if a race added it.
        unit.put(unit.hashes.setdefault(key, {}), field, value)
        unit.ops.append(["HSETNX", key, field, value])

    async def _members(self, unit: _Unit, keys: Sequence[str]) -> list[set[str]]:
        missing = [k for k in dict.fromkeys(keys) if k not in unit.cache_s]
        for k, got in zip(missing, await self._fetch([("smembers", (k,)) for k in missing]), strict=True):
            unit.cache_s[k] = set(got)
        out = []
        for k in keys:
            merged = set(unit.cache_s[k])
            for m, present in unit.sets.get(k, {}).items():
                if present:
                    merged.add(m)
                else:
                    merged.discard(m)
            out.append(merged)
        return out

    def _sadd(self, unit: _Unit, key: str, member: str) -> None:
        unit.put(unit.sets.setdefault(key, {}), member, True)
        unit.ops.append(["SADD", key, member])

    def _srem(self, unit: _Unit, key: str, member: str) -> None:
        unit.put(unit.sets.setdefault(key, {}), member, False)
        unit.ops.append(["SREM", key, member])

    async def _zsets(self, unit: _Unit, keys: Sequence[str]) -> list[list[tuple[str, float]]]:
        """Whole small sorted sets (per-person indexes), ascending by score then member."""
        missing = [k for k in dict.fromkeys(keys) if k not in unit.cache_z]
        calls: list[tuple[str, tuple[Any, ...]]] = [("zrange", (k, 0, -1, False, True)) for k in missing]
        for k, got in zip(missing, await self._fetch(calls), strict=True):
            unit.cache_z[k] = [(m, float(s)) for m, s in got]
        return [self._overlaid(unit, k, unit.cache_z[k]) for k in keys]

    @staticmethod
    def _overlaid(unit: _Unit, key: str, base: Iterable[tuple[str, float]]) -> list[tuple[str, float]]:
        over = unit.zsets.get(key)
        if not over:
            return list(base)
        merged = {m: s for m, s in base if m not in over}
        merged.update({m: s for m, s in over.items() if s is not None})
        return sorted(merged.items(), key=lambda ms: (ms[1], ms[0]))

    def _zadd(self, unit: _Unit, key: str, member: str, score: float) -> None:
        unit.put(unit.zsets.setdefault(key, {}), member, score)
        unit.ops.append(["ZADD", key, _f(score), member])

    def _zadd_seq(self, unit: _Unit, key: str, member: str, hash_key: str = "") -> None:
        """Add in arrival order: the commit script numbers the member from the shared counter."""
        unit.put(unit.zsets.setdefault(key, {}), member, unit.next_local())
        unit.ops.append(["SEQ", key, member, hash_key])

    def _zrem(self, unit: _Unit, key: str, member: str) -> None:
        unit.put(unit.zsets.setdefault(key, {}), member, None)
        unit.ops.append(["ZREM", key, member])

    async def _counters(self, unit: _Unit) -> dict[str, int]:
        key = self.key("counts")
        (got,) = await self._fetch([("hgetall", (key,))])
        out = {f: int(v) for f, v in got.items()}
        for f, delta in unit.counters.get(key, {}).items():
            out[f] = out.get(f, 0) + delta
        return out

    def _count(self, unit: _Unit, field: str, delta: int) -> None:
        key = self.key("counts")
        over = unit.counters.setdefault(key, {})
        unit.put(over, field, over.get(field, 0) + delta)
        unit.ops.append(["HINCRBY", key, field, str(delta)])

    async def _walk(self, key: str) -> AsyncIterator[list[str]]:
        """A whole index in chunks, committed state (export; not part of any unit)."""
        start = 0
        while True:
            (chunk,) = await self._fetch([("zrange", (key, start, start + CHUNK - 1))])
            if not chunk:
                return
            yield chunk
            start += len(chunk)

    # -- events ----------------------------------------------------------------------------------
    async def add_event(self, envelope: Envelope) -> bool:
        async with self._work() as unit:
            key = self.key("ev", envelope.id)
            (status,) = await self._fields(unit, key, ["status"])
            if status is not None:
                return False
            self._hset(unit, key, {"envelope": envelope_dump(envelope), "status": "pending", "reason": ""})
            # The arrival number is kept on the event too: the stream worker compares it with the
            # oldest entry left in the stream to find events whose entries were trimmed away.
            self._zadd_seq(unit, self.key("ev", "pending"), envelope.id, key)
            self._count(unit, "ev:pending", 1)
            return True

    async def read_events_ahead(self, event_ids: Sequence[str]) -> None:
        """Read the events a worker is about to resolve, a whole stream batch in one round trip.

        An envelope never changes once stored, so `get_event` answers from here. The status is handed
        out once by `event_status` (outside a unit, as the pipeline asks before locking), and then
        seeds the status read of the event's unit: `finish_event` checks at commit that the status is
        still the one seen, so a status that changed meanwhile makes the commit refuse and the re-run
        reads afresh. `forget_events_ahead` drops what is left when the batch is done.
        """
        ids = [i for i in dict.fromkeys(event_ids) if i not in self._ahead]
        got = await self._fetch([("hmget", (self.key("ev", i), ["envelope", "status"])) for i in ids])
        for event_id, (envelope, status) in zip(ids, got, strict=True):
            if envelope is not None:
                self._ahead[event_id] = _Ahead(envelope=envelope, status=status)

    def forget_events_ahead(self, event_ids: Iterable[str]) -> None:
        for event_id in event_ids:
            self._ahead.pop(event_id, None)

    async def get_event(self, event_id: str) -> Envelope | None:
        ahead = self._ahead.get(event_id)
        if ahead is not None:
            return envelope_load(ahead.envelope)
        async with self._work() as unit:
            (raw,) = await self._fields(unit, self.key("ev", event_id), ["envelope"])
            return None if raw is None else envelope_load(raw)

    async def event_status(self, event_id: str) -> EventStatus | None:
        ahead = self._ahead.get(event_id)
        task = asyncio.current_task()
        if ahead is not None and ahead.status is not None and task not in self._units:
            ahead.seed, ahead.status = ahead.status, None
            return EventStatus(ahead.seed)
        async with self._work() as unit:
            (raw,) = await self._fields(unit, self.key("ev", event_id), ["status"])
            return None if raw is None else EventStatus(raw)

    async def finish_event(self, event_id: str, status: EventStatus, reason: str = "") -> None:
        async with self._work() as unit:
            key = self.key("ev", event_id)
            ahead = self._ahead.get(event_id)
            if ahead is not None and ahead.seed is not None:
                if (key, "status") not in unit.cache_f and key not in unit.cache_h:
                    # Seen before the lock; the check below makes the commit confirm it.
                    unit.cache_f[(key, "status")] = ahead.seed
                ahead.seed = None
            (old,) = await self._fields(unit, key, ["status"])
            if old is None:
                return
            # Two workers finishing one event (a reclaimed entry) must not both count it, and the
            # later one must not overwrite the first one's outcome: it re-runs and finds it done.
            if (key, "status") in unit.cache_f:
                seen = unit.cache_f[(key, "status")] or ""
                unit.check("HGET", key, "status", seen)
                if seen in FINISHED and status.value in FINISHED and key not in unit.hashes:
                    raise WriteConflict(f"event {event_id} was already finished by another worker")
            self._hset(unit, key, {"status": status.value, "reason": reason})
            if old != status.value:
                self._count(unit, f"ev:{old}", -1)
                self._count(unit, f"ev:{status.value}", 1)
            if status is not EventStatus.PENDING:
                self._zrem(unit, self.key("ev", "pending"), event_id)

    async def pending_events(self, limit: int) -> list[Envelope]:
        async with self._work() as unit:
            key = self.key("ev", "pending")
            over = unit.zsets.get(key, {})
            removed = sum(1 for s in over.values() if s is None)
            (got,) = await self._fetch([("zrange", (key, 0, limit + removed - 1, False, True))])
            ids = [m for m, _ in self._overlaid(unit, key, [(m, float(s)) for m, s in got])][:limit]
            raws = [(await self._fields(unit, self.key("ev", i), ["envelope"]))[0] for i in ids]
            return [envelope_load(r) for r in raws if r is not None]

    async def event_counts(self) -> dict[str, int]:
        async with self._work() as unit:
            counts = await self._counters(unit)
            return {f[3:]: n for f, n in counts.items() if f.startswith("ev:") and n > 0}

    async def count_events(self, status: EventStatus) -> int:
        async with self._work() as unit:
            return max(0, (await self._counters(unit)).get(f"ev:{EventStatus(status).value}", 0))

    async def park_event(self, event_id: str, reason: str, attempts: int) -> bool:
        async with self._work() as unit:
            key = self.key("ev", event_id)
            status, raw, before = await self._fields(unit, key, ["status", "envelope", "attempts"])
            if status != EventStatus.PENDING.value or raw is None:
                return False
            # A worker that resolved the event meanwhile makes this commit refuse (WriteConflict).
            self._check_status(unit, key, status)
            total = int(before or 0) + attempts
            self._hset(unit, key, {"status": EventStatus.FAILED.value, "reason": reason, "attempts": str(total)})
            self._count(unit, "ev:pending", -1)
            self._count(unit, "ev:failed", 1)
            self._zrem(unit, self.key("ev", "pending"), event_id)
            self._zadd(unit, self.key("ev", "failed"), event_id, ts(envelope_load(raw).received_at))
            return True

    async def unpark_event(self, event_id: str) -> bool:
        async with self._work() as unit:
            key = self.key("ev", event_id)
            (status,) = await self._fields(unit, key, ["status"])
            if status != EventStatus.FAILED.value:
                return False
            self._check_status(unit, key, status)
            self._hset(unit, key, {"status": EventStatus.PENDING.value, "reason": ""})
            self._count(unit, "ev:failed", -1)
            self._count(unit, "ev:pending", 1)
            self._zrem(unit, self.key("ev", "failed"), event_id)
            # A new arrival number, as when it was stored: the stream worker's orphan check reads it.
            self._zadd_seq(unit, self.key("ev", "pending"), event_id, key)
            return True

    @staticmethod
    def _check_status(unit: _Unit, key: str, status: str) -> None:
        # Only a status read from Redis is checked at commit; one this unit wrote (an event stored
        # and parked in one unit, as replay does) is not in Redis yet.
        if "status" not in unit.hashes.get(key, {}):
            unit.check("HGET", key, "status", status)

    async def parked_events(self, limit: int) -> list[ParkedEvent]:
        async with self._work() as unit:
            key = self.key("ev", "failed")
            (got,) = await self._fetch([("zrange", (key, 0, limit - 1, False, True))])
            rows = self._overlaid(unit, key, [(m, float(sc)) for m, sc in got])
            rows.sort(key=lambda ms: ms[1])
            parked = []
            for event_id, _ in rows[:limit]:
                raw, attempts, reason = await self._fields(
                    unit, self.key("ev", event_id), ["envelope", "attempts", "reason"]
                )
                if raw is None:
                    continue
                envelope = envelope_load(raw)
                parked.append(
                    ParkedEvent(
                        event_id=event_id,
                        channel=envelope.channel.value,
                        received_at=envelope.received_at,
                        attempts=int(attempts or 0),
                        reason=reason or "",
                    )
                )
            return parked

    # -- messages --------------------------------------------------------------------------------
    async def message_seen(self, channel: str, provider_message_id: str) -> bool:
        async with self._work() as unit:
            (seen,) = await self._fields(unit, self.key("msg", "ids"), [f"{channel}|{provider_message_id}|in"])
            return seen is not None

    async def read_seen_ahead(self, deliveries: Sequence[tuple[str, str]]) -> None:
        """Whether each (channel, provider message id) was stored, for a whole writer batch in one round
        trip: `message_seen` and `add_message` of the batch's events then read it from the unit."""
        async with self._work() as unit:
            key = self.key("msg", "ids")
            wanted = [f"{c}|{m}|in" for c, m in dict.fromkeys(deliveries)]
            await self._fields(unit, key, wanted)

    async def add_message(self, message: StoredMessage) -> None:
        async with self._work() as unit:
            key = self.key("msg", message.event_id)
            ident = f"{message.channel.value}|{message.provider_message_id}|{message.direction.value}"
            (taken,) = await self._fields(unit, self.key("msg", "ids"), [ident])
            if taken is not None:
                raise StoreError(f"message of event {message.event_id} is already stored")
            # The same delivery resolved twice at once (a reclaimed entry): only one may store it.
            unit.check("HEXISTS", self.key("msg", "ids"), ident, "0")
            self._hset(
                unit,
                key,
                {
                    "channel": message.channel.value,
                    "pmid": message.provider_message_id,
                    "profile": message.profile_key,
                    "lead": message.lead_id,
                    "sent_at": _f(ts(message.sent_at)),
                    "direction": message.direction.value,
                    "text": message.text,
                    "meta": json.dumps(dict(message.meta), ensure_ascii=False),
                    "seq": _f(unit.next_local()),
                },
            )
            self._hset(unit, self.key("msg", "ids"), {ident: message.event_id})
            self._zadd(unit, self.key("msg", "by", message.profile_key), message.event_id, ts(message.sent_at))
            self._zadd_seq(unit, self.key("msg", message.direction.value), message.event_id, key)
            self._count(unit, "messages", 1)

    @staticmethod
    def _message(event_id: str, h: dict[str, str]) -> StoredMessage:
        return StoredMessage(
            event_id=event_id,
            channel=Channel(h["channel"]),
            provider_message_id=h["pmid"],
            profile_key=h["profile"],
            lead_id=h["lead"],
            sent_at=dt(h["sent_at"]),
            direction=Direction(h["direction"]),
            text=h["text"],
            meta=json.loads(h["meta"]),
        )

    async def _message_ids(self, unit: _Unit, profile_keys: Sequence[str], bound: float, limit: int) -> list[str]:
        keys = [self.key("msg", "by", k) for k in profile_keys]
        top = "(" + _f(bound) if math.isfinite(bound) else "+inf"
        calls: list[tuple[str, tuple[Any, ...]]] = [("zrevrangebyscore", (k, top, "-inf", 0, limit)) for k in keys]
        ids: list[str] = []
        for k, got in zip(keys, await self._fetch(calls), strict=True):
            over = unit.zsets.get(k, {})
            ids.extend(m for m in got if over.get(m, 0.0) is not None)
            ids.extend(m for m, s in over.items() if s is not None and s < bound and m not in got)
        return list(dict.fromkeys(ids))

    async def messages_of(
        self, profile_keys: Sequence[str], *, limit: int = 200, before: datetime | None = None
    ) -> list[StoredMessage]:
        if not profile_keys:
            return []
        async with self._work() as unit:
            bound = ts(before) if before else math.inf
            ids = await self._message_ids(unit, profile_keys, bound, limit)
            hashes = await self._hashes(unit, [self.key("msg", i) for i in ids])
            rows = [(float(h["sent_at"]), float(h.get("seq", 0)), i, h) for i, h in zip(ids, hashes, strict=True) if h]
            rows.sort(key=lambda r: (r[0], r[1]), reverse=True)
            return [self._message(i, h) for _, _, i, h in rows[:limit]]

    async def relead_messages(self, profile_keys: Sequence[str], from_lead: str, to_lead: str) -> None:
        if not profile_keys:
            return
        async with self._work() as unit:
            ids = await self._message_ids(unit, profile_keys, math.inf, -1)
            keys = [self.key("msg", i) for i in ids]
            for key, h in zip(keys, await self._hashes(unit, keys), strict=True):
                if h.get("lead") == from_lead:
                    self._hset(unit, key, {"lead": to_lead})

    async def iter_messages(self) -> AsyncIterator[StoredMessage]:
        async for ids in self._walk(self.key("msg", "in")):
            got = await self._fetch([("hgetall", (self.key("msg", i),)) for i in ids])
            for i, h in zip(ids, got, strict=True):
                if h:
                    yield self._message(i, h)

    # -- profiles and identifiers ----------------------------------------------------------------
    @staticmethod
    def _profile(key: str, h: dict[str, str]) -> Profile:
        return Profile(
            key=key,
            channel=Channel(h["channel"]),
            user_id=h["user_id"],
            account=h["account"],
            chat_id=h["chat_id"],
            name=h["name"],
            handle=h["handle"],
            person_id=h["person_id"],
            first_seen=dt(h["first_seen"]),
            last_seen=dt(h["last_seen"]),
            unreachable=h["unreachable"] == "1",
        )

    async def get_profiles(self, keys: Sequence[str]) -> dict[str, Profile]:
        if not keys:
            return {}
        async with self._work() as unit:
            hash_keys = [self.key("pr", k) for k in keys]
            await self._graph(unit, profiles=[k for k in dict.fromkeys(keys) if self.key("pr", k) not in unit.cache_h])
            hashes = await self._hashes(unit, hash_keys)
            return {k: self._profile(k, h) for k, h in zip(keys, hashes, strict=True) if h}

    async def put_profile(self, profile: Profile) -> None:
        async with self._work() as unit:
            key = self.key("pr", profile.key)
            old = await self._hash(unit, key)
            if not old:
                self._count(unit, "profiles", 1)
            elif old["person_id"] != profile.person_id:
                self._zrem(unit, self.key("pp", old["person_id"]), profile.key)
            if not old or (old["name"], old["handle"]) != (profile.name, profile.handle):
                # Only a new or renamed profile touches the name index: most writes just move last_seen.
                before = search_words(old["name"], old["handle"]) if old else set()
                after = search_words(profile.name, profile.handle)
                for word in sorted(before - after):
                    self._zrem(unit, self.key("pw"), f"{word} {profile.key}")
                for word in sorted(after - before):
                    self._zadd(unit, self.key("pw"), f"{word} {profile.key}", 0.0)
            first = ts(profile.first_seen)
            self._hset(
                unit,
                key,
                {
                    "channel": profile.channel.value,
                    "user_id": profile.user_id,
                    "account": profile.account,
                    "chat_id": profile.chat_id,
                    "name": profile.name,
                    "handle": profile.handle,
                    "person_id": profile.person_id,
                    "first_seen": _f(first),
                    "last_seen": _f(ts(profile.last_seen)),
                    "unreachable": "1" if profile.unreachable else "0",
                },
            )
            if old.get("first_seen") != _f(first) or old.get("person_id") != profile.person_id:
                self._zadd(unit, self.key("pr", "all"), profile.key, first)
                self._zadd(unit, self.key("pp", profile.person_id), profile.key, first)

    async def iter_profiles(self) -> AsyncIterator[Profile]:
        async for keys in self._walk(self.key("pr", "all")):
            got = await self._fetch([("hgetall", (self.key("pr", k),)) for k in keys])
            for k, h in zip(keys, got, strict=True):
                if h:
                    yield self._profile(k, h)

    async def link_identifier(self, profile_key: str, identifier: Identifier) -> None:
        async with self._work() as unit:
            key = self.key("id", identifier.key)
            (known,) = await self._fields(unit, key, [profile_key])
            if known is not None:
                return
            self._hsetnx(unit, key, profile_key, identifier.provenance.value)
            self._hsetnx(unit, self.key("pid", profile_key), identifier.key, identifier.provenance.value)

    async def identifiers_of(self, profile_keys: Sequence[str]) -> dict[str, list[Identifier]]:
        out: dict[str, list[Identifier]] = {k: [] for k in profile_keys}
        if not profile_keys:
            return out
        async with self._work() as unit:
            hashes = await self._hashes(unit, [self.key("pid", k) for k in profile_keys])
            for k, h in zip(profile_keys, hashes, strict=True):
                for ident in sorted(h):
                    kind, _, value = ident.partition(":")
                    out[k].append(Identifier(kind=IdKind(kind), value=value, provenance=Provenance(h[ident])))
            return out

    async def profiles_by_identifier(self, identifier_keys: Sequence[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {k: [] for k in identifier_keys}
        if not identifier_keys:
            return out
        async with self._work() as unit:
            keys = [self.key("id", k) for k in identifier_keys]
            # The resolver next asks whether these identifiers are shared and follows the profiles
            # found to their persons: one round trip for all of it.
            shared = self.key("shared")
            ask = [k for k in dict.fromkeys(identifier_keys) if self.key("id", k) not in unit.cache_h]
            fields = [] if shared in unit.cache_h else [k for k in ask if (shared, k) not in unit.cache_f]
            if ask:
                answers = await self._graph(unit, identifiers=ask, shared=fields)
                for f, v in zip(fields, answers.get(shared, ()), strict=True):
                    unit.cache_f[(shared, f)] = v
            hashes = await self._hashes(unit, keys)
            for k, h in zip(identifier_keys, hashes, strict=True):
                out[k] = sorted(h)
            return out

    async def mark_shared(self, identifier_key: str, reason: str, at: datetime) -> None:
        async with self._work() as unit:
            key = self.key("shared")
            (known,) = await self._fields(unit, key, [identifier_key])
            if known is None:
                self._hsetnx(unit, key, identifier_key, json.dumps([reason, ts(at)], ensure_ascii=False))

    async def shared_among(self, identifier_keys: Sequence[str]) -> set[str]:
        if not identifier_keys:
            return set()
        async with self._work() as unit:
            got = await self._fields(unit, self.key("shared"), identifier_keys)
            return {k for k, v in zip(identifier_keys, got, strict=True) if v is not None}

    async def list_shared(self) -> list[tuple[str, str, datetime]]:
        async with self._work() as unit:
            h = await self._hash(unit, self.key("shared"))
            rows = [(k, *json.loads(v)) for k, v in h.items()]
            rows.sort(key=lambda r: r[2], reverse=True)
            return [(k, reason, dt(since)) for k, reason, since in rows]

    async def add_edge(self, a: str, b: str, score: float, evidence: Sequence[Evidence], at: datetime) -> None:
        a, b = min(a, b), max(a, b)
        value = json.dumps({"s": score, "e": evidence_dump(evidence), "at": ts(at)}, ensure_ascii=False)
        async with self._work() as unit:
            self._hset(unit, self.key("edge", a), {b: value})
            self._hset(unit, self.key("edge", b), {a: value})

    async def edges_of(self, profile_keys: Sequence[str]) -> list[tuple[str, str, float, list[Evidence]]]:
        if not profile_keys:
            return []
        async with self._work() as unit:
            hashes = await self._hashes(unit, [self.key("edge", k) for k in profile_keys])
            found: dict[tuple[str, str], str] = {}
            for k, h in zip(profile_keys, hashes, strict=True):
                for other, value in h.items():
                    found[(min(k, other), max(k, other))] = value
            out = []
            for (a, b), value in sorted(found.items()):
                obj = json.loads(value)
                out.append((a, b, float(obj["s"]), list(evidence_load(obj["e"]))))
            return out

    # -- persons ---------------------------------------------------------------------------------
    @staticmethod
    def _person(person_id: str, h: dict[str, str]) -> Person:
        return Person(
            person_id=person_id,
            created_at=dt(h["created_at"]),
            display_name=h["display_name"],
            responsible=h.get("responsible", ""),
            merged_into=h.get("merged_into"),
        )

    async def _person_hashes(self, unit: _Unit, person_ids: Sequence[str]) -> list[dict[str, str]]:
        keys = [self.key("pe", p) for p in person_ids]
        hashes = await self._hashes(unit, keys)
        for k in keys:
            # Merges rest on the alias forest: a root that changed under us invalidates the unit.
            unit.check("HGET", k, "merged_into", unit.cache_h[k].get("merged_into", ""))
        return hashes

    async def add_person(self, person: Person) -> None:
        async with self._work() as unit:
            key = self.key("pe", person.person_id)
            # A new id is taken as free without a round trip: the commit checks that it is. (Its
            # indexes may exist already, a lead stored before its person: members_of reads them.)
            self._assume_absent(unit, [key])
            if await self._hash(unit, key):
                raise StoreError(f"person {person.person_id} already exists")
            self._hset(
                unit,
                key,
                {
                    "created_at": _f(ts(person.created_at)),
                    "display_name": person.display_name,
                    "responsible": person.responsible,
                    "merged_into": person.merged_into,
                },
            )
            self._zadd(unit, self.key("pe", "all"), person.person_id, ts(person.created_at))
            if person.merged_into is None:
                self._count(unit, "persons", 1)
            else:
                self._sadd(unit, self.key("ch", person.merged_into), person.person_id)

    async def get_person(self, person_id: str) -> Person | None:
        async with self._work() as unit:
            (h,) = await self._person_hashes(unit, [person_id])
            return self._person(person_id, h) if h else None

    async def update_person(
        self, person_id: str, *, display_name: str | None = None, responsible: str | None = None
    ) -> None:
        async with self._work() as unit:
            key = self.key("pe", person_id)
            if not await self._hash(unit, key):
                return
            change = {"display_name": display_name, "responsible": responsible}
            self._hset(unit, key, {f: v for f, v in change.items() if v is not None})

    async def set_merged_into(self, person_id: str, into: str | None) -> None:
        async with self._work() as unit:
            (h,) = await self._person_hashes(unit, [person_id])
            if not h:
                return
            old = h.get("merged_into")
            if old == into:
                return
            if old is None:
                self._count(unit, "persons", -1)
            else:
                self._srem(unit, self.key("ch", old), person_id)
            if into is None:
                self._count(unit, "persons", 1)
            else:
                self._sadd(unit, self.key("ch", into), person_id)
            self._hset(unit, self.key("pe", person_id), {"merged_into": into})

    async def members_of(self, root: str) -> list[str]:
        # The walk below is one round trip per generation, and profiles or leads are read next: the
        # graph read answers all of it at once (and leaves every check to the accessors).
        async with self._work() as unit:
            if self.key("ch", root) not in unit.cache_s:
                await self._graph(unit, persons=[root])
            return await super().members_of(root)

    async def children_of(self, person_ids: Sequence[str]) -> list[str]:
        if not person_ids:
            return []
        async with self._work() as unit:
            keys = [self.key("ch", p) for p in person_ids]
            found = await self._members(unit, keys)
            for k in keys:
                unit.check("SCARD", k, str(len(unit.cache_s[k])))
            return sorted({c for members in found for c in members})

    async def profile_keys_of(self, person_ids: Sequence[str]) -> list[str]:
        if not person_ids:
            return []
        async with self._work() as unit:
            rows = [ms for z in await self._zsets(unit, [self.key("pp", p) for p in person_ids]) for ms in z]
            rows.sort(key=lambda ms: (ms[1], ms[0]))
            return list(dict.fromkeys(m for m, _ in rows))

    async def iter_persons(self) -> AsyncIterator[Person]:
        async for ids in self._walk(self.key("pe", "all")):
            got = await self._fetch([("hgetall", (self.key("pe", i),)) for i in ids])
            for i, h in zip(ids, got, strict=True):
                if h:
                    yield self._person(i, h)

    async def counts(self) -> dict[str, int]:
        async with self._work() as unit:
            counts = await self._counters(unit)
            fields = ("persons", "profiles", "merges", "suggestions", "leads", "messages")
            return {f: counts.get(f, 0) for f in fields}

    # -- merges, suggestions, cannot-links -------------------------------------------------------
    @staticmethod
    def _merge(merge_id: str, h: dict[str, str]) -> MergeRecord:
        return MergeRecord(
            merge_id=merge_id,
            at=dt(h["at"]),
            kind=MergeKind(h["kind"]),
            into=h["into"],
            from_=h["from"],
            evidence=evidence_load(h["evidence"]),
            actor=h["actor"],
            undone_by=h.get("undone_by"),
            undoes=h.get("undoes"),
        )

    async def add_merge(self, record: MergeRecord) -> None:
        async with self._work() as unit:
            key = self.key("mg", record.merge_id)
            self._assume_absent(unit, [key])
            if await self._hash(unit, key):
                raise StoreError(f"merge {record.merge_id} already exists")
            self._hset(
                unit,
                key,
                {
                    "at": _f(ts(record.at)),
                    "kind": record.kind.value,
                    "into": record.into,
                    "from": record.from_,
                    "evidence": evidence_dump(record.evidence),
                    "actor": record.actor,
                    "undone_by": record.undone_by,
                    "undoes": record.undoes,
                },
            )
            self._zadd_seq(unit, self.key("mg", "all"), record.merge_id)
            self._count(unit, f"mg:{record.kind.value}", 1)
            if record.kind is not MergeKind.SPLIT and record.undone_by is None:
                self._count(unit, "merges", 1)

    async def get_merge(self, merge_id: str) -> MergeRecord | None:
        async with self._work() as unit:
            h = await self._hash(unit, self.key("mg", merge_id))
            return self._merge(merge_id, h) if h else None

    async def set_merge_undone(self, merge_id: str, by: str) -> None:
        async with self._work() as unit:
            key = self.key("mg", merge_id)
            h = await self._hash(unit, key)
            if not h:
                return
            if h.get("undone_by") is None and h["kind"] != MergeKind.SPLIT.value:
                self._count(unit, "merges", -1)
            self._hset(unit, key, {"undone_by": by})

    async def merges(self, *, limit: int | None = None) -> list[MergeRecord]:
        async with self._work() as unit:
            key = self.key("mg", "all")
            (got,) = await self._fetch([("zrange", (key, 0, -1 if limit is None else limit - 1, True, True))])
            rows = self._overlaid(unit, key, [(m, float(s)) for m, s in got])
            ids = [m for m, _ in sorted(rows, key=lambda ms: ms[1], reverse=True)][:limit]
            hashes = await self._hashes(unit, [self.key("mg", i) for i in ids])
            return [self._merge(i, h) for i, h in zip(ids, hashes, strict=True) if h]

    @staticmethod
    def _suggestion(suggestion_id: str, h: dict[str, str]) -> Suggestion:
        return Suggestion(
            suggestion_id=suggestion_id,
            a=h["a"],
            b=h["b"],
            score=float(h["score"]),
            evidence=evidence_load(h["evidence"]),
            created_at=dt(h["created_at"]),
            status=SuggestionStatus(h["status"]),
        )

    async def _pair(self, unit: _Unit, key: str) -> str | None:
        if key in unit.strings:
            return unit.strings[key]
        if key not in unit.cache_str:
            (unit.cache_str[key],) = await self._fetch([("get", (key,))])
            # One pending suggestion per pair, also across workers.
            unit.check("EXISTS", key, "1" if unit.cache_str[key] is not None else "0")
        return unit.cache_str[key]

    def _set_pair(self, unit: _Unit, key: str, value: str | None) -> None:
        unit.put(unit.strings, key, value)
        unit.ops.append(["SET", key, value] if value is not None else ["DEL", key])

    async def add_suggestion(self, suggestion: Suggestion) -> bool:
        a, b = sorted((suggestion.a, suggestion.b))
        async with self._work() as unit:
            key = self.key("sg", suggestion.suggestion_id)
            pending = suggestion.status is SuggestionStatus.PENDING
            pair = self.key("sg", "pair", f"{a}|{b}")
            if await self._hash(unit, key) or (pending and await self._pair(unit, pair) is not None):
                return False
            self._hset(
                unit,
                key,
                {
                    "a": a,
                    "b": b,
                    "score": _f(suggestion.score),
                    "evidence": evidence_dump(suggestion.evidence),
                    "created_at": _f(ts(suggestion.created_at)),
                    "status": suggestion.status.value,
                },
            )
            self._zadd(
                unit, self.key("sg", "st", suggestion.status.value), suggestion.suggestion_id, ts(suggestion.created_at)
            )
            if pending:
                self._pending_suggestion(unit, suggestion.suggestion_id, a, b, True)
            return True

    def _pending_suggestion(self, unit: _Unit, suggestion_id: str, a: str, b: str, pending: bool) -> None:
        for side in (a, b):
            (self._sadd if pending else self._srem)(unit, self.key("sg", "of", side), suggestion_id)
        self._set_pair(unit, self.key("sg", "pair", f"{a}|{b}"), suggestion_id if pending else None)
        self._count(unit, "suggestions", 1 if pending else -1)

    async def get_suggestion(self, suggestion_id: str) -> Suggestion | None:
        async with self._work() as unit:
            h = await self._hash(unit, self.key("sg", suggestion_id))
            return self._suggestion(suggestion_id, h) if h else None

    async def set_suggestion_status(self, suggestion_id: str, status: SuggestionStatus) -> None:
        async with self._work() as unit:
            key = self.key("sg", suggestion_id)
            h = await self._hash(unit, key)
            if not h or h["status"] == status.value:
                return
            old = SuggestionStatus(h["status"])
            self._hset(unit, key, {"status": status.value})
            self._zrem(unit, self.key("sg", "st", old.value), suggestion_id)
            self._zadd(unit, self.key("sg", "st", status.value), suggestion_id, float(h["created_at"]))
            if SuggestionStatus.PENDING in (old, status):
                self._pending_suggestion(unit, suggestion_id, h["a"], h["b"], status is SuggestionStatus.PENDING)

    async def suggestions(self, status: SuggestionStatus = SuggestionStatus.PENDING) -> list[Suggestion]:
        async with self._work() as unit:
            (rows,) = await self._zsets(unit, [self.key("sg", "st", status.value)])
            ids = [m for m, _ in rows]
            hashes = await self._hashes(unit, [self.key("sg", i) for i in ids])
            return [self._suggestion(i, h) for i, h in zip(ids, hashes, strict=True) if h]

    async def suggestions_of(self, person_ids: Sequence[str]) -> list[Suggestion]:
        if not person_ids:
            return []
        async with self._work() as unit:
            found = await self._members(unit, [self.key("sg", "of", p) for p in person_ids])
            ids = sorted({i for members in found for i in members})
            hashes = await self._hashes(unit, [self.key("sg", i) for i in ids])
            return [
                self._suggestion(i, h)
                for i, h in zip(ids, hashes, strict=True)
                if h and h["status"] == SuggestionStatus.PENDING.value
            ]

    async def add_cannot_link(self, a: str, b: str, actor: str, at: datetime) -> None:
        a, b = sorted((a, b))
        value = json.dumps([actor, ts(at)], ensure_ascii=False)
        async with self._work() as unit:
            (known,) = await self._fields(unit, self.key("cl", a), [b])
            if known is None:
                self._hsetnx(unit, self.key("cl", a), b, value)
                self._hsetnx(unit, self.key("cl", b), a, value)

    async def cannot_links_of(self, person_ids: Sequence[str]) -> set[str]:
        if not person_ids:
            return set()
        async with self._work() as unit:
            keys = [self.key("cl", p) for p in person_ids]
            hashes = await self._hashes(unit, keys)
            for k in keys:
                # A "not the same person" mark racing a merge: whichever commits second re-runs.
                unit.check("HLEN", k, str(len(unit.cache_h[k])))
            return {other for h in hashes for other in h}

    # -- recent ----------------------------------------------------------------------------------
    async def add_recent(self, blocks: Iterable[str], hit: RecentHit) -> None:
        member = json.dumps([hit.profile_key, hit.event_id, hit.text], ensure_ascii=False)
        async with self._work() as unit:
            for block in blocks:
                key = self.key("rc", block)
                self._zadd(unit, key, member, ts(hit.at))
                # Trimming keeps a block bounded when a common name floods it; reads take the newest.
                unit.ops.append(["ZREMRANGEBYRANK", key, "0", str(-RECENT_CAP - 1)])
                unit.ops.append(["SADD", self.key("rc", "blocks"), block])

    async def recent(self, blocks: Iterable[str], since: datetime, limit: int) -> list[RecentHit]:
        keys = [self.key("rc", b) for b in blocks]
        if not keys:
            return []
        async with self._work() as unit:
            low = ts(since)
            answers: dict[str, list[Any]] = {}
            ask = []
            for k in dict.fromkeys(keys):
                cached = unit.cache_r.get((k, limit))
                if cached is not None and cached[0] <= low:
                    # Read earlier in the writer's batch from a lower bound: the newest `limit` hits
                    # from there, filtered to `low` below, are the newest `limit` from `low`.
                    answers[k] = cached[1]
                else:
                    ask.append(k)
            if ask:
                # The hits' profiles and persons are what the resolver reads next: in the same round trip.
                answers |= await self._graph(unit, ranges=[(k, _f(low), limit) for k in ask])
                if unit.batch:
                    for k in ask:
                        unit.cache_r[(k, limit)] = (low, answers[k])
            found: dict[tuple[str, str, float, str], None] = {}
            for k in keys:
                got = answers[k]
                pairs = [(m, float(sc)) for m, sc in zip(got[::2], got[1::2], strict=True)]
                for member, score in self._overlaid(unit, k, pairs):
                    if score >= low:
                        profile_key, event_id, text = json.loads(member)
                        found[(profile_key, event_id, score, text)] = None
            rows = sorted(found, key=lambda r: r[2], reverse=True)[:limit]
            return [RecentHit(profile_key=p, event_id=e, at=dt(s), text=t) for p, e, s, t in rows]

    async def prune_recent(self, before: datetime) -> int:
        # Maintenance, straight on committed state: a sweep of every block (and of the index of block
        # names, which would otherwise only grow), off the hot path.
        removed = 0
        cursor = 0
        index = self.key("rc", "blocks")
        while True:
            (page,) = await self._fetch([("sscan", (index, cursor, None, CHUNK))])
            cursor, blocks = int(page[0]), page[1]
            if blocks:
                keys = [index, *(self.key("rc", b) for b in blocks)]
                removed += int(await self._prune(keys=keys, args=["(" + _f(ts(before)), *blocks]))
            if cursor == 0:
                return removed

    # -- leads -----------------------------------------------------------------------------------
    @staticmethod
    def _lead(lead_id: str, h: dict[str, str]) -> Lead:
        return Lead(
            lead_id=lead_id,
            person_id=h["person_id"],
            status=LeadStatus(h["status"]),
            is_repeat=h["is_repeat"] == "1",
            created_at=dt(h["created_at"]),
            last_activity=dt(h["last_activity"]),
            channel=Channel(h["channel"]),
            responsible=h.get("responsible", ""),
            junk_reason=h.get("junk_reason", ""),
            merged_into=h.get("merged_into"),
            merged_by=h.get("merged_by"),
        )

    async def add_lead(self, lead: Lead) -> None:
        await self.put_lead(lead)

    async def put_lead(self, lead: Lead) -> None:
        async with self._work() as unit:
            key = self.key("ld", lead.lead_id)
            old = await self._hash(unit, key)
            was_root = bool(old) and old.get("merged_into") is None
            is_root = lead.merged_into is None
            if was_root != is_root:
                self._count(unit, "leads", 1 if is_root else -1)
            if old and old["person_id"] != lead.person_id:
                self._zrem(unit, self.key("ld", "of", old["person_id"]), lead.lead_id)
            if old.get("merged_by") and old.get("merged_by") != lead.merged_by:
                self._srem(unit, self.key("ld", "mb", old["merged_by"]), lead.lead_id)
            created = ts(lead.created_at)
            self._hset(
                unit,
                key,
                {
                    "person_id": lead.person_id,
                    "status": lead.status.value,
                    "is_repeat": "1" if lead.is_repeat else "0",
                    "created_at": _f(created),
                    "last_activity": _f(ts(lead.last_activity)),
                    "channel": lead.channel.value,
                    "responsible": lead.responsible,
                    "junk_reason": lead.junk_reason,
                    "merged_into": lead.merged_into,
                    "merged_by": lead.merged_by,
                },
            )
            if old.get("created_at") != _f(created) or old.get("person_id") != lead.person_id:
                self._zadd(unit, self.key("ld", "all"), lead.lead_id, created)
                self._zadd(unit, self.key("ld", "of", lead.person_id), lead.lead_id, created)
            if lead.merged_by and old.get("merged_by") != lead.merged_by:
                self._sadd(unit, self.key("ld", "mb", lead.merged_by), lead.lead_id)

    async def get_lead(self, lead_id: str) -> Lead | None:
        async with self._work() as unit:
            h = await self._hash(unit, self.key("ld", lead_id))
            return self._lead(lead_id, h) if h else None

    async def _leads(self, unit: _Unit, ids: Sequence[str]) -> list[Lead]:
        hashes = await self._hashes(unit, [self.key("ld", i) for i in ids])
        return [self._lead(i, h) for i, h in zip(ids, hashes, strict=True) if h]

    async def leads_of(self, person_ids: Sequence[str]) -> list[Lead]:
        if not person_ids:
            return []
        async with self._work() as unit:
            keys = [self.key("ld", "of", p) for p in person_ids]
            zsets = await self._zsets(unit, keys)
            for k in keys:
                # Two workers must not both open the first lead of one person.
                unit.check("ZCARD", k, str(len(unit.cache_z[k])))
            rows = sorted((ms for z in zsets for ms in z), key=lambda ms: (ms[1], ms[0]))
            return await self._leads(unit, list(dict.fromkeys(m for m, _ in rows)))

    async def leads_merged_by(self, merge_id: str) -> list[Lead]:
        async with self._work() as unit:
            (ids,) = await self._members(unit, [self.key("ld", "mb", merge_id)])
            return await self._leads(unit, sorted(ids))

    async def iter_leads(self) -> AsyncIterator[Lead]:
        async for ids in self._walk(self.key("ld", "all")):
            got = await self._fetch([("hgetall", (self.key("ld", i),)) for i in ids])
            for i, h in zip(ids, got, strict=True):
                if h:
                    yield self._lead(i, h)

    # -- outbox ----------------------------------------------------------------------------------
    @staticmethod
    def _outbox(item_id: str, h: dict[str, str]) -> OutboxItem:
        return OutboxItem(
            id=item_id,
            person_id=h["person_id"],
            profile_key=h["profile_key"],
            channel=Channel(h["channel"]),
            text=h["text"],
            status=OutboxStatus(h["status"]),
            created_at=dt(h["created_at"]),
            updated_at=dt(h["updated_at"]),
            actor=h.get("actor", ""),
            attempts=int(h.get("attempts", "0")),
            error=h.get("error", ""),
            provider_message_id=h.get("pmid", ""),
        )

    async def add_outbox(self, item: OutboxItem) -> None:
        async with self._work() as unit:
            if await self._hash(unit, self.key("ob", item.id)):
                raise StoreError(f"reply {item.id} already exists")
            await self._put_outbox(unit, item)

    async def put_outbox(self, item: OutboxItem) -> None:
        async with self._work() as unit:
            await self._put_outbox(unit, item)

    async def _put_outbox(self, unit: _Unit, item: OutboxItem) -> None:
        key = self.key("ob", item.id)
        old = await self._hash(unit, key)
        created = ts(item.created_at)
        if old.get("status") != item.status.value:
            if old:
                self._count(unit, f"ob:{old['status']}", -1)
                self._zrem(unit, self.key("ob", "st", old["status"]), item.id)
            self._count(unit, f"ob:{item.status.value}", 1)
            self._zadd(unit, self.key("ob", "st", item.status.value), item.id, created)
        if old.get("person_id") and old["person_id"] != item.person_id:
            self._zrem(unit, self.key("ob", "of", old["person_id"]), item.id)
        self._zadd(unit, self.key("ob", "of", item.person_id), item.id, created)
        if item.status is OutboxStatus.FAILED:
            self._zadd(unit, self.key("ob", "failed"), item.id, ts(item.updated_at))
        elif old.get("status") == OutboxStatus.FAILED.value:
            self._zrem(unit, self.key("ob", "failed"), item.id)
        if old.get("pmid") and old["pmid"] != item.provider_message_id:
            self._hset(unit, self.key("ob", "pid"), {f"{old['channel']}|{old['pmid']}": None})
        if item.provider_message_id:
            self._hset(unit, self.key("ob", "pid"), {f"{item.channel.value}|{item.provider_message_id}": item.id})
        self._hset(
            unit,
            key,
            {
                "person_id": item.person_id,
                "profile_key": item.profile_key,
                "channel": item.channel.value,
                "text": item.text,
                "status": item.status.value,
                "created_at": _f(created),
                "updated_at": _f(ts(item.updated_at)),
                "actor": item.actor,
                "attempts": str(item.attempts),
                "error": item.error,
                "pmid": item.provider_message_id,
            },
        )

    async def get_outbox(self, item_id: str) -> OutboxItem | None:
        async with self._work() as unit:
            h = await self._hash(unit, self.key("ob", item_id))
            return self._outbox(item_id, h) if h else None

    async def outbox_by_provider_id(self, channel: str, provider_message_id: str) -> OutboxItem | None:
        if not provider_message_id:
            return None
        async with self._work() as unit:
            (item_id,) = await self._fields(unit, self.key("ob", "pid"), [f"{channel}|{provider_message_id}"])
            if item_id is None:
                return None
            h = await self._hash(unit, self.key("ob", item_id))
            return self._outbox(item_id, h) if h else None

    async def _outboxes(self, unit: _Unit, ids: Sequence[str]) -> list[OutboxItem]:
        hashes = await self._hashes(unit, [self.key("ob", i) for i in ids])
        return [self._outbox(i, h) for i, h in zip(ids, hashes, strict=True) if h]

    async def outbox_queued(self, before: datetime, limit: int) -> list[OutboxItem]:
        async with self._work() as unit:
            key = self.key("ob", "st", OutboxStatus.QUEUED.value)
            (got,) = await self._fetch([("zrangebyscore", (key, "-inf", "(" + _f(ts(before)), 0, limit, True))])
            rows = [ms for ms in self._overlaid(unit, key, [(m, float(s)) for m, s in got]) if ms[1] < ts(before)]
            return await self._outboxes(unit, [m for m, _ in rows[:limit]])

    async def outbox_of(self, person_ids: Sequence[str], *, limit: int = 200) -> list[OutboxItem]:
        if not person_ids:
            return []
        async with self._work() as unit:
            keys = [self.key("ob", "of", p) for p in person_ids]
            calls: list[tuple[str, tuple[Any, ...]]] = [("zrevrange", (k, 0, limit - 1, True)) for k in keys]
            rows: list[tuple[str, float]] = []
            for k, got in zip(keys, await self._fetch(calls), strict=True):
                rows.extend(self._overlaid(unit, k, [(m, float(sc)) for m, sc in got]))
            rows.sort(key=lambda ms: ms[1], reverse=True)
            return await self._outboxes(unit, list(dict.fromkeys(m for m, _ in rows))[:limit])

    async def mark_contact_asked(self, profile_key: str, at: datetime) -> bool:
        async with self._work() as unit:
            key = self.key("asked")
            (known,) = await self._fields(unit, key, [profile_key])
            if known is not None:
                return False
            # Test-and-set across workers: a second asker's unit fails its check and re-runs.
            unit.check("HEXISTS", key, profile_key, "0")
            self._hset(unit, key, {profile_key: _f(ts(at))})
            return True

    # -- sorted-set tops and hash deletes ----------------------------------------------------------
    async def _tops(self, unit: _Unit, keys: Sequence[str], n: int, *, desc: bool) -> list[list[tuple[str, float]]]:
        """The first `n` members of each sorted set (by score, then member), as this unit sees them.

        Members this unit touched may have moved or left, so as many more are read as it touched.
        """
        if n <= 0:
            return [[] for _ in keys]
        calls: list[tuple[str, tuple[Any, ...]]] = [
            ("zrange", (k, 0, n + len(unit.zsets.get(k, {})) - 1, desc, True)) for k in keys
        ]
        out = []
        for k, got in zip(keys, await self._fetch(calls), strict=True):
            rows = self._overlaid(unit, k, [(m, float(s)) for m, s in got])
            out.append(sorted(rows, key=lambda ms: (ms[1], ms[0]), reverse=desc)[:n])
        return out

    def _hdel_all(self, unit: _Unit, key: str, h: dict[str, str]) -> None:
        """Delete a whole hash read in this unit (field by field, so the overlay sees it gone)."""
        if h:
            self._hset(unit, key, {f: None for f in h})

    async def _absent(self, unit: _Unit, key: str) -> bool:
        """True if the hash does not exist; the commit re-checks that no other worker created it."""
        if await self._hash(unit, key):
            return False
        if not unit.cache_h[key]:
            unit.check("EXISTS", key, "0")
        return True

    # -- CRM push queue and mapping --------------------------------------------------------------
    @staticmethod
    def _crm_job(job_id: str, h: dict[str, str]) -> CrmJob:
        return CrmJob(
            job_id=job_id,
            kind=h["kind"],
            subject=h["subject"],
            payload=json.loads(h["payload"]),
            status=CrmJobStatus(h["status"]),
            attempts=int(h["attempts"]),
            created_at=dt(h["created_at"]),
            due_at=dt(h["due_at"]),
            error=h["error"],
        )

    async def _crm_jobs(self, unit: _Unit, ids: Sequence[str]) -> list[CrmJob]:
        hashes = await self._hashes(unit, [self.key("cj", i) for i in ids])
        return [self._crm_job(i, h) for i, h in zip(ids, hashes, strict=True) if h]

    async def add_crm_job(self, job: CrmJob) -> bool:
        async with self._work() as unit:
            key = self.key("cj", job.job_id)
            if not await self._absent(unit, key):
                return False
            self._hset(
                unit,
                key,
                {
                    "kind": job.kind,
                    "subject": job.subject,
                    "payload": json.dumps(dict(job.payload), ensure_ascii=False),
                    "status": job.status.value,
                    "attempts": str(job.attempts),
                    "created_at": _f(ts(job.created_at)),
                    "due_at": _f(ts(job.due_at)),
                    "error": job.error,
                    "seq": _f(unit.next_local()),
                },
            )
            # The job's place in the queue: numbered at commit, kept in the hash for later moves.
            self._zadd_seq(unit, self.key("cj", "st", job.status.value), job.job_id, key)
            if job.status is CrmJobStatus.QUEUED:
                self._zadd(unit, self.key("cj", "due"), job.job_id, ts(job.due_at))
            self._count(unit, f"cj:{job.status.value}", 1)
            return True

    async def claim_crm_jobs(self, now: datetime, lease: timedelta, limit: int) -> list[CrmJob]:
        if limit <= 0:
            return []
        async with self._work() as unit:
            due_key, queued_key = self.key("cj", "due"), self.key("cj", "st", CrmJobStatus.QUEUED.value)
            at = ts(now)
            # The due set holds queued jobs only and a running worker keeps its due part short; after
            # an outage the backlog is read as ids and scores, and only `limit` hashes are fetched.
            (got,) = await self._fetch([("zrangebyscore", (due_key, "-inf", _f(at), None, None, True))])
            due = [m for m, s in self._overlaid(unit, due_key, [(m, float(s)) for m, s in got]) if s <= at]
            if not due:
                return []
            (seqs,) = await self._fetch([("zmscore", (queued_key, due))])
            over = unit.zsets.get(queued_key, {})
            order: list[tuple[float, str]] = []
            for job_id, seq in zip(due, seqs, strict=True):
                mine = over.get(job_id, _MISSING)
                seq = seq if mine is _MISSING else mine
                if seq is not None:
                    order.append((float(seq), job_id))
            jobs = await self._crm_jobs(unit, [i for _, i in sorted(order)[:limit]])
            until = _f(ts(now + lease))
            for job in jobs:
                key = self.key("cj", job.job_id)
                # Two workers claiming the same job: the second commit finds the lease moved and re-runs.
                unit.check("HGET", key, "due_at", unit.cache_h[key].get("due_at", ""))
                self._hset(unit, key, {"due_at": until})
                self._zadd(unit, due_key, job.job_id, float(until))
            return jobs

    async def put_crm_job(self, job: CrmJob) -> None:
        async with self._work() as unit:
            key = self.key("cj", job.job_id)
            h = await self._hash(unit, key)
            if not h:
                return
            old = h["status"]
            if old != job.status.value:
                self._count(unit, f"cj:{old}", -1)
                self._count(unit, f"cj:{job.status.value}", 1)
                self._zrem(unit, self.key("cj", "st", old), job.job_id)
                seq = float(h["seq"])
                if seq >= _LOCAL_SEQ:  # enqueued in this very unit: not numbered yet
                    self._zadd_seq(unit, self.key("cj", "st", job.status.value), job.job_id, key)
                else:
                    self._zadd(unit, self.key("cj", "st", job.status.value), job.job_id, seq)
            if job.status is CrmJobStatus.QUEUED:
                self._zadd(unit, self.key("cj", "due"), job.job_id, ts(job.due_at))
            elif old == CrmJobStatus.QUEUED.value:
                self._zrem(unit, self.key("cj", "due"), job.job_id)
            self._hset(
                unit,
                key,
                {
                    "status": job.status.value,
                    "attempts": str(job.attempts),
                    "due_at": _f(ts(job.due_at)),
                    "error": job.error,
                    "payload": json.dumps(dict(job.payload), ensure_ascii=False),
                },
            )

    async def get_crm_job(self, job_id: str) -> CrmJob | None:
        async with self._work() as unit:
            h = await self._hash(unit, self.key("cj", job_id))
            return self._crm_job(job_id, h) if h else None

    async def crm_jobs(self, status: CrmJobStatus, *, limit: int = 200) -> list[CrmJob]:
        async with self._work() as unit:
            (rows,) = await self._tops(unit, [self.key("cj", "st", status.value)], limit, desc=False)
            return await self._crm_jobs(unit, [m for m, _ in rows])

    async def crm_job_counts(self) -> dict[str, int]:
        async with self._work() as unit:
            counts = await self._counters(unit)
            return {f[3:]: n for f, n in counts.items() if f.startswith("cj:") and n > 0}

    async def set_crm_link(self, entity: str, stitch_id: str, remote_id: int) -> None:
        async with self._work() as unit:
            key = self.key("lk", entity)
            (old,) = await self._fields(unit, key, [stitch_id])
            if old == str(remote_id):
                return
            if old is not None:
                self._srem(unit, self.key("lk", "of", entity, old), stitch_id)
            self._hset(unit, key, {stitch_id: str(remote_id)})
            self._sadd(unit, self.key("lk", "of", entity, str(remote_id)), stitch_id)

    async def crm_link(self, entity: str, stitch_id: str) -> int | None:
        async with self._work() as unit:
            (remote,) = await self._fields(unit, self.key("lk", entity), [stitch_id])
            return None if remote is None else int(remote)

    async def crm_link_owner(self, entity: str, remote_id: int) -> str | None:
        async with self._work() as unit:
            (owners,) = await self._members(unit, [self.key("lk", "of", entity, str(remote_id))])
            return min(owners) if owners else None

    async def drop_crm_link(self, entity: str, stitch_id: str) -> None:
        async with self._work() as unit:
            key = self.key("lk", entity)
            (old,) = await self._fields(unit, key, [stitch_id])
            if old is None:
                return
            self._hset(unit, key, {stitch_id: None})
            self._srem(unit, self.key("lk", "of", entity, old), stitch_id)

    # -- the managers' inbox: users, sessions, counters ------------------------------------------
    @staticmethod
    def _user(name: str, h: dict[str, str]) -> User:
        return User(
            name=name,
            role=Role(h["role"]),
            password_hash=h["password_hash"],
            created_at=dt(h["created_at"]),
            disabled=h["disabled"] == "1",
        )

    def _put_user(self, unit: _Unit, user: User) -> None:
        self._hset(
            unit,
            self.key("us", user.name),
            {
                "role": user.role.value,
                "password_hash": user.password_hash,
                "created_at": _f(ts(user.created_at)),
                "disabled": "1" if user.disabled else "0",
            },
        )
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
            return self._user(name, h) if h else None

    async def users(self) -> list[User]:
        async with self._work() as unit:
            (rows,) = await self._zsets(unit, [self.key("us", "all")])
            names = [m for m, _ in rows]
            hashes = await self._hashes(unit, [self.key("us", n) for n in names])
            return [self._user(n, h) for n, h in zip(names, hashes, strict=True) if h]

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

    # -- ops aggregates (whole-store walks, off the hot path) -------------------------------------
    async def _root_sizes(self) -> dict[str, int]:
        parent = {p.person_id: p.merged_into async for p in self.iter_persons()}
        roots: dict[str, str] = {}

        def root(pid: str) -> str:
            seen: list[str] = []
            current = pid
            while current not in roots and parent.get(current) and len(seen) < MAX_ALIAS_DEPTH:
                seen.append(current)
                current = parent[current] or current
            found = roots.get(current, current)
            for s in [*seen, current]:
                roots[s] = found
            return found

        sizes: dict[str, int] = {}
        async for profile in self.iter_profiles():
            r = root(profile.person_id)
            sizes[r] = sizes.get(r, 0) + 1
        return sizes

    async def person_sizes(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for size in (await self._root_sizes()).values():
            out[size] = out.get(size, 0) + 1
        return out

    async def largest_persons(self, limit: int) -> list[tuple[str, int]]:
        sizes = await self._root_sizes()
        return sorted(sizes.items(), key=lambda rs: (-rs[1], rs[0]))[:limit]

    async def merge_counts(self) -> dict[str, int]:
        async with self._work() as unit:
            counts = await self._counters(unit)
            return {f[3:]: n for f, n in counts.items() if f.startswith("mg:") and n > 0}

    async def outbox_counts(self) -> dict[str, int]:
        async with self._work() as unit:
            counts = await self._counters(unit)
            return {f[3:]: n for f, n in counts.items() if f.startswith("ob:") and n > 0}

    async def outbox_failed(self, limit: int) -> list[OutboxItem]:
        async with self._work() as unit:
            key = self.key("ob", "failed")
            (got,) = await self._fetch([("zrevrange", (key, 0, limit - 1, True))])
            rows = self._overlaid(unit, key, [(m, float(sc)) for m, sc in got])
            rows.sort(key=lambda ms: ms[1], reverse=True)
            return await self._outboxes(unit, [m for m, _ in rows[:limit]])

    # -- one person's data -----------------------------------------------------------------------
    async def iter_events(self) -> AsyncIterator[Envelope]:
        async for batch in self._scan(self.key("ev", "*")):
            got = await self._fetch([("hget", (k, "envelope")) for k in batch])
            for raw in got:
                if raw:  # `ev:pending` is a sorted set and has no envelope
                    yield envelope_load(raw)

    async def erase(self, erasure: Erasure) -> None:
        # Straight on committed state, like prune_recent: reads first, then one MULTI that removes every
        # key and index entry read. An erasure is an admin action, not a resolver unit.
        e = erasure
        profiles = set(e.profile_keys)
        ops: list[list[str]] = []
        counts: dict[str, int] = {}

        def count(name: str, delta: int = -1) -> None:
            counts[name] = counts.get(name, 0) + delta

        hashes = await self._erase_reads(e)
        for eid, h in zip(e.event_ids, hashes["ev"], strict=True):
            if h:
                ops += [["DEL", self.key("ev", eid)], ["ZREM", self.key("ev", "pending"), eid]]
                count(f"ev:{h.get('status', 'pending')}")
        message_ids = dict.fromkeys(e.message_ids)
        message_ids.update(dict.fromkeys(m for ms in hashes["by"] for m in ms))
        got = await self._fetch([("hgetall", (self.key("msg", m),)) for m in message_ids])
        for mid, h in zip(message_ids, got, strict=True):
            if h:
                ops += [["DEL", self.key("msg", mid)], ["ZREM", self.key("msg", h["direction"]), mid]]
                ops.append(["HDEL", self.key("msg", "ids"), f"{h['channel']}|{h['pmid']}|{h['direction']}"])
                count("messages")
        for oid, h in zip(e.outbox_ids, hashes["ob"], strict=True):
            if h:
                ops += [["DEL", self.key("ob", oid)], ["ZREM", self.key("ob", "of", h["person_id"]), oid]]
                ops += [["ZREM", self.key("ob", "st", h["status"]), oid], ["ZREM", self.key("ob", "failed"), oid]]
                if h.get("pmid"):
                    ops.append(["HDEL", self.key("ob", "pid"), f"{h['channel']}|{h['pmid']}"])
                count(f"ob:{h['status']}")
        orphaned: dict[str, None] = {}
        for key, h, idents, edges in zip(e.profile_keys, hashes["pr"], hashes["pid"], hashes["edge"], strict=True):
            for name in ("pr", "pid", "edge"):
                ops.append(["DEL", self.key(name, key)])
            ops += [["DEL", self.key("msg", "by", key)], ["HDEL", self.key("asked"), key]]
            ops.append(["ZREM", self.key("pr", "all"), key])
            if h:
                ops.append(["ZREM", self.key("pp", h["person_id"]), key])
                ops += [["ZREM", self.key("pw"), f"{w} {key}"] for w in sorted(search_words(h["name"], h["handle"]))]
                count("profiles")
            for ident in idents:
                ops.append(["HDEL", self.key("id", ident), key])
                orphaned[ident] = None
            ops += [["HDEL", self.key("edge", other), key] for other in edges if other not in profiles]
        holders = await self._fetch([("hkeys", (self.key("id", i),)) for i in orphaned])
        for ident, keys in zip(orphaned, holders, strict=True):
            if set(keys) <= profiles:  # no other profile carries it: it is no longer shared by anyone
                ops.append(["HDEL", self.key("shared"), ident])
        ops += await self._erase_recent(profiles)
        for sid, h in zip(e.suggestion_ids, hashes["sg"], strict=True):
            if h:
                pair = self.key("sg", "pair", f"{h['a']}|{h['b']}")
                ops += [["DEL", self.key("sg", sid)], ["ZREM", self.key("sg", "st", h["status"]), sid]]
                ops += [["SREM", self.key("sg", "of", h["a"]), sid], ["SREM", self.key("sg", "of", h["b"]), sid]]
                if h["status"] == SuggestionStatus.PENDING.value:
                    ops.append(["DEL", pair])
                    count("suggestions")
        for mid, raw in zip(e.merge_ids, hashes["mg"], strict=True):
            if raw:
                ops.append(["HSET", self.key("mg", mid), "evidence", evidence_dump(blank_evidence(evidence_load(raw)))])
        ops += [
            ["HSET", self.key("cj", j), "payload", "{}"]
            for j, ok in zip(e.crm_job_ids, hashes["cj"], strict=True)
            if ok
        ]
        ops += [
            ["HSET", self.key("au", a), "detail", "", "target", ""]
            for a, ok in zip(e.audit_ids, hashes["au"], strict=True)
            if ok
        ]
        ops += [["HINCRBY", self.key("counts"), name, str(delta)] for name, delta in counts.items() if delta]
        await self._write(ops)

    async def _erase_reads(self, e: Erasure) -> dict[str, list[Any]]:
        """What erase needs to know of the committed state, per kind, in one round trip."""
        calls: dict[str, list[tuple[str, tuple[Any, ...]]]] = {
            "ev": [("hgetall", (self.key("ev", i),)) for i in e.event_ids],
            "by": [("zrange", (self.key("msg", "by", k), 0, -1)) for k in e.profile_keys],
            "ob": [("hgetall", (self.key("ob", i),)) for i in e.outbox_ids],
            "pr": [("hgetall", (self.key("pr", k),)) for k in e.profile_keys],
            "pid": [("hkeys", (self.key("pid", k),)) for k in e.profile_keys],
            "edge": [("hkeys", (self.key("edge", k),)) for k in e.profile_keys],
            "sg": [("hgetall", (self.key("sg", i),)) for i in e.suggestion_ids],
            "mg": [("hget", (self.key("mg", i), "evidence")) for i in e.merge_ids],
            "cj": [("exists", (self.key("cj", i),)) for i in e.crm_job_ids],
            "au": [("exists", (self.key("au", i),)) for i in e.audit_ids],
        }
        flat = [call for group in calls.values() for call in group]
        got = iter(await self._fetch(flat))
        return {name: [next(got) for _ in group] for name, group in calls.items()}

    async def _erase_recent(self, profiles: set[str]) -> list[list[str]]:
        # Recent entries are indexed by block only; a sweep of every block finds the person's.
        ops: list[list[str]] = []
        index = self.key("rc", "blocks")
        cursor = 0
        while True:
            (page,) = await self._fetch([("sscan", (index, cursor, None, CHUNK))])
            cursor, blocks = int(page[0]), page[1]
            got = await self._fetch([("zrange", (self.key("rc", b), 0, -1)) for b in blocks])
            for block, members in zip(blocks, got, strict=True):
                gone = [m for m in members if json.loads(m)[0] in profiles]
                ops += [["ZREM", self.key("rc", block), m] for m in gone]
                if gone and len(gone) == len(members):
                    ops.append(["SREM", index, block])
            if cursor == 0:
                return ops

    async def expire(self, before: datetime) -> dict[str, int]:
        # Maintenance on committed state, off the hot path: whole indexes are walked in chunks. Plain
        # HSETs are safe here: a stored text, a resolved event's envelope and a finished job's payload
        # never change again, and pending work is skipped.
        bound = ts(before)
        counts = {"messages": 0, "replies": 0, "events": 0, "crm_jobs": 0}
        for direction in ("in", "out"):
            async for ids in self._walk(self.key("msg", direction)):
                got = await self._fetch([("hmget", (self.key("msg", i), ["sent_at", "text", "meta"])) for i in ids])
                old = [
                    i
                    for i, (at, text, meta) in zip(ids, got, strict=True)
                    if at and float(at) < bound and (text or meta != "{}")
                ]
                await self._write([["HSET", self.key("msg", i), "text", "", "meta", "{}"] for i in old])
                counts["messages"] += len(old)
        for sent in (s for s in OutboxStatus if s is not OutboxStatus.QUEUED):
            (ids,) = await self._fetch([("zrangebyscore", (self.key("ob", "st", sent.value), "-inf", f"({_f(bound)}"))])
            got = await self._fetch([("hget", (self.key("ob", i), "text")) for i in ids])
            old = [i for i, text in zip(ids, got, strict=True) if text]
            await self._write([["HSET", self.key("ob", i), "text", ""] for i in old])
            counts["replies"] += len(old)
        async for batch in self._scan(self.key("ev", "*")):
            got = await self._fetch([("hmget", (k, ["envelope", "status"])) for k in batch])
            ops: list[list[str]] = []
            for key, (raw, status) in zip(batch, got, strict=True):
                if not raw or status == EventStatus.PENDING.value:
                    continue
                envelope = envelope_load(raw)
                if envelope.received_at.timestamp() < bound and (envelope.payload or envelope.lookups):
                    ops.append(["HSET", key, "envelope", envelope_dump(replace(envelope, payload={}, lookups={}))])
            await self._write(ops)
            counts["events"] += len(ops)
        for finished in (s for s in CrmJobStatus if s is not CrmJobStatus.QUEUED):
            async for ids in self._walk(self.key("cj", "st", finished.value)):
                got = await self._fetch([("hmget", (self.key("cj", i), ["created_at", "payload"])) for i in ids])
                old = [
                    i
                    for i, (at, payload) in zip(ids, got, strict=True)
                    if at and float(at) < bound and payload not in (None, "{}")
                ]
                await self._write([["HSET", self.key("cj", i), "payload", "{}"] for i in old])
                counts["crm_jobs"] += len(old)
        counts["recent"] = await self.prune_recent(before)
        return counts

    async def put_note(self, name: str, value: str) -> None:
        await self._write([["HSET", self.key("meta"), f"note:{name}", value]])

    async def get_note(self, name: str) -> str | None:
        (value,) = await self._fetch([("hget", (self.key("meta"), f"note:{name}"))])
        return None if value is None else str(value)

    async def _write(self, ops: Sequence[Sequence[str]]) -> None:
        if not ops:
            return
        self.round_trips += 1
        try:
            pipe = self.client.pipeline(transaction=True)
            for op in ops:
                pipe.execute_command(*op)
            await pipe.execute()
        except RedisError as e:
            raise StoreError(f"write failed: {e}") from e

    # -- maintenance -----------------------------------------------------------------------------
    async def drop_everything(self) -> int:
        """Delete every key of this store's prefix (tests, a fresh demo). Never touches other prefixes."""
        deleted = 0
        async for batch in self._scan(self.key("*")):
            self.round_trips += 1
            deleted += await self.client.unlink(*batch)
        return deleted

    async def _scan(self, pattern: str) -> AsyncIterator[list[str]]:
        batch: list[str] = []
        async for k in self.client.scan_iter(match=pattern, count=CHUNK):
            batch.append(k)
            if len(batch) >= CHUNK:
                yield batch
                batch = []
        if batch:
            yield batch
