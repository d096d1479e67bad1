"""Open the configured store from plain settings (no Dagster needed, so Spark executors can call it)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from stock_platform.storage.base import MarketStore
from stock_platform.storage.settings import CassandraStoreSettings, EmbeddedStoreSettings, StoreSettings


def create_store(settings: StoreSettings) -> MarketStore:
    """A new store for `settings`; the caller closes it (prefer `open_store`)."""
    # Backends are imported on demand so an embedded run never loads the Cassandra driver.
    if isinstance(settings, EmbeddedStoreSettings):
        from stock_platform.storage.sqlite_store import SqliteMarketStore

        return SqliteMarketStore(settings)
    if isinstance(settings, CassandraStoreSettings):
        from stock_platform.storage.cassandra_store import CassandraMarketStore

        return CassandraMarketStore(settings)
    raise TypeError(f"no store for settings of type {type(settings).__name__}")


@contextmanager
def open_store(settings: StoreSettings) -> Iterator[MarketStore]:
    """A store for the duration of the block, closed however the block exits."""
    store = create_store(settings)
    try:
        yield store
    finally:
        store.close()
