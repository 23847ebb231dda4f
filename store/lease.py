"""The writer lease of one identity graph on Redis: which `stitch worker` resolves its events.

One key per store, `{<prefix>}:lease`, holds the writer's token: taken with SET NX PX, renewed by a
heartbeat task and released with compare-and-set scripts, so only the holder ever extends or drops
it. The key carries the store's hash tag: on a Redis Cluster it lives in the graph's own slot, and
each store prefix (a tenant's graph) has its own lease, so several graphs are resolved by several
workers at once.

The holder counts the lease as its own only until `started + lease_s` of its last successful
renewal (measured from before the renewal was sent, so never later than Redis's own expiry). The
store's commits also check the token in the same script that writes (`RedisStore.fence`): a worker
paused past its lease, or cut off from Redis, writes nothing after another has taken over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

if TYPE_CHECKING:
    from store.redis import RedisStore

log = logging.getLogger("stitch.lease")

# Renewals per lease period: two may fail (a Redis hiccup) before the lease runs out.
RENEWALS = 3

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""


class RedisLease:
    """One process's claim to be the graph's writer; `held` says whether it still is."""

    def __init__(self, store: RedisStore, *, owner: str, lease_s: float) -> None:
        self.client = store.client
        self.key = store.key("lease")
        self.owner = owner
        self.lease_s = lease_s
        self.token = ""
        self.terms = 0  # times this process became the writer
        self.lost = asyncio.Event()
        self._valid_until = 0.0
        self._beat: asyncio.Task[None] | None = None
        self._renew = self.client.register_script(_RENEW)
        self._release = self.client.register_script(_RELEASE)

    @property
    def _ms(self) -> int:
        return max(1, int(self.lease_s * 1000))

    @property
    def held(self) -> bool:
        return bool(self.token) and not self.lost.is_set() and time.monotonic() < self._valid_until

    async def acquire(self) -> bool:
        """Take the lease if nobody holds it; the heartbeat then keeps it until `release`."""
        if self.held:
            return True
        await self._stop_heartbeat()
        token = f"{self.owner}:{secrets.token_hex(8)}"
        started = time.monotonic()
        if not await self.client.set(self.key, token, nx=True, px=self._ms):
            return False
        self.token, self._valid_until = token, started + self.lease_s
        self.lost = asyncio.Event()
        self.terms += 1
        self._beat = asyncio.create_task(self._heartbeat(token))
        log.info("writer lease taken", extra={"owner": self.owner, "lease_s": self.lease_s})
        return True

    async def holder(self) -> str | None:
        """The token of whoever holds the lease now (it starts with the holder's worker name)."""
        held = await self.client.get(self.key)
        return None if held is None else str(held)

    async def release(self) -> None:
        """Give the lease up at once (a clean stop: a standby takes over at its next look)."""
        await self._stop_heartbeat()
        token, self.token = self.token, ""
        self.lost.set()
        if not token:
            return
        with contextlib.suppress(RedisError, OSError):
            await self._release(keys=[self.key], args=[token])

    async def _heartbeat(self, token: str) -> None:
        while True:
            await asyncio.sleep(self.lease_s / RENEWALS)
            started = time.monotonic()
            try:
                kept = await self._renew(keys=[self.key], args=[token, self._ms])
            except (RedisError, OSError):
                if time.monotonic() >= self._valid_until:
                    self._lose("Redis did not answer for a whole lease")
                    return
                continue
            if not kept:
                self._lose("another worker holds it")
                return
            self._valid_until = started + self.lease_s

    def _lose(self, why: str) -> None:
        log.warning("writer lease lost", extra={"owner": self.owner, "reason": why})
        self.lost.set()

    async def _stop_heartbeat(self) -> None:
        beat, self._beat = self._beat, None
        if beat is None or beat is asyncio.current_task():
            return
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat
