"""Storage backends: the embedded SQLite store (default) and the Redis store (scale-out)."""

from __future__ import annotations

from store.base import BaseStore


def open_store(
    url: str, *, lock_lease_s: float | None = None, lock_wait_s: float | None = None, existing: bool = False
) -> BaseStore:
    """Build the store a URL names: `sqlite:///PATH`, `redis://HOST:PORT/DB` or
    `redis+cluster://HOST:PORT[,HOST:PORT...][/?prefix=NAME]` (Redis Cluster).

    `existing`: the caller only reads, so a SQLite file that is not there fails at `open()` instead
    of being created empty. Raises StoreUnavailable with a one-line reason for a malformed URL.
    """
    from core.errors import StoreUnavailable

    if url.startswith("sqlite://"):
        from store.sqlite import SqliteStore

        return SqliteStore.from_url(url, existing=existing)
    if url.startswith(("redis://", "rediss://", "unix://", "redis+cluster://", "rediss+cluster://")):
        try:
            from store.redis import RedisStore
        except ImportError as e:  # the Redis backend ships separately in some builds
            raise StoreUnavailable(url, "the Redis backend is not available") from e
        store = RedisStore.from_url(url)
        if lock_lease_s is not None:
            store.lock_lease_s = lock_lease_s
        if lock_wait_s is not None:
            store.lock_wait_s = lock_wait_s
        return store
    raise StoreUnavailable(url, "expected sqlite:///PATH, redis://HOST:PORT/DB or redis+cluster://HOST:PORT,...")
