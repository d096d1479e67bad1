"""Backend-independent writers: one stream batch (trades + bars), and a day recomputed from `trades`."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from stock_platform.core.aggregation import MINUTE_MS, BarState, apply_batch, daily_key, fold_trades, minute_key
from stock_platform.core.models import TradeRow
from stock_platform.core.trading_day import TradingCalendar
from stock_platform.storage.base import MarketStore

_COMPARED_FIELDS = ("open", "high", "low", "close", "volume", "notional", "trade_count",
                    "first_trade_time_ms", "last_trade_time_ms", "first_trade_id", "last_trade_id")  # fmt: skip


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What one `write_trade_batch` call wrote (the audit figures of a micro-batch)."""

    rows_written: int = 0
    daily_updated: int = 0
    minute_bars_updated: int = 0
    applied: int = 0
    duplicates: int = 0
    late: int = 0
    first_event_time_ms: int | None = None
    last_event_time_ms: int | None = None
    offset_ranges: dict[int, tuple[int, int]] = field(default_factory=dict)

    @property
    def aggregates_updated(self) -> int:
        return self.daily_updated + self.minute_bars_updated


def offset_ranges(rows: Sequence[TradeRow]) -> dict[int, tuple[int, int]]:
    """(lowest, highest) Kafka offset per partition."""
    ranges: dict[int, tuple[int, int]] = {}
    for row in rows:
        offset = row.kafka_offset
        span = ranges.get(row.kafka_partition)
        if span is None:
            ranges[row.kafka_partition] = (offset, offset)
        elif offset < span[0]:
            ranges[row.kafka_partition] = (offset, span[1])
        elif offset > span[1]:
            ranges[row.kafka_partition] = (span[0], offset)
    return ranges


def write_trade_batch(store: MarketStore, rows: Sequence[TradeRow], now_ms: int | None = None) -> BatchResult:
    """Write trades, then fold them into the stored daily and minute bars; safe to repeat.

    Trades are written first: if the bars fail, a replay of the batch rewrites the same trade rows and
    applies the bars then. Duplicates and late counts are those of the daily bars.
    """
    if not rows:
        return BatchResult()
    updated_at_ms = int(time.time() * 1000) if now_ms is None else now_ms
    with store.atomic_batch():
        written = store.write_trades(rows)
        daily = apply_batch(store.daily_aggregates({daily_key(row) for row in rows}), rows, daily_key, updated_at_ms)
        minute = apply_batch(store.minute_bars({minute_key(row) for row in rows}), rows, minute_key, updated_at_ms)
        store.upsert_daily_aggregates(daily.states)
        store.upsert_minute_bars(minute.states)
    return BatchResult(
        rows_written=written,
        daily_updated=len(daily.states),
        minute_bars_updated=len(minute.states),
        applied=daily.applied,
        duplicates=daily.duplicates,
        late=daily.late,
        first_event_time_ms=min(row.event_time_ms for row in rows),
        last_event_time_ms=max(row.event_time_ms for row in rows),
        offset_ranges=offset_ranges(rows),
    )


def _symbol(row: TradeRow) -> str:
    return row.symbol


def _bucket_start(row: TradeRow) -> int:
    return row.event_time_ms - row.event_time_ms % MINUTE_MS


def same_bar(left: BarState, right: BarState, rel_tol: float = 1e-9) -> bool:
    """Equal trade content (floats within `rel_tol`), ignoring offsets and update time."""
    for name in _COMPARED_FIELDS:
        a, b = getattr(left, name), getattr(right, name)
        if isinstance(a, float) or isinstance(b, float):
            if not math.isclose(a, b, rel_tol=rel_tol, abs_tol=1e-9):
                return False
        elif a != b:
            return False
    return True


@dataclass(frozen=True, slots=True)
class RecomputeResult:
    """What recomputing one trading day from `trades` changed."""

    day: date
    symbols: list[str]
    trades: int
    daily_rows: int
    minute_rows: int
    changed_symbols: list[str]
    expired_symbols: list[str]
    misdated_trades: int


def recompute_day(
    store: MarketStore, day: date, calendar: TradingCalendar | None = None, now_ms: int | None = None
) -> RecomputeResult:
    """Rebuild `day`'s daily aggregates and minute bars from its trades (backfill / reconciliation).

    Only bars of trades still stored are rewritten. Bars without trades are kept: trades expire
    (TTL) long before the aggregates, so a missing trade means "expired", never "did not happen"
    (deleting them would erase every day older than the trades' TTL). With a `calendar`, trades whose
    trading day under it is not `day` are counted as misdated (they stay in the day they were stored under).

    Returns:
        Symbols recomputed, trades read, rows written, the symbols whose stored daily bar differed,
        the symbols whose trades expired (aggregates kept) and the misdated trade count.
    """
    updated_at_ms = int(time.time() * 1000) if now_ms is None else now_ms
    previous = store.daily_aggregates_for_day(day)
    daily: dict[str, BarState] = {}
    trades = minute_rows = misdated = 0
    for symbol in store.symbols_for_day(day):
        rows = store.trades_for_day(symbol, day)
        trades += len(rows)
        if calendar is not None:
            misdated += sum(1 for row in rows if calendar.trading_day(row.symbol, row.event_time_ms) != day)
        minute_bars = fold_trades(rows, _bucket_start, updated_at_ms)
        minute_rows += store.upsert_minute_bars({(symbol, day, bucket): bar for bucket, bar in minute_bars.items()})
        daily.update(fold_trades(rows, _symbol, updated_at_ms))
    daily_rows = store.upsert_daily_aggregates({(symbol, day): bar for symbol, bar in daily.items()})
    changed = sorted(
        symbol for symbol, bar in daily.items() if symbol not in previous or not same_bar(previous[symbol], bar)
    )
    return RecomputeResult(
        day=day,
        symbols=sorted(daily),
        trades=trades,
        daily_rows=daily_rows,
        minute_rows=minute_rows,
        changed_symbols=changed,
        expired_symbols=sorted(set(previous) - set(daily)),
        misdated_trades=misdated,
    )
