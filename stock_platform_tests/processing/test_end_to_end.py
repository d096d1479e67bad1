"""Producer -> Apache Kafka -> Spark and light engines -> embedded store, with crashes mid-stream."""

import threading
from collections import Counter
from contextlib import nullcontext

import pytest

from stock_platform.processing.light_engine import LightEngineSettings
from stock_platform.processing.processor import run_light, run_spark
from stock_platform.processing.reconcile import (
    bar_fields,
    daily_aggregates,
    differences,
    keyed,
    minute_bars,
    trades_frame,
)
from stock_platform.processing.sink import TradeSink
from stock_platform.processing.spark_stream import SparkStreamSettings, StreamQueryError
from stock_platform.processing.stream_stats import StreamStats
from stock_platform.processing.trading_day import TradingCalendar
from stock_platform.storage.aggregated_batch import write_aggregated_batch
from stock_platform.storage.batch import write_trade_batch
from stock_platform.storage.settings import EmbeddedStoreSettings
from stock_platform.storage.sqlite_store import SqliteMarketStore
from stock_platform_tests.processing.conftest import produce_frames

pytestmark = pytest.mark.e2e
CALENDAR = TradingCalendar()


class KilledMidWrite(Exception):
    """Stands in for the process dying in the middle of a batch."""


class NonAtomicStore:
    """The store without batch transactions (like Cassandra); the `kill_at`-th minute-bar write dies.

    So a killed batch leaves its trades and daily aggregates written and its minute bars not.
    """

    def __init__(self, store, kill_at: int) -> None:
        self._store = store
        self._calls = 0
        self._kill_at = kill_at

    def __getattr__(self, name):
        return getattr(self._store, name)

    def atomic_batch(self):
        return nullcontext()

    def upsert_minute_bars(self, states):
        self._calls += 1
        if self._calls == self._kill_at:
            raise KilledMidWrite("killed after the daily aggregates, before the minute bars")
        return self._store.upsert_minute_bars(states)


def _writer_killed_before_commit(store, kill_at: int):
    """Writes the batch, then dies on the `kill_at`-th batch before the engine can commit offsets."""
    calls = []

    def write(rows):
        result = write_trade_batch(store, rows)
        calls.append(len(rows))
        if len(calls) == kill_at:
            raise KilledMidWrite("killed after the write, before the offset commit")
        return result

    return write


def _writers(store):
    """The production pair: rows folded here (light engine), or with Spark's partial bars merged."""
    return {"write_rows": lambda rows: write_trade_batch(store, rows), "write_aggregated": lambda rows, bars: write_aggregated_batch(store, rows, bars)}


def _run(engine, spark, topics, tmp_path, stored_trades, expected, write_rows, write_aggregated=None):
    sink = TradeSink(write_rows, None, StreamStats(engine), write_aggregated=write_aggregated)
    stop = threading.Event()

    def tick():
        if stored_trades() >= expected:
            stop.set()

    if engine == "light":
        settings = LightEngineSettings(topic=topics.market, group_id=topics.group, max_batch_messages=30)
        run_light(topics.kafka, settings, CALENDAR, sink, stop, tick)
    else:
        checkpoint = str(tmp_path / "checkpoint")
        settings = SparkStreamSettings(topics.market, checkpoint, max_messages_per_trigger=60, decode_in_jvm=engine == "spark-jvm")
        run_spark(lambda: nullcontext(spark), topics.kafka, settings, CALENDAR, sink, stop, tick)


def _tables(store, days):
    trades = [row for day in days for symbol in store.symbols_for_day(day) for row in store.trades_for_day(symbol, day)]
    daily = {(symbol, day): bar_fields(bar) for day in days for symbol, bar in store.daily_aggregates_for_day(day).items()}
    bars = {
        (symbol, day, start): bar_fields(bar)
        for day in days
        for symbol in store.symbols_for_day(day)
        for start, bar in store.minute_bars_for_day(symbol, day).items()
    }
    offsets = {(symbol, day): (bar.source_partition, bar.source_offset) for day in days for symbol, bar in store.daily_aggregates_for_day(day).items()}
    return trades, daily, bars, offsets


@pytest.mark.parametrize(
    ("engine", "crash"), [("spark", NonAtomicStore), ("spark-jvm", NonAtomicStore), ("light", _writer_killed_before_commit)]
)
def test_every_trade_lands_once_and_the_aggregates_match_an_independent_computation(spark, topics, tmp_path, engine, crash):
    produced = produce_frames(topics.kafka, topics.market, 60)
    days = sorted({CALENDAR.trading_day(symbol, event_time) for symbol, event_time, _, _ in produced})
    with SqliteMarketStore(EmbeddedStoreSettings(str(tmp_path / "store.sqlite"), synchronous="OFF")) as store:
        count = lambda: sum(len(store.trades_for_day(s, day)) for day in days for s in store.symbols_for_day(day))  # noqa: E731
        crashing = _writers(NonAtomicStore(store, kill_at=2)) if crash is NonAtomicStore else None
        writers = crashing or {"write_rows": _writer_killed_before_commit(store, kill_at=2)}
        with pytest.raises((KilledMidWrite, StreamQueryError), match="killed after"):
            _run(engine, spark, topics, tmp_path, count, len(produced), **writers)
        assert 0 < count() < len(produced)
        _run(engine, spark, topics, tmp_path, count, len(produced), **_writers(store))
        trades, daily, bars, _ = _tables(store, days)

    assert Counter((row.symbol, row.event_time_ms, row.price, row.volume) for row in trades) == Counter(produced)
    assert len({row.trade_id for row in trades}) == len(produced)
    frame = trades_frame(spark, trades)
    assert differences(keyed(daily_aggregates(frame), ("symbol", "trading_day")), daily) == []
    assert differences(keyed(minute_bars(frame), ("symbol", "trading_day", "bucket_start_ms")), bars) == []


def test_both_engines_produce_identical_tables_from_the_same_input(spark, topics, tmp_path):
    produced = produce_frames(topics.kafka, topics.market, 60, seed=5)
    days = sorted({CALENDAR.trading_day(symbol, event_time) for symbol, event_time, _, _ in produced})
    tables = {}
    for engine in ("spark", "spark-jvm", "light"):
        path = tmp_path / engine
        path.mkdir()
        with SqliteMarketStore(EmbeddedStoreSettings(str(path / "store.sqlite"), synchronous="OFF")) as store:
            count = lambda: sum(len(store.trades_for_day(s, day)) for day in days for s in store.symbols_for_day(day))  # noqa: E731
            _run(engine, spark, topics, path, count, len(produced), **_writers(store))
            trades, daily, bars, offsets = _tables(store, days)
            tables[engine] = ([row._asdict() for row in trades], daily, bars, offsets)
    assert tables["spark"] == tables["light"]
    (jvm_trades, jvm_daily, jvm_bars, jvm_offsets), (light_trades, light_daily, light_bars, light_offsets) = tables["spark-jvm"], tables["light"]
    assert jvm_trades == light_trades and jvm_offsets == light_offsets
    # In the JVM a batch's volumes are summed and then added to the stored bar, on the driver trade by trade,
    # so sums may differ in the last bits.
    assert differences(light_daily, jvm_daily) == differences(light_bars, jvm_bars) == []
