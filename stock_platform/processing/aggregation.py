"""OHLCV bar math by event time: fold trades into bars, merge bars, apply a batch idempotently.

Open/close and first/last trade are decided by (event_time_ms, trade_id), so the result does not depend
on the order trades arrive in. A stored bar remembers the highest Kafka offset folded into it
(`source_partition`/`source_offset`); every symbol lives in one Kafka partition, so a re-delivered
trade of that partition at or below the stored offset is recognised and skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from typing import TypeVar

from stock_platform.models import TradeRow

MINUTE_MS = 60_000
NO_PARTITION = -1
_NEVER = -(1 << 62)

K = TypeVar("K", bound=Hashable)
DayKey = tuple[str, date]
MinuteKey = tuple[str, date, int]
KeyFn = Callable[[TradeRow], K]


def daily_key(row: TradeRow) -> DayKey:
    """Key of table `daily_aggregates`: (symbol, trading_day)."""
    return (row.symbol, row.trading_day)


def minute_key(row: TradeRow) -> MinuteKey:
    """Key of table `minute_bars`: (symbol, trading_day, bucket_start_ms) of the trade's event-time minute."""
    event_time_ms = row.event_time_ms
    return (row.symbol, row.trading_day, event_time_ms - event_time_ms % MINUTE_MS)


@dataclass(slots=True)
class BarState:
    """One bar (a day or a minute) of one symbol, as stored in `daily_aggregates` / `minute_bars`."""

    open: float
    high: float
    low: float
    close: float
    volume: float
    notional: float
    trade_count: int
    first_trade_time_ms: int
    last_trade_time_ms: int
    first_trade_id: str
    last_trade_id: str
    source_partition: int = NO_PARTITION
    source_offset: int = -1
    updated_at_ms: int = 0

    @property
    def vwap(self) -> float | None:
        """Σ price×volume / Σ volume; None when every trade had zero volume (no volume to weight by).

        Finnhub sends zero-volume trades; they move open/high/low/close and the trade count but carry
        no weight, and a bar made only of them has no meaningful VWAP (the Spark reconciliation and
        the tables store NULL too).
        """
        return self.notional / self.volume if self.volume > 0 else None

    @classmethod
    def from_trade(cls, row: TradeRow, updated_at_ms: int = 0) -> BarState:
        """A bar holding exactly one trade."""
        price = row.price
        return cls(
            price, price, price, price, row.volume, price * row.volume, 1,
            row.event_time_ms, row.event_time_ms, row.trade_id, row.trade_id,
            row.kafka_partition, row.kafka_offset, updated_at_ms,
        )  # fmt: skip

    def copy(self) -> BarState:
        return replace(self)


def _first_order(state: BarState) -> tuple[int, str]:
    return (state.first_trade_time_ms, state.first_trade_id)


def _last_order(state: BarState) -> tuple[int, str]:
    return (state.last_trade_time_ms, state.last_trade_id)


def merge_states(left: BarState, right: BarState) -> BarState:
    """The bar of the union of two disjoint sets of trades (associative and commutative).

    The source offset kept is the larger (partition, offset) pair, which makes the merge order-free.
    """
    first = left if _first_order(left) <= _first_order(right) else right
    last = left if _last_order(left) >= _last_order(right) else right
    source = max((left.source_partition, left.source_offset), (right.source_partition, right.source_offset))
    return BarState(
        open=first.open,
        high=max(left.high, right.high),
        low=min(left.low, right.low),
        close=last.close,
        volume=left.volume + right.volume,
        notional=left.notional + right.notional,
        trade_count=left.trade_count + right.trade_count,
        first_trade_time_ms=first.first_trade_time_ms,
        last_trade_time_ms=last.last_trade_time_ms,
        first_trade_id=first.first_trade_id,
        last_trade_id=last.last_trade_id,
        source_partition=source[0],
        source_offset=source[1],
        updated_at_ms=max(left.updated_at_ms, right.updated_at_ms),
    )


@dataclass(frozen=True, slots=True)
class BatchApplication:
    """Bars changed by one batch, and what happened to its trades."""

    states: dict[Hashable, BarState]
    applied: int
    duplicates: int
    late: int


def apply_batch(
    existing: Mapping[K, BarState],
    rows: Iterable[TradeRow],
    key_fn: KeyFn,
    now_ms: int | None = None,
) -> BatchApplication:
    """Fold `rows` into the stored bars `existing` without counting any trade twice.

    A row is a duplicate when its trade_id already occurred in this batch, or when its bar's stored
    state came from the same Kafka partition at an offset >= the row's. All rows of one Kafka message
    must be in the same batch (engines never split a message), because they share one offset.
    A row is late when its event time is earlier than the stored bar's last trade time.
    A symbol whose trades arrive from another partition (the topic was repartitioned) cannot be
    deduplicated by offset; its rows are applied, and `recompute_day` repairs any double count.

    Args:
        existing: Stored bars by key (missing keys start empty); never modified.
        rows: Trades in any order.
        key_fn: `daily_key`, `minute_key` or any function of a row to a bar key.
        now_ms: `updated_at_ms` of changed bars (default: the wall clock).

    Returns:
        The changed bars (only keys with at least one applied trade) and the trade counts.
    """
    updated_at_ms = int(time.time() * 1000) if now_ms is None else now_ms
    # key -> (bar being built, stored partition, stored offset, stored last trade time)
    work: dict = {}
    seen_ids: set[str] = set()
    remember_id = seen_ids.add
    get_existing = existing.get
    applied = duplicates = late = 0
    # The fold is written out inline: it runs for every trade, and a method call per trade would
    # cost a third of the throughput.
    for row in rows:
        trade_id = row.trade_id
        if trade_id in seen_ids:
            duplicates += 1
            continue
        remember_id(trade_id)
        key = key_fn(row)
        entry = work.get(key)
        if entry is None:
            stored = get_existing(key)
            if stored is None:
                work[key] = (BarState.from_trade(row), NO_PARTITION, -1, _NEVER)
                applied += 1
                continue
            entry = (stored.copy(), stored.source_partition, stored.source_offset, stored.last_trade_time_ms)
            work[key] = entry
        state, stored_partition, stored_offset, stored_last_ms = entry
        partition = row.kafka_partition
        offset = row.kafka_offset
        if partition == stored_partition and offset <= stored_offset:
            duplicates += 1
            continue
        applied += 1
        price = row.price
        volume = row.volume
        event_time_ms = row.event_time_ms
        if event_time_ms < stored_last_ms:
            late += 1
        if price > state.high:
            state.high = price
        elif price < state.low:
            state.low = price
        state.volume += volume
        state.notional += price * volume
        state.trade_count += 1
        first_ms = state.first_trade_time_ms
        if event_time_ms < first_ms or (event_time_ms == first_ms and trade_id < state.first_trade_id):
            state.first_trade_time_ms = event_time_ms
            state.first_trade_id = trade_id
            state.open = price
        last_ms = state.last_trade_time_ms
        if event_time_ms > last_ms or (event_time_ms == last_ms and trade_id > state.last_trade_id):
            state.last_trade_time_ms = event_time_ms
            state.last_trade_id = trade_id
            state.close = price
        if partition == state.source_partition:
            if offset > state.source_offset:
                state.source_offset = offset
        elif partition > state.source_partition:
            state.source_partition = partition
            state.source_offset = offset
    states = {}
    for key, (state, _, _, _) in work.items():
        stored = get_existing(key)
        if stored is None or state.trade_count != stored.trade_count:
            state.updated_at_ms = updated_at_ms
            states[key] = state
    return BatchApplication(states, applied, duplicates, late)


def fold_trades(rows: Iterable[TradeRow], key_fn: KeyFn, now_ms: int | None = None) -> dict[Hashable, BarState]:
    """Bars of `rows` from scratch (repeated trade ids counted once), e.g. to recompute a day."""
    return apply_batch({}, rows, key_fn, now_ms).states
