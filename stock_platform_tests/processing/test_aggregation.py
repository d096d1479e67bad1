"""Bar math: event-time open/close with trade-id ties, idempotent batches, late trades, merging."""

import random
from dataclasses import asdict
from datetime import date
from functools import reduce

import pytest

from stock_platform.models import TradeRow, make_trade_id
from stock_platform.processing.aggregation import (
    BarState,
    apply_batch,
    daily_key,
    fold_trades,
    merge_states,
    minute_key,
)
from stock_platform_tests.storage.bar_checks import assert_same_bars, deliveries

DAY = date(2025, 10, 9)
T0 = 1_760_000_000_000  # 2025-10-09T08:53:20Z


def trade(offset, price, volume, event_time_ms, symbol="AAPL", partition=0, position=0, day=DAY):
    return TradeRow(
        symbol=symbol, trading_day=day, event_time_ms=event_time_ms,
        trade_id=make_trade_id("market", partition, offset, position), price=price, volume=volume,
        conditions=None, received_at_ms=event_time_ms + 5, kafka_partition=partition, kafka_offset=offset,
    )  # fmt: skip


def bar_of(rows, key=daily_key):
    return apply_batch({}, rows, key, now_ms=1).states


def test_out_of_order_trades_fold_by_event_time():
    rows = [trade(1, 101.0, 2, T0 + 300), trade(2, 99.0, 1, T0 + 100), trade(3, 103.0, 3, T0 + 500), trade(4, 100.0, 4, T0 + 200)]
    [(key, bar)] = bar_of(rows).items()
    assert key == ("AAPL", DAY)
    assert (bar.open, bar.high, bar.low, bar.close) == (99.0, 103.0, 99.0, 103.0)
    assert (bar.volume, bar.notional, bar.trade_count) == (10, 101 * 2 + 99 + 103 * 3 + 400, 4)
    assert bar.vwap == pytest.approx((101 * 2 + 99 + 103 * 3 + 400) / 10)
    assert (bar.first_trade_time_ms, bar.last_trade_time_ms) == (T0 + 100, T0 + 500)
    assert (bar.first_trade_id, bar.last_trade_id) == (rows[1].trade_id, rows[2].trade_id)
    assert (bar.source_partition, bar.source_offset, bar.updated_at_ms) == (0, 4, 1)


def test_trades_in_the_same_millisecond_are_ordered_by_trade_id():
    rows = [trade(7, 10.0, 1, T0, position=1), trade(7, 11.0, 1, T0, position=0), trade(7, 12.0, 1, T0, position=2)]
    for order in (rows, rows[::-1]):
        [bar] = bar_of(order).values()
        assert (bar.open, bar.close) == (11.0, 12.0)
        assert (bar.first_trade_id, bar.last_trade_id) == (rows[1].trade_id, rows[2].trade_id)


def test_vwap_is_none_without_volume_but_prices_still_count():
    [bar] = bar_of([trade(1, 10.0, 0.0, T0), trade(2, 12.0, 0.0, T0 + 1)]).values()
    assert bar.vwap is None
    assert (bar.open, bar.close, bar.high, bar.trade_count) == (10.0, 12.0, 12.0, 2)


def test_repeated_trade_ids_in_one_batch_count_once():
    first = trade(1, 10.0, 1, T0)
    result = apply_batch({}, [first, trade(2, 11.0, 1, T0 + 1), first], daily_key)
    assert (result.applied, result.duplicates) == (2, 1)
    assert result.states[("AAPL", DAY)].trade_count == 2


def test_redelivered_offsets_are_skipped_and_new_ones_applied():
    batch = [trade(10, 10.0, 1, T0), trade(11, 12.0, 1, T0 + 10)]
    stored = apply_batch({}, batch, daily_key).states
    replay = apply_batch(stored, batch + [trade(12, 9.0, 2, T0 + 5)], daily_key)
    assert (replay.applied, replay.duplicates, replay.late) == (1, 2, 1)
    bar = replay.states[("AAPL", DAY)]
    assert (bar.trade_count, bar.volume, bar.low, bar.close, bar.source_offset) == (3, 4, 9.0, 12.0, 12)


def test_existing_states_are_not_modified_and_unchanged_bars_not_returned():
    stored = apply_batch({}, [trade(5, 10.0, 1, T0)], daily_key).states
    before = asdict(stored[("AAPL", DAY)])
    result = apply_batch(stored, [trade(5, 10.0, 1, T0), trade(4, 10.0, 1, T0)], daily_key)
    assert (result.states, result.applied, result.duplicates) == ({}, 0, 2)
    apply_batch(stored, [trade(6, 50.0, 1, T0 - 1)], daily_key)
    assert asdict(stored[("AAPL", DAY)]) == before


def test_late_trade_moves_the_open_and_is_counted():
    stored = apply_batch({}, [trade(1, 10.0, 1, T0 + 1000)], daily_key).states
    result = apply_batch(stored, [trade(2, 8.0, 1, T0), trade(3, 9.0, 1, T0 + 2000)], daily_key)
    bar = result.states[("AAPL", DAY)]
    assert (result.late, bar.open, bar.close, bar.first_trade_time_ms) == (1, 8.0, 9.0, T0)


def test_a_symbol_moved_to_another_partition_is_applied_not_dropped():
    stored = apply_batch({}, [trade(100, 10.0, 1, T0, partition=1)], daily_key).states
    result = apply_batch(stored, [trade(5, 11.0, 1, T0 + 1, partition=3)], daily_key)
    bar = result.states[("AAPL", DAY)]
    assert (result.applied, bar.trade_count, bar.source_partition, bar.source_offset) == (1, 2, 3, 5)


@pytest.mark.parametrize(
    ("event_time_ms", "bucket"),
    [(T0 - T0 % 60_000, T0 - T0 % 60_000), (T0 - T0 % 60_000 + 59_999, T0 - T0 % 60_000), (T0 - T0 % 60_000 + 60_000, T0 - T0 % 60_000 + 60_000)],
)
def test_minute_bars_bucket_by_event_time_minute(event_time_ms, bucket):
    assert minute_key(trade(1, 1.0, 1, event_time_ms)) == ("AAPL", DAY, bucket)


def test_bars_are_kept_per_symbol_and_trading_day():
    rows = [trade(1, 1.0, 1, T0), trade(2, 2.0, 1, T0 + 1, symbol="MSFT"), trade(3, 3.0, 1, T0 + 2, day=date(2025, 10, 10))]
    assert set(bar_of(rows)) == {("AAPL", DAY), ("MSFT", DAY), ("AAPL", date(2025, 10, 10))}
    assert len(bar_of(rows, minute_key)) == 3


def _random_trades(rng, count, partitions=(0, 1)):
    symbols = {"AAPL": partitions[0], "MSFT": partitions[-1], "NVDA": partitions[0]}
    rows, offsets = [], {partition: 0 for partition in partitions}
    while len(rows) < count:
        symbol = rng.choice(sorted(symbols))
        partition = symbols[symbol]
        offsets[partition] += 1
        for position in range(rng.randint(1, 4)):
            event_time_ms = T0 + rng.randrange(0, 180_000, 7)  # coarse grid: many shared milliseconds
            price = round(rng.uniform(90, 110), 2)
            rows.append(trade(offsets[partition], price, float(rng.randint(0, 5)), event_time_ms, symbol, partition, position))
    return rows


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("key_fn", [daily_key, minute_key])
def test_redelivered_shuffled_batches_give_the_same_bars_as_one_fold(seed, key_fn):
    rng = random.Random(seed)
    rows = _random_trades(rng, 400)
    expected = fold_trades(rows, key_fn, now_ms=1)
    stored, duplicates = {}, 0
    for batch in deliveries(rng, rows):
        result = apply_batch(stored, batch, key_fn, now_ms=1)
        stored.update(result.states)
        duplicates += result.duplicates
    assert duplicates > 0
    assert_same_bars(expected, stored)


@pytest.mark.parametrize("seed", range(5))
def test_merge_is_associative_and_commutative(seed):
    rng = random.Random(seed)
    rows = [row for row in _random_trades(rng, 120) if row.symbol == "AAPL"]
    rng.shuffle(rows)
    cuts = sorted(rng.sample(range(1, len(rows)), 3))
    parts = [rows[a:b] for a, b in zip([0, *cuts], [*cuts, len(rows)])]
    partials = [bar_of(part)[("AAPL", DAY)] for part in parts]
    expected = bar_of(rows)
    assert_same_bars(expected, {("AAPL", DAY): reduce(merge_states, partials)})
    rng.shuffle(partials)
    assert_same_bars(expected, {("AAPL", DAY): reduce(merge_states, partials[::-1])})
    left = merge_states(merge_states(partials[0], partials[1]), partials[2])
    right = merge_states(partials[0], merge_states(partials[1], partials[2]))
    assert_same_bars({0: left}, {0: right})


def test_from_trade_and_copy_are_independent_bars():
    bar = BarState.from_trade(trade(3, 5.0, 2, T0), updated_at_ms=9)
    copy = bar.copy()
    copy.high = 99.0
    assert (bar.high, bar.notional, bar.source_offset, bar.updated_at_ms) == (5.0, 10.0, 3, 9)
