import random
from datetime import date

import pytest

from stock_platform.models import TradeRow, make_trade_id
from stock_platform.processing.aggregation import apply_batch, daily_key, fold_trades, minute_key
from stock_platform.processing.partial_bars import PartialBar, merge_partials

DAY = date(2026, 11, 30)
T0 = 1_796_040_000_000


def _rows(rng: random.Random, partitions: tuple[int, ...], first_offset: int, messages: int) -> list[TradeRow]:
    rows = []
    for offset in range(first_offset, first_offset + messages):
        partition = rng.choice(partitions)
        symbol = rng.choice(("AAPL", "MSFT"))
        for position in range(rng.randint(1, 3)):
            rows.append(
                TradeRow(symbol, DAY, T0 + rng.randint(0, 180_000), make_trade_id("market", partition, offset, position),
                         float(rng.randint(1, 9)), float(rng.randint(0, 4)), None, T0, partition, offset)
            )  # fmt: skip
    return rows


def _partials(rows: list[TradeRow], key_fn) -> tuple[dict, set]:
    """What Spark sends: one partial per key and partition; a key seen in two partitions is refolded."""
    by_key: dict = {}
    for row in rows:
        by_key.setdefault(key_fn(row), {}).setdefault(row.kafka_partition, []).append(row)
    partials, refold = {}, set()
    for key, per_partition in by_key.items():
        if len(per_partition) > 1:
            refold.add(key)
            continue
        (trades,) = per_partition.values()
        partials[key] = PartialBar(fold_trades(trades, key_fn, 0)[key], min(row.kafka_offset for row in trades))
    return partials, refold


def _same(left, right) -> bool:
    return left.keys() == right.keys() and all(
        (a.trade_count, a.volume, a.open, a.close, a.high, a.low, a.first_trade_id, a.last_trade_id, a.source_partition, a.source_offset)
        == (b.trade_count, b.volume, b.open, b.close, b.high, b.low, b.first_trade_id, b.last_trade_id, b.source_partition, b.source_offset)
        for key in left
        for a, b in [(left[key], right[key])]
    )


@pytest.mark.parametrize("seed", range(60))
@pytest.mark.parametrize("key_fn", [daily_key, minute_key], ids=["daily", "minute"])
def test_merging_partials_gives_what_folding_every_trade_gives(seed, key_fn):
    rng = random.Random(seed)
    partitions = (0,) if seed % 3 else (0, 1)  # every third case: a symbol in two partitions (a repartitioned topic)
    history = _rows(rng, partitions, 0, 20)
    # The stored bars hold a prefix of the stream; the batch starts before, at or after its end (a replay overlaps it).
    stored_upto = rng.randint(0, 20)
    existing = fold_trades([row for row in history if row.kafka_offset < stored_upto], key_fn, 0)
    batch_start = rng.choice((0, stored_upto // 2, stored_upto, stored_upto))
    batch = [row for row in history if row.kafka_offset >= batch_start] + _rows(rng, partitions, 20, rng.randint(0, 5))
    partials, refold = _partials(batch, key_fn)

    merged = merge_partials(existing, partials, refold, batch, key_fn, 5)
    folded = apply_batch(existing, batch, key_fn, 5)

    assert _same(merged.states, folded.states)
    assert (merged.applied, merged.duplicates, merged.late) == (folded.applied, folded.duplicates, folded.late)


def test_a_replayed_batch_changes_nothing_and_counts_every_trade_as_duplicate():
    batch = _rows(random.Random(1), (0,), 0, 10)
    partials, refold = _partials(batch, daily_key)
    stored = merge_partials({}, partials, refold, batch, daily_key, 5).states

    replayed = merge_partials(stored, partials, refold, batch, daily_key, 6)

    assert (replayed.states, replayed.applied, replayed.duplicates) == ({}, 0, len(batch))


def test_late_trades_are_not_counted_when_not_asked_for():
    history = _rows(random.Random(2), (0,), 0, 10)
    existing = fold_trades(history[: len(history) // 2], minute_key, 0)
    batch = [row for row in history if row.kafka_offset > max(bar.source_offset for bar in existing.values())]
    partials, refold = _partials(batch, minute_key)

    assert merge_partials(existing, partials, refold, batch, minute_key, 5, count_late=False).late == 0


def test_trades_from_another_partition_than_the_stored_bar_are_applied_whatever_their_offsets():
    rng = random.Random(3)
    existing = fold_trades(_rows(rng, (1,), 40, 10), daily_key, 0)
    batch = _rows(rng, (0,), 0, 10)
    partials, refold = _partials(batch, daily_key)

    merged = merge_partials(existing, partials, refold, batch, daily_key, 5)

    assert _same(merged.states, apply_batch(existing, batch, daily_key, 5).states)
    assert (merged.applied, merged.duplicates) == (len(batch), 0)
