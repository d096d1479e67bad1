from dataclasses import replace
from datetime import date

import fakeredis
import pytest

from stock_platform.models import TradeRow
from stock_platform.processing.aggregation import daily_key, fold_trades, minute_key
from stock_platform.processing.reconcile import (
    daily_aggregates,
    differences,
    keyed,
    minute_bars,
    reconcile_day,
    trades_frame,
)
from stock_platform.processing.redis_cache import CachedDailyStore, RedisDailyAggregateCache, invalidate_day
from stock_platform.storage.batch import same_bar, write_trade_batch
from stock_platform_tests.storage.bar_checks import assert_same_bars
from stock_platform_tests.storage.conftest import (  # noqa: F401 - the `store` fixture over SQLite and Cassandra
    T0,
    cassandra_admin,
    cassandra_keyspace,
    cassandra_module_store,
    cassandra_store,
    sqlite_store,
    store,
    trade,
)
from stock_platform_tests.storage.interleaving import StreamWritesDuring

DAY = date(2025, 10, 9)


def _trade(trade_id: str, event_time_ms: int, price: float, volume: float, symbol: str = "AAPL") -> TradeRow:
    return TradeRow(symbol, DAY, event_time_ms, trade_id, price, volume, None, 0, 0, 0)


TRADES = [
    _trade("m/0/3/0", 1_000, 11.0, 2.0),
    _trade("m/0/1/0", 1_000, 10.0, 1.0),  # same millisecond, smaller id: the open
    _trade("m/0/2/0", 65_000, 12.0, 3.0),
    _trade("m/0/0/0", 59_999, 9.0, 4.0),  # lowest offset, yet the close of minute 0
]


@pytest.mark.e2e
def test_spark_aggregation_is_by_event_time_with_trade_id_ties(spark):
    daily = keyed(daily_aggregates(trades_frame(spark, TRADES)), ("symbol", "trading_day"))
    assert daily == {
        ("AAPL", DAY): {
            "open": 10.0, "high": 12.0, "low": 9.0, "close": 12.0, "volume": 10.0, "notional": 10 + 22 + 36 + 36.0,
            "vwap": 104.0 / 10.0, "trade_count": 4, "first_trade_time_ms": 1_000, "last_trade_time_ms": 65_000,
            "first_trade_id": "m/0/1/0", "last_trade_id": "m/0/2/0",
        }
    }  # fmt: skip
    bars = keyed(minute_bars(trades_frame(spark, TRADES)), ("symbol", "trading_day", "bucket_start_ms"))
    assert sorted(bars) == [("AAPL", DAY, 0), ("AAPL", DAY, 60_000)]
    assert (bars[("AAPL", DAY, 0)]["open"], bars[("AAPL", DAY, 0)]["close"]) == (10.0, 9.0)


def test_differences_name_missing_extra_and_differing_rows():
    row = {"open": 1.0, "high": 2.0, "low": 1.0, "close": 2.0, "volume": 3.0, "notional": 5.0, "vwap": 5 / 3,
           "trade_count": 2, "first_trade_time_ms": 1, "last_trade_time_ms": 2, "first_trade_id": "a", "last_trade_id": "b"}  # fmt: skip
    assert differences({("A",): row}, {("A",): {**row, "vwap": 5 / 3 * (1 + 1e-12)}}) == []
    assert differences({("A",): row, ("B",): row}, {("A",): {**row, "trade_count": 3}, ("C",): row}) == [
        "('B',): missing",
        "('C',): has no trades",
        "('A',): trade_count is 3, trades give 2",
    ]


@pytest.mark.e2e
def test_reconcile_keeps_the_aggregates_of_trades_that_expired_in_whole_or_part(spark, store):
    # What the trades' 30-day TTL leaves of an old day: its bars (daily_aggregates has no TTL), no trades
    # of AAPL and GONE, and of PART only the trades after its first minute (the earliest expire first).
    streamed = [trade(1, 7.0, 2.0, T0), trade(2, 8.0, 1.0, T0, symbol="GONE", partition=1),
                trade(4, 6.0, 1.0, T0 - 120_000, symbol="PART", partition=3), trade(5, 9.0, 1.0, T0, symbol="PART", partition=3)]  # fmt: skip
    store.upsert_daily_aggregates(fold_trades(streamed, daily_key, now_ms=1))
    store.upsert_minute_bars(fold_trades(streamed, minute_key, now_ms=1))
    store.write_trades(streamed[3:])
    write_trade_batch(store, [trade(3, 10.0, 1.0, T0, symbol="MSFT", partition=2)], now_ms=1)
    outcome = reconcile_day(spark, store, DAY, now_ms=T0)
    assert (outcome["symbols"], outcome["trades_expired_aggregates_kept"]) == (1, 3)
    daily = store.daily_aggregates_for_day(DAY)
    assert {symbol: bar for symbol, bar in daily.items() if symbol != "MSFT"} == {
        symbol: bar for (symbol, _), bar in fold_trades(streamed, daily_key, now_ms=1).items()
    }
    assert store.minute_bars(fold_trades(streamed, minute_key)) == fold_trades(streamed, minute_key, now_ms=1)


@pytest.mark.e2e
@pytest.mark.parametrize(("method", "when"), [("trades_for_day", "after"), ("compare_and_set_bars", "before")])
def test_a_stream_batch_during_reconcile_ends_up_in_the_bars(spark, store, method, when):
    write_trade_batch(store, [trade(offset, 10.0 + offset, 1.0, T0 + offset * 7_000) for offset in range(1, 8)])
    racing = [trade(offset, 30.0 - offset, 2.0, T0 + offset * 7_000) for offset in range(8, 13)]
    interleaved = StreamWritesDuring(store, method, when, lambda: write_trade_batch(store, racing))
    reconcile_day(spark, interleaved, DAY, now_ms=T0)
    assert interleaved.fired
    stored_trades = store.trades_for_day("AAPL", DAY)
    assert len(stored_trades) == 12
    assert same_bar(store.daily_aggregates_for_day(DAY)["AAPL"], fold_trades(stored_trades, daily_key)[("AAPL", DAY)])
    minute = {key: replace(bar, updated_at_ms=0) for key, bar in store.minute_bars(fold_trades(stored_trades, minute_key)).items()}
    assert_same_bars(fold_trades(stored_trades, minute_key, now_ms=0), minute)


@pytest.mark.e2e
def test_a_light_engine_batch_through_the_redis_cache_during_reconcile_is_kept(spark, store):
    # The light engine reads its bars from Redis, so it learns of the reconcile's bars only once the
    # job has invalidated the day: the batch it wrote meanwhile must be in them all the same.
    client = fakeredis.FakeRedis()
    stream = CachedDailyStore(store, RedisDailyAggregateCache(client, namespace="run-1"))
    write_trade_batch(stream, [trade(offset, 10.0 + offset, 1.0, T0 + offset * 7_000) for offset in range(1, 8)])
    racing = [trade(offset, 30.0 - offset, 2.0, T0 + offset * 7_000) for offset in range(8, 13)]
    reconcile_day(spark, StreamWritesDuring(store, "trades_for_day", "after", lambda: write_trade_batch(stream, racing)), DAY)
    invalidate_day(client, DAY)
    write_trade_batch(stream, [trade(offset, 20.0, 1.0, T0 + offset * 7_000) for offset in range(13, 16)])
    stored_trades = store.trades_for_day("AAPL", DAY)
    assert len(stored_trades) == 15
    assert same_bar(store.daily_aggregates_for_day(DAY)["AAPL"], fold_trades(stored_trades, daily_key)[("AAPL", DAY)])
