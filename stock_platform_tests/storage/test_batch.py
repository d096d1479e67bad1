"""write_trade_batch and recompute_day on both backends: audit figures, replays, reconciliation."""

import random
from dataclasses import replace
from datetime import date

import pytest

from stock_platform.core.aggregation import daily_key, fold_trades, minute_key
from stock_platform.core.trading_day import TradingCalendar
from stock_platform.storage.batch import BatchResult, offset_ranges, recompute_day, write_trade_batch
from stock_platform_tests.storage.bar_checks import assert_same_bars, deliveries
from stock_platform_tests.storage.conftest import DAY, T0, trade


def test_a_batch_writes_trades_and_bars_and_reports_its_audit_figures(store):
    rows = [trade(5, 10.0, 1.0, T0 + 61_000), trade(6, 12.0, 3.0, T0), trade(9, 1.0, 1.0, T0 + 5, symbol="MSFT", partition=2)]
    result = write_trade_batch(store, rows, now_ms=T0 + 1)
    assert result == BatchResult(
        rows_written=3, daily_updated=2, minute_bars_updated=3, applied=3, duplicates=0, late=0,
        first_event_time_ms=T0, last_event_time_ms=T0 + 61_000, offset_ranges={0: (5, 6), 2: (9, 9)},
    )  # fmt: skip
    assert result.aggregates_updated == 5
    daily = store.daily_aggregates([("AAPL", DAY)])[("AAPL", DAY)]
    assert (daily.open, daily.close, daily.volume, daily.vwap, daily.updated_at_ms) == (12.0, 10.0, 4.0, 46.0 / 4, T0 + 1)
    assert len(store.trades_for_day("AAPL", DAY)) == 2


def test_replaying_a_batch_rewrites_the_same_rows_and_counts_nothing_twice(store):
    rows = [trade(offset, 10.0 + offset, 1.0, T0 + offset * 1000) for offset in range(1, 6)]
    write_trade_batch(store, rows)
    before = (store.trades_for_day("AAPL", DAY), store.daily_aggregates_for_day(DAY), store.minute_bars_for_day("AAPL", DAY))
    replay = write_trade_batch(store, rows[::-1])
    assert (replay.rows_written, replay.applied, replay.duplicates, replay.aggregates_updated) == (5, 0, 5, 0)
    after = (store.trades_for_day("AAPL", DAY), store.daily_aggregates_for_day(DAY), store.minute_bars_for_day("AAPL", DAY))
    assert after == before


def test_a_late_trade_is_counted_and_folded_in(store):
    write_trade_batch(store, [trade(1, 10.0, 1.0, T0 + 10_000)])
    result = write_trade_batch(store, [trade(2, 9.0, 1.0, T0)])
    assert (result.applied, result.late) == (1, 1)
    assert store.daily_aggregates_for_day(DAY)["AAPL"].open == 9.0


def test_an_empty_batch_writes_nothing():
    assert write_trade_batch(None, []) == BatchResult()


def test_offset_ranges_span_each_partition():
    rows = [trade(7), trade(3), trade(5), trade(1, partition=4)]
    assert offset_ranges(rows) == {0: (3, 7), 4: (1, 1)}


def _stream(rng):
    calendar = TradingCalendar()
    rows, offsets = [], {0: 0, 1: 0}
    for _ in range(120):
        symbol, partition = rng.choice([("AAPL", 0), ("MSFT", 1), ("BINANCE:BTCUSDT", 1)])
        offsets[partition] += 1
        for position in range(rng.randint(1, 3)):
            # Around New York midnight (04:00 UTC in October): trades land on two trading days.
            event_time_ms = 1_759_982_400_000 + rng.randrange(-600_000, 600_000, 11)
            rows.append(replace(
                trade(offsets[partition], round(rng.uniform(1, 2), 3), float(rng.randint(0, 4)), event_time_ms, symbol,
                      partition, position),
                trading_day=calendar.trading_day(symbol, event_time_ms),
            ))  # fmt: skip
    return rows


@pytest.mark.parametrize("seed", range(3))
def test_redelivered_batches_through_the_store_match_one_fold(store, seed):
    rng = random.Random(seed)
    rows = _stream(rng)
    for batch in deliveries(rng, rows):
        write_trade_batch(store, batch)
    days = sorted({row.trading_day for row in rows})
    assert len(days) == 2
    daily = {(symbol, day): bar for day in days for symbol, bar in store.daily_aggregates_for_day(day).items()}
    assert_same_bars(fold_trades(rows, daily_key, now_ms=0), {k: replace(v, updated_at_ms=0) for k, v in daily.items()})
    minute = store.minute_bars(fold_trades(rows, minute_key))
    assert_same_bars(fold_trades(rows, minute_key, now_ms=0), {k: replace(v, updated_at_ms=0) for k, v in minute.items()})


def test_recompute_rebuilds_a_day_from_trades(store):
    rows = [trade(1, 10.0, 1.0, T0), trade(2, 11.0, 2.0, T0 + 90_000), trade(3, 5.0, 1.0, T0, symbol="MSFT", partition=1)]
    write_trade_batch(store, rows)
    streamed = (store.daily_aggregates_for_day(DAY), store.minute_bars_for_day("AAPL", DAY))
    store.upsert_daily_aggregates({("AAPL", DAY): replace(streamed[0]["AAPL"], volume=999.0)})
    result = recompute_day(store, DAY, TradingCalendar(default_zone="UTC"), now_ms=T0)
    assert (result.symbols, result.trades, result.daily_rows, result.minute_rows) == (["AAPL", "MSFT"], 3, 2, 3)
    assert (result.changed_symbols, result.expired_symbols, result.misdated_trades) == (["AAPL"], [], 0)
    daily = store.daily_aggregates_for_day(DAY)
    assert daily == {symbol: replace(bar, updated_at_ms=T0) for symbol, bar in streamed[0].items()}
    assert store.minute_bars_for_day("AAPL", DAY) == {bucket: replace(bar, updated_at_ms=T0) for bucket, bar in streamed[1].items()}


def test_recompute_keeps_the_aggregates_of_trades_that_expired(store):
    # Bars without trades are what the trades' TTL leaves behind: a whole expired symbol, and a minute
    # whose trades expired before the rest of the day's.
    expired = fold_trades([trade(1, 7.0, 2.0, T0 - 120_000), trade(2, 8.0, 1.0, T0, symbol="GONE", partition=1)], minute_key, now_ms=1)
    store.upsert_minute_bars(expired)
    expired_daily = fold_trades([trade(2, 8.0, 1.0, T0, symbol="GONE", partition=1)], daily_key, now_ms=1)
    store.upsert_daily_aggregates(expired_daily)
    write_trade_batch(store, [trade(3, 10.0, 1.0, T0)], now_ms=1)
    result = recompute_day(store, DAY, now_ms=T0)
    assert (result.symbols, result.expired_symbols) == (["AAPL"], ["GONE"])
    assert store.daily_aggregates([("GONE", DAY)]) == expired_daily
    assert store.minute_bars_for_day("GONE", DAY) == {T0 - T0 % 60_000: expired[("GONE", DAY, T0 - T0 % 60_000)]}
    assert (T0 - 120_000) - (T0 - 120_000) % 60_000 in store.minute_bars_for_day("AAPL", DAY)


def test_recompute_counts_trades_stored_under_another_calendars_day(store):
    late_evening_ny = 1_760_054_400_000  # 2025-10-10T00:00Z = 2025-10-09 20:00 in New York
    store.write_trades([trade(1, event_time_ms=late_evening_ny, day=date(2025, 10, 10))])
    result = recompute_day(store, date(2025, 10, 10), TradingCalendar(), now_ms=T0)
    assert (result.trades, result.misdated_trades, result.symbols) == (1, 1, ["AAPL"])
