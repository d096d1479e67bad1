"""Bars an engine folded per batch (Spark, in the JVM), merged into the stored bars without counting a trade twice.

A partial is the bar of one batch's trades of one key, all from one Kafka partition, with the lowest and
highest offset they came from. Against the stored bar's source offset (see `aggregation`) it is either
wholly new (merged), wholly replayed (skipped) or, when a replay overlaps it, folded again trade by trade
from the batch's rows with `apply_batch`, as are keys the engine could not fold (`refold`).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence, Set
from dataclasses import dataclass, field

from stock_platform.models import TradeRow
from stock_platform.processing.aggregation import (
    BarState,
    BatchApplication,
    DayKey,
    KeyFn,
    MinuteKey,
    apply_batch,
    merge_states,
)


@dataclass(frozen=True, slots=True)
class PartialBar:
    """The bar of one batch's trades of one key; its source offset is the highest, `first_offset` the lowest."""

    bar: BarState
    first_offset: int


@dataclass(frozen=True, slots=True)
class BatchBars:
    """A batch's partials by stored-bar key, and the keys whose bars must be folded from the rows instead."""

    daily: Mapping[DayKey, PartialBar] = field(default_factory=dict)
    minute: Mapping[MinuteKey, PartialBar] = field(default_factory=dict)
    refold_daily: Set[DayKey] = frozenset()
    refold_minute: Set[MinuteKey] = frozenset()


def merge_partials(
    existing: Mapping[Hashable, BarState],
    partials: Mapping[Hashable, PartialBar],
    refold: Set[Hashable],
    rows: Sequence[TradeRow],
    key_fn: KeyFn,
    now_ms: int,
    count_late: bool = True,
) -> BatchApplication:
    """What `apply_batch(existing, rows, key_fn)` returns, from the partials where they decide it.

    Args:
        existing: Stored bars of every key in `partials` and `refold` that has one; never modified.
        partials: The batch's bars per key; a key in `refold` must not be here.
        refold: Keys folded from `rows` trade by trade.
        rows: Every trade of the batch (those of the partials too).
        key_fn: `daily_key` or `minute_key`, matching the keys.
        now_ms: `updated_at_ms` of changed bars.
        count_late: Count trades older than their stored bar's last trade (a pass over the rows).
    """
    states: dict[Hashable, BarState] = {}
    refolded = set(refold)
    late_before: dict[Hashable, int] = {}
    applied = duplicates = 0
    for key, partial in partials.items():
        bar, stored = partial.bar, existing.get(key)
        if stored is None:
            state = bar.copy()
        elif stored.source_partition != bar.source_partition:
            # Another partition's offsets say nothing about these trades (a repartitioned topic), as in apply_batch.
            state = merge_states(stored, bar)
        elif bar.source_offset <= stored.source_offset:
            duplicates += bar.trade_count
            continue
        elif partial.first_offset > stored.source_offset:
            state = merge_states(stored, bar)
        else:
            refolded.add(key)
            continue
        if stored is not None:
            late_before[key] = stored.last_trade_time_ms
        state.updated_at_ms = now_ms
        states[key] = state
        applied += bar.trade_count
    late = 0
    refold_rows: list[TradeRow] = []
    if refolded or (count_late and late_before):
        for row in rows:
            key = key_fn(row)
            if key in refolded:
                refold_rows.append(row)
            elif count_late and row.event_time_ms < late_before.get(key, row.event_time_ms):
                late += 1
    if refold_rows:
        folded = apply_batch({key: existing[key] for key in refolded if key in existing}, refold_rows, key_fn, now_ms)
        states.update(folded.states)
        applied, duplicates, late = applied + folded.applied, duplicates + folded.duplicates, late + folded.late
    return BatchApplication(states, applied, duplicates, late)
