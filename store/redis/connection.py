"""The Redis store: the connection every area shares, its unit of work and the module-level helpers."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Self
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisError

from core.errors import LeaseLost, StoreError, StoreUnavailable, WriteConflict
from core.inbox import search_words
from core.records import EventStatus
from store.base import GRAPH_LOCK, MAX_ALIAS_DEPTH, BaseStore

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
# Longest wait for one reply. Every blocking command Stitch sends waits far less (a stream read
# 0.5 s, a lock wake-up 0.2 s), so a reply this late is lost: the read fails with a TimeoutError,
# which the worker treats like an outage (pause, then again) instead of waiting for ever.
REPLY_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 10.0
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
            socket_timeout=REPLY_TIMEOUT_S,
            socket_connect_timeout=CONNECT_TIMEOUT_S,
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


class RedisConnection(BaseStore):
    """The connection and unit of work that every area of the Redis store shares."""

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
    ) -> Self:
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
                client = aioredis.Redis.from_url(
                    server_url,
                    decode_responses=True,
                    health_check_interval=30,
                    socket_timeout=REPLY_TIMEOUT_S,
                    socket_connect_timeout=CONNECT_TIMEOUT_S,
                )
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
