"""Optional Redis cache of the running daily aggregates for the light engine (REDIS_URL).

The store stays the source of truth: the cache is read through (misses load the stored rows) and
written only after a batch's store transaction committed, so a failed batch never leaves a cached
state ahead of the tables. Entries live under a per-run namespace and expire, so a new run (or
another engine writing meanwhile) never starts from a stale cache; the reconcile job invalidates
the days it rewrites. Until it does, a batch folds into the cached bar, which has every trade the
stream applied, so a reconcile running meanwhile can lose its correction to it (the next reconcile
repairs it) but no trade: the reconcile folds in what the stream stored (storage.batch.write_recomputed).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict
from datetime import date
from typing import Any

import redis

from stock_platform.processing.aggregation import BarState, DayKey
from stock_platform.storage.base import MarketStore

KEY_PREFIX = "stock_platform:daily_aggregates"
_DEFAULT_TTL_S = 3 * 24 * 3600


class RedisDailyAggregateCache:
    """Daily bars as JSON strings at `<prefix>:<namespace>:<day>:<symbol>`."""

    def __init__(self, client: redis.Redis, namespace: str, ttl_s: int = _DEFAULT_TTL_S) -> None:
        self._client = client
        self._namespace = namespace
        self._ttl_s = ttl_s

    @classmethod
    def from_url(cls, url: str, namespace: str) -> RedisDailyAggregateCache:
        return cls(redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5), namespace)

    def _key(self, key: DayKey) -> str:
        symbol, day = key
        return f"{KEY_PREFIX}:{self._namespace}:{day.isoformat()}:{symbol}"

    def get_many(self, keys: Iterable[DayKey]) -> dict[DayKey, BarState]:
        keys = list(keys)
        if not keys:
            return {}
        values = self._client.mget([self._key(key) for key in keys])
        return {key: BarState(**json.loads(value)) for key, value in zip(keys, values) if value is not None}

    def put_many(self, states: Mapping[DayKey, BarState]) -> None:
        if not states:
            return
        pipeline = self._client.pipeline(transaction=False)
        for key, state in states.items():
            pipeline.set(self._key(key), json.dumps(asdict(state)), ex=self._ttl_s)
        pipeline.execute()

    def delete(self, keys: Iterable[DayKey]) -> None:
        names = [self._key(key) for key in keys]
        if names:
            self._client.delete(*names)

    def close(self) -> None:
        self._client.close()


def invalidate_day(client: redis.Redis, day: date) -> int:
    """Drop every namespace's cached bars of `day` (after the day was rewritten from trades)."""
    names = list(client.scan_iter(match=f"{KEY_PREFIX}:*:{day.isoformat()}:*", count=1000))
    return client.delete(*names) if names else 0


class CachedDailyStore:
    """A MarketStore whose daily aggregates are read through and (after commit) written through a cache."""

    def __init__(self, store: MarketStore, cache: RedisDailyAggregateCache) -> None:
        self._store = store
        self._cache = cache
        self._pending: dict[DayKey, BarState] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def daily_aggregates(self, keys: Iterable[DayKey]) -> dict[DayKey, BarState]:
        keys = set(keys)
        found = self._cache.get_many(keys)
        missing = keys - set(found)
        if missing:
            loaded = self._store.daily_aggregates(missing)
            self._cache.put_many(loaded)
            found.update(loaded)
        return found

    def upsert_daily_aggregates(self, states: Mapping[DayKey, BarState]) -> int:
        written = self._store.upsert_daily_aggregates(states)
        if self._pending is None:
            self._cache.put_many(states)
        else:
            self._pending.update(states)
        return written

    @contextmanager
    def atomic_batch(self) -> Iterator[None]:
        """The store's batch transaction; cached states change only once it committed."""
        self._pending = pending = {}
        try:
            with self._store.atomic_batch():
                yield
        except BaseException:
            self._cache.delete(pending)
            raise
        finally:
            self._pending = None
        self._cache.put_many(pending)
