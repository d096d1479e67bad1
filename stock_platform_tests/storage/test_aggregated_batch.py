import random
from dataclasses import replace

import pytest

from stock_platform.processing.aggregation import daily_key, fold_trades, minute_key
from stock_platform.processing.partial_bars import BatchBars, PartialBar
from stock_platform.storage.aggregated_batch import write_aggregated_batch
from stock_platform.storage.batch import BatchResult, write_trade_batch
from stock_platform_tests.storage.bar_checks import assert_same_bars, deliveries
from stock_platform_tests.storage.conftest import DAY, T0, trade
from stock_platform_tests.storage.test_batch import _stream


def _bars(rows) -> BatchBars:
    """The partials Spark computes for a batch: one per key and partition (a key in two partitions is refolded)."""
    partials, refold = {}, {}
    for key_fn, kind in ((daily_key, "daily"), (minute_key, "minute")):
        by_key: dict = {}
        for row in rows:
            by_key.setdefault(key_fn(row), {}).setdefault(row.kafka_partition, []).append(row)
        partials[kind] = {
            key: PartialBar(fold_trades(trades, key_fn, 0)[key], min(row.kafka_offset for row in trades))
            for key, per_partition in by_key.items()
            if len(per_partition) == 1
            for trades in per_partition.values()
        }
        refold[kind] = frozenset(key for key, per_partition in by_key.items() if len(per_partition) > 1)
    return BatchBars(partials["daily"], partials["minute"], refold["daily"], refold["minute"])


def test_a_batch_with_partials_writes_what_folding_its_trades_writes(store):
    rows = [trade(5, 10.0, 1.0, T0 + 61_000), trade(6, 12.0, 3.0, T0), trade(9, 1.0, 1.0, T0 + 5, symbol="MSFT", partition=2)]

    result = write_aggregated_batch(store, rows, _bars(rows), now_ms=T0 + 1)

    assert result == BatchResult(
        rows_written=3, daily_updated=2, minute_bars_updated=3, applied=3, duplicates=0, late=0,
        first_event_time_ms=T0, last_event_time_ms=T0 + 61_000, offset_ranges={0: (5, 6), 2: (9, 9)},
    )  # fmt: skip
    daily = store.daily_aggregates([("AAPL", DAY)])[("AAPL", DAY)]
    assert (daily.open, daily.close, daily.volume, daily.source_offset, daily.updated_at_ms) == (12.0, 10.0, 4.0, 6, T0 + 1)


def test_a_replayed_batch_with_partials_counts_nothing_twice(store):
    rows = [trade(offset, 10.0 + offset, 1.0, T0 + offset * 1000) for offset in range(1, 6)]
    write_aggregated_batch(store, rows, _bars(rows))
    before = (store.daily_aggregates_for_day(DAY), store.minute_bars_for_day("AAPL", DAY))

    replay = write_aggregated_batch(store, rows, _bars(rows))

    assert (replay.rows_written, replay.applied, replay.duplicates, replay.aggregates_updated) == (5, 0, 5, 0)
    assert (store.daily_aggregates_for_day(DAY), store.minute_bars_for_day("AAPL", DAY)) == before


@pytest.mark.parametrize("seed", range(3))
def test_redelivered_batches_with_partials_match_one_fold(store, seed):
    rng = random.Random(seed)
    rows = _stream(rng)
    results = [write_aggregated_batch(store, batch, _bars(batch)) for batch in deliveries(rng, rows)]

    days = sorted({row.trading_day for row in rows})
    daily = {(symbol, day): bar for day in days for symbol, bar in store.daily_aggregates_for_day(day).items()}
    assert_same_bars(fold_trades(rows, daily_key, now_ms=0), {k: replace(v, updated_at_ms=0) for k, v in daily.items()})
    minute = store.minute_bars(fold_trades(rows, minute_key))
    assert_same_bars(fold_trades(rows, minute_key, now_ms=0), {k: replace(v, updated_at_ms=0) for k, v in minute.items()})
    assert sum(result.applied for result in results) == len(rows)


def test_an_empty_batch_with_partials_writes_nothing():
    assert write_aggregated_batch(None, [], BatchBars()) == write_trade_batch(None, []) == BatchResult()
