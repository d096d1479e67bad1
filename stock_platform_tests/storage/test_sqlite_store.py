"""The embedded store: same tables as schema.cql, WAL, several threads and processes, clear lock errors."""

import multiprocessing
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from stock_platform.processing.aggregation import daily_key, fold_trades
from stock_platform.storage.base import StoreError
from stock_platform.storage.batch import write_trade_batch
from stock_platform.storage.settings import EmbeddedStoreSettings
from stock_platform.storage.sqlite_store import SqliteMarketStore
from stock_platform_tests.storage.bar_checks import assert_same_bars
from stock_platform_tests.storage.conftest import DAY, T0, article, trade
from stock_platform_tests.storage.writer_process import write_in_batches


def _sqlite_tables(path):
    connection = sqlite3.connect(path)
    try:
        names = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {
            name: {row[1]: row[5] for row in connection.execute(f"PRAGMA table_info({name})")} for name in names
        }  # fmt: skip
    finally:
        connection.close()


def test_tables_columns_and_primary_keys_match_the_cassandra_schema(sqlite_store, tmp_path, cassandra_admin, cassandra_keyspace):
    cassandra = cassandra_admin.cluster.metadata.keyspaces[cassandra_keyspace].tables
    sqlite = _sqlite_tables(tmp_path / "market.db")
    assert set(sqlite) == set(cassandra)
    for name, table in cassandra.items():
        assert set(sqlite[name]) == set(table.columns), name
        key_order = sorted((position, column) for column, position in sqlite[name].items() if position)
        assert [column for _, column in key_order] == [column.name for column in table.primary_key], name


def test_time_ordered_batches_fill_the_trades_pages_as_tightly_as_a_rebuilt_file(sqlite_store, tmp_path):
    # The stream writes trades in time order; a key that put each batch at the front of a symbol's range
    # would split pages mid-tree and leave them about half full (73% more pages, measured).
    for batch in range(20):
        rows = [trade(batch * 600 + index, symbol=("AAPL", "MSFT", "NVDA")[index % 3], event_time_ms=T0 + batch * 600 + index)
                for index in range(600)]  # fmt: skip
        write_trade_batch(sqlite_store, rows)
    connection = sqlite3.connect(tmp_path / "market.db")
    try:
        written = connection.execute("PRAGMA page_count").fetchone()[0]
        connection.execute("VACUUM")
        rebuilt = connection.execute("PRAGMA page_count").fetchone()[0]
    finally:
        connection.close()
    assert written <= 1.25 * rebuilt, (written, rebuilt)


def test_the_file_uses_wal_and_the_busy_timeout(sqlite_store):
    connection = sqlite_store._connections.connection()
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert connection.execute("PRAGMA busy_timeout").fetchone()[0] == 30_000


def test_duplicate_news_rows_are_reported(sqlite_store, tmp_path):
    sqlite_store.upsert_news([article(7, T0)])
    raw = sqlite3.connect(tmp_path / "market.db")
    with raw:
        raw.execute("INSERT INTO news (symbol, published_at, article_id, headline) VALUES ('AAPL', ?, 7, 'moved')", (T0 + 1,))
    raw.close()
    assert sqlite_store.duplicate_news() == [("AAPL", 7)]


def test_threads_share_one_store(sqlite_store):
    errors = []

    def write(symbol, partition):
        try:
            for offset in range(1, 21):
                write_trade_batch(sqlite_store, [trade(offset, float(offset), 1.0, T0 + offset, symbol, partition)])
        except Exception as error:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(symbol, index)) for index, symbol in enumerate(["A", "B", "C", "D"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    daily = sqlite_store.daily_aggregates_for_day(DAY)
    assert {symbol: bar.trade_count for symbol, bar in daily.items()} == {"A": 20, "B": 20, "C": 20, "D": 20}


def test_processes_writing_the_same_bars_at_once_lose_nothing(tmp_path, monkeypatch):
    path = str(tmp_path / "shared.db")
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2]))  # spawned children import the tests
    # Every process writes the same symbol from its own partition: the bars' read-modify-write must be atomic.
    per_process = {p: [trade(o, 100.0 + p, 1.0, T0 + o * 10 + p, "AAPL", p) for o in range(1, 201)] for p in range(3)}
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    processes = [context.Process(target=write_in_batches, args=(path, rows, start)) for rows in per_process.values()]
    for process in processes:
        process.start()
    start.set()
    for process in processes:
        process.join(60)
    assert [process.exitcode for process in processes] == [0, 0, 0]
    all_rows = [row for rows in per_process.values() for row in rows]
    with SqliteMarketStore(EmbeddedStoreSettings(path)) as store:
        assert len(store.trades_for_day("AAPL", DAY)) == 600
        stored = store.daily_aggregates([("AAPL", DAY)])
    expected = fold_trades(all_rows, daily_key)
    stored[("AAPL", DAY)].updated_at_ms = expected[("AAPL", DAY)].updated_at_ms
    stored[("AAPL", DAY)].source_offset = expected[("AAPL", DAY)].source_offset
    assert_same_bars(expected, stored)


def test_a_writer_that_cannot_get_the_lock_fails_with_a_clear_message(tmp_path):
    path = str(tmp_path / "busy.db")
    store = SqliteMarketStore(EmbeddedStoreSettings(path, busy_timeout_s=0.05))
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError, match=r"busy\.db: database is locked \(waited 0\.05s for other writers\)"):
            store.write_trades([trade(1)])
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        store.close()


def test_a_closed_store_says_so(tmp_path):
    store = SqliteMarketStore(EmbeddedStoreSettings(str(tmp_path / "closed.db")))
    store.close()
    with pytest.raises(StoreError, match="closed.db is closed"):
        store.trades_for_day("AAPL", DAY)


def test_a_failed_batch_leaves_neither_trades_nor_bars(sqlite_store):
    class Boom(RuntimeError):
        pass

    def fail(states):
        raise Boom()

    sqlite_store.upsert_minute_bars = fail
    with pytest.raises(Boom):
        write_trade_batch(sqlite_store, [trade(1)])
    assert sqlite_store.trades_for_day("AAPL", DAY) == []
    assert sqlite_store.daily_aggregates_for_day(DAY) == {}


@pytest.mark.parametrize("count", [1, 1023, 1024, 1025, 2 * 1024 + 7])
def test_trades_written_in_chunked_statements_all_read_back(sqlite_store, count):
    rows = [trade(offset, price=100.0 + offset / 8, event_time_ms=T0 + offset, conditions=("1",) if offset % 2 else None) for offset in range(count)]
    replayed = rows[:3]
    assert sqlite_store.write_trades(rows + replayed) == count + len(replayed)
    assert sqlite_store.trades_for_day("AAPL", DAY) == rows


def test_a_background_thread_checkpoints_the_wal_and_stops_with_the_store(tmp_path):
    path = tmp_path / "market.db"
    store = SqliteMarketStore(EmbeddedStoreSettings(str(path)))
    schema_only = path.stat().st_size
    store.write_trades([trade(offset, event_time_ms=T0 + offset) for offset in range(2000)])
    checkpointers = [thread for thread in threading.enumerate() if thread.name == "sqlite-checkpoint"]
    assert checkpointers
    deadline = time.monotonic() + 10
    while path.stat().st_size == schema_only:  # the trades' pages reach the database file only by a checkpoint
        assert time.monotonic() < deadline, "the WAL was never checkpointed"
        time.sleep(0.1)
    store.close()
    assert not any(thread.is_alive() for thread in checkpointers)
