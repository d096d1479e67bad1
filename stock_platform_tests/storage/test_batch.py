"""write_trade_batch and recompute_day on both backends: audit figures, replays, reconciliation."""

import random
from dataclasses import replace
from datetime import date

import pytest

from stock_platform.processing.aggregation import daily_key, fold_trades, minute_key
from stock_platform.processing.trading_day import TradingCalendar
from stock_platform.storage.batch import BatchResult, offset_ranges, recompute_day, same_bar, write_trade_batch
from stock_platform_tests.storage.bar_checks import assert_same_bars, deliveries
from stock_platform_tests.storage.conftest import DAY, T0, trade
from stock_platform_tests.storage.interleaving import StreamWritesDuring


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
            rows.append(
                trade(offsets[partition], round(rng.uniform(1, 2), 3), float(rng.randint(0, 4)), event_time_ms, symbol,
                      partition, position)._replace(trading_day=calendar.trading_day(symbol, event_time_ms))
            )  # fmt: skip
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


def test_recompute_rewrites_the_bars_that_differ_from_trades(store):
    rows = [trade(1, 10.0, 1.0, T0), trade(2, 11.0, 2.0, T0 + 90_000), trade(3, 5.0, 1.0, T0, symbol="MSFT", partition=1)]
    write_trade_batch(store, rows, now_ms=1)
    streamed = (store.daily_aggregates_for_day(DAY), store.minute_bars_for_day("AAPL", DAY))
    first_bucket = min(streamed[1])
    store.upsert_daily_aggregates({("AAPL", DAY): replace(streamed[0]["AAPL"], volume=999.0)})
    store.upsert_minute_bars({("AAPL", DAY, first_bucket): replace(streamed[1][first_bucket], trade_count=5)})
    result = recompute_day(store, DAY, TradingCalendar(default_zone="UTC"), now_ms=T0)
    assert (result.symbols, result.trades, result.daily_rows, result.minute_rows) == (["AAPL", "MSFT"], 3, 1, 1)
    assert (result.changed_symbols, result.expired_symbols, result.misdated_trades) == (["AAPL"], [], 0)
    assert store.daily_aggregates_for_day(DAY) == {**streamed[0], "AAPL": replace(streamed[0]["AAPL"], updated_at_ms=T0)}
    assert store.minute_bars_for_day("AAPL", DAY) == {**streamed[1], first_bucket: replace(streamed[1][first_bucket], updated_at_ms=T0)}


def _expired(store, rows, left):
    """What the trades' TTL leaves of streamed `rows`: their bars, and only the trades `left`."""
    store.upsert_daily_aggregates(fold_trades(rows, daily_key, now_ms=1))
    store.upsert_minute_bars(fold_trades(rows, minute_key, now_ms=1))
    store.write_trades(left)


def test_recompute_keeps_the_aggregates_of_trades_that_expired_in_whole_or_part(store):
    # Trades expire by write time, the earliest first: PART lost its first minute's trades, GONE all.
    part = [trade(1, 7.0, 2.0, T0 - 120_000, symbol="PART"), trade(2, 9.0, 1.0, T0, symbol="PART")]
    _expired(store, part, part[1:])
    gone = [trade(3, 8.0, 1.0, T0, symbol="GONE", partition=1)]
    _expired(store, gone, [])
    write_trade_batch(store, [trade(4, 10.0, 1.0, T0)], now_ms=1)
    store.upsert_daily_aggregates({("AAPL", DAY): replace(store.daily_aggregates_for_day(DAY)["AAPL"], volume=5.0)})
    result = recompute_day(store, DAY, now_ms=T0)
    assert (result.symbols, result.changed_symbols, result.expired_symbols) == (["AAPL"], ["AAPL"], ["GONE", "PART"])
    assert result.daily_rows == 1
    for symbol, rows in (("PART", part), ("GONE", gone)):
        assert store.daily_aggregates([(symbol, DAY)]) == fold_trades(rows, daily_key, now_ms=1)
        assert store.minute_bars(fold_trades(rows, minute_key)) == fold_trades(rows, minute_key, now_ms=1)
    assert store.daily_aggregates_for_day(DAY)["AAPL"].volume == 1.0


# The stream's batch lands after the reconcile read the day's trades, or after a round read the bars
# it is about to replace (so its compare-and-set must lose and the round repeat).
STREAM_BATCH_POINTS = [("trades_for_day", "after"), ("compare_and_set_bars", "before")]


@pytest.mark.parametrize(("method", "when"), STREAM_BATCH_POINTS)
def test_a_stream_batch_during_recompute_ends_up_in_the_bars(store, method, when):
    streamed = [trade(offset, 10.0 + offset, 1.0, T0 + offset * 7_000) for offset in range(1, 8)]
    write_trade_batch(store, streamed)
    # A double count for the recompute to repair.
    store.upsert_daily_aggregates({("AAPL", DAY): replace(store.daily_aggregates_for_day(DAY)["AAPL"], trade_count=14)})
    racing = [trade(offset, 30.0 - offset, 2.0, T0 + offset * 7_000) for offset in range(8, 13)]
    interleaved = StreamWritesDuring(store, method, when, lambda: write_trade_batch(store, racing))
    recompute_day(interleaved, DAY, now_ms=T0)
    assert interleaved.fired
    assert_bars_match_trades(store, 12)
    # The stream re-delivering the racing batch (its offsets are in the bars now) counts nothing twice.
    assert write_trade_batch(store, racing).applied == 0


def assert_bars_match_trades(store, trade_count):
    """AAPL's daily and minute bars equal a fold of its stored trades, computed independently here."""
    stored_trades = store.trades_for_day("AAPL", DAY)
    assert len(stored_trades) == trade_count
    daily = store.daily_aggregates_for_day(DAY)["AAPL"]
    assert same_bar(daily, fold_trades(stored_trades, daily_key)[("AAPL", DAY)])
    assert daily.trade_count == trade_count
    minute = store.minute_bars(fold_trades(stored_trades, minute_key))
    assert_same_bars(fold_trades(stored_trades, minute_key, now_ms=0), {k: replace(v, updated_at_ms=0) for k, v in minute.items()})


def test_a_batch_the_recompute_sees_only_part_of_is_folded_in_whole_by_the_stream(store):
    # A Cassandra read can see some rows of a batch being written and not others. The stream writes
    # a batch's trades before its bars, so here the recompute has read the bars and sees two of three
    # trades of a batch; the stream finishes the batch (all trades, then the bars) afterwards.
    write_trade_batch(store, [trade(offset, 10.0 + offset, 1.0, T0 + offset * 7_000) for offset in range(1, 8)])
    store.upsert_daily_aggregates({("AAPL", DAY): replace(store.daily_aggregates_for_day(DAY)["AAPL"], trade_count=14)})
    racing = [trade(offset, 30.0 - offset, 2.0, T0 + offset * 7_000) for offset in range(8, 11)]
    interleaved = StreamWritesDuring(store, "daily_aggregates", "after", lambda: store.write_trades([racing[0], racing[2]]))
    recompute_day(interleaved, DAY, now_ms=T0)
    assert interleaved.fired
    write_trade_batch(store, racing)
    assert_bars_match_trades(store, 10)


def test_recompute_counts_trades_stored_under_another_calendars_day(store):
    late_evening_ny = 1_760_054_400_000  # 2025-10-10T00:00Z = 2025-10-09 20:00 in New York
    store.write_trades([trade(1, event_time_ms=late_evening_ny, day=date(2025, 10, 10))])
    result = recompute_day(store, date(2025, 10, 10), TradingCalendar(), now_ms=T0)
    assert (result.trades, result.misdated_trades, result.symbols) == (1, 1, ["AAPL"])
