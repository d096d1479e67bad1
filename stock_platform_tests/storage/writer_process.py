"""Target of the multi-process SQLite test (importable, so a spawned interpreter can run it)."""

from stock_platform.storage.batch import write_trade_batch
from stock_platform.storage.settings import EmbeddedStoreSettings
from stock_platform.storage.sqlite_store import SqliteMarketStore


def write_in_batches(path, rows, start, batch_size=5):
    """Wait for `start` (so all writers overlap), then write `rows` in small batches."""
    store = SqliteMarketStore(EmbeddedStoreSettings(path, synchronous="NORMAL"))
    start.wait(60)
    try:
        for start in range(0, len(rows), batch_size):
            write_trade_batch(store, rows[start : start + batch_size])
    finally:
        store.close()
