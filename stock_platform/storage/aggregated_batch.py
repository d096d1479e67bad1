"""The batch writer for engines that fold bars themselves: trades written, the engine's partial bars merged."""

from __future__ import annotations

import time
from collections.abc import Sequence

from stock_platform.models import TradeRow
from stock_platform.processing.aggregation import daily_key, minute_key
from stock_platform.processing.partial_bars import BatchBars, merge_partials
from stock_platform.storage.base import MarketStore
from stock_platform.storage.batch import BatchResult, batch_result


def write_aggregated_batch(store: MarketStore, rows: Sequence[TradeRow], bars: BatchBars, now_ms: int | None = None) -> BatchResult:
    """`write_trade_batch` with the batch's bars already folded per key (`bars`); the same tables, safe to repeat.

    Trades are written first, so a replay after the bars failed rewrites them and merges the bars then.
    """
    if not rows:
        return BatchResult()
    updated_at_ms = int(time.time() * 1000) if now_ms is None else now_ms
    with store.atomic_batch():
        written = store.write_trades(rows)
        stored_daily = store.daily_aggregates(set(bars.daily) | set(bars.refold_daily))
        daily = merge_partials(stored_daily, bars.daily, bars.refold_daily, rows, daily_key, updated_at_ms)
        stored_minutes = store.minute_bars(set(bars.minute) | set(bars.refold_minute))
        minute = merge_partials(stored_minutes, bars.minute, bars.refold_minute, rows, minute_key, updated_at_ms, count_late=False)
        store.upsert_daily_aggregates(daily.states)
        store.upsert_minute_bars(minute.states)
    return batch_result(rows, written, daily, minute)
