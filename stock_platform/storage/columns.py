"""Column lists of cassandra/schema.cql shared by both backends, and BarState <-> row values."""

from __future__ import annotations

from collections.abc import Sequence

from stock_platform.processing.aggregation import NO_PARTITION, BarState
from stock_platform.storage.base import StoreError

TRADE_COLUMNS = ("symbol", "trading_day", "event_time", "trade_id", "price", "volume", "conditions",
                 "received_at", "kafka_partition", "kafka_offset")  # fmt: skip
BAR_VALUE_COLUMNS = ("open", "high", "low", "close", "volume", "notional", "vwap", "trade_count",
                     "first_trade_time", "last_trade_time", "first_trade_id", "last_trade_id",
                     "source_partition", "source_offset", "updated_at")  # fmt: skip
DAILY_KEY_COLUMNS = ("symbol", "trading_day")
MINUTE_KEY_COLUMNS = ("symbol", "trading_day", "bucket_start")
NEWS_COLUMNS = ("symbol", "published_at", "article_id", "headline", "summary", "source", "url", "image",
                "category", "related", "fetched_at")  # fmt: skip
HEALTH_COLUMNS = ("component", "day", "sampled_at", "run_id", "trades", "messages", "dead_letters",
                  "rate_per_s", "latency_p50_ms", "latency_p99_ms")  # fmt: skip
_REQUIRED_BAR_VALUES = (0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11)


def bar_values(state: BarState) -> tuple:
    """Values in BAR_VALUE_COLUMNS order (times as epoch ms)."""
    return (
        state.open, state.high, state.low, state.close, state.volume, state.notional, state.vwap,
        state.trade_count, state.first_trade_time_ms, state.last_trade_time_ms, state.first_trade_id,
        state.last_trade_id, state.source_partition, state.source_offset, state.updated_at_ms,
    )  # fmt: skip


def bar_from_values(values: Sequence, table: str, key: tuple) -> BarState:
    """A BarState from values in BAR_VALUE_COLUMNS order (times as epoch ms); NULL content is an error."""
    missing = [BAR_VALUE_COLUMNS[index] for index in _REQUIRED_BAR_VALUES if values[index] is None]
    if missing:
        raise StoreError(
            f"{table} row {key} has NULL {', '.join(missing)}; recompute its trading day "
            "(job daily_aggregates_reconcile) to rebuild it from trades"
        )
    source_partition, source_offset, updated_at = values[12], values[13], values[14]
    return BarState(
        open=values[0],
        high=values[1],
        low=values[2],
        close=values[3],
        volume=values[4],
        notional=values[5],
        trade_count=values[7],
        first_trade_time_ms=values[8],
        last_trade_time_ms=values[9],
        first_trade_id=values[10],
        last_trade_id=values[11],
        source_partition=NO_PARTITION if source_partition is None else source_partition,
        source_offset=-1 if source_offset is None else source_offset,
        updated_at_ms=0 if updated_at is None else updated_at,
    )
