"""Batch recomputation of daily aggregates and minute bars from trades with Spark, and their comparison.

The stream keeps the tables current incrementally; this is the independent from-scratch computation
used by the `daily_aggregates_reconcile` job (backfill and reconciliation) and the consistency check.
Open/close and first/last are by event time, ties broken by trade id, exactly as the stream does.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from stock_platform.models import TradeRow
from stock_platform.processing.aggregation import BarState
from stock_platform.storage.base import MarketStore
from stock_platform.storage.batch import write_recomputed

TRADE_COLUMNS = (
    "symbol string, trading_day date, event_time_ms long, trade_id string, price double, volume double, "
    "kafka_partition int, kafka_offset long"
)
MINUTE_MS = 60_000
AGGREGATE_FIELDS = (
    "open", "high", "low", "close", "volume", "notional", "vwap", "trade_count",
    "first_trade_time_ms", "last_trade_time_ms", "first_trade_id", "last_trade_id",
)  # fmt: skip
_FLOAT_FIELDS = {"open", "high", "low", "close", "volume", "notional", "vwap"}


def trades_frame(spark: SparkSession, rows: Iterable[TradeRow]) -> DataFrame:
    """A DataFrame of the columns the aggregation needs."""
    return spark.createDataFrame(
        [
            (row.symbol, row.trading_day, row.event_time_ms, row.trade_id, row.price, row.volume, row.kafka_partition, row.kafka_offset)
            for row in rows
        ],
        TRADE_COLUMNS,
    )


def _aggregate(trades: DataFrame, keys: list[Any]) -> DataFrame:
    order = F.struct("event_time_ms", "trade_id")
    notional = F.sum(F.col("price") * F.col("volume"))
    volume = F.sum("volume")
    return trades.groupBy(*keys).agg(
        F.min_by("price", order).alias("open"),
        F.max("price").alias("high"),
        F.min("price").alias("low"),
        F.max_by("price", order).alias("close"),
        volume.alias("volume"),
        notional.alias("notional"),
        F.when(volume > 0, notional / volume).alias("vwap"),
        F.count(F.lit(1)).alias("trade_count"),
        F.min("event_time_ms").alias("first_trade_time_ms"),
        F.max("event_time_ms").alias("last_trade_time_ms"),
        F.min_by("trade_id", order).alias("first_trade_id"),
        F.max_by("trade_id", order).alias("last_trade_id"),
        # The highest Kafka position folded in, which the stream's offset guard continues from.
        F.max(F.struct("kafka_partition", "kafka_offset")).alias("source"),
    )


def daily_aggregates(trades: DataFrame) -> DataFrame:
    """One row per (symbol, trading_day)."""
    return _aggregate(trades, ["symbol", "trading_day"])


def minute_bars(trades: DataFrame) -> DataFrame:
    """One row per (symbol, trading_day, bucket_start_ms) of one-minute event-time buckets."""
    bucketed = trades.withColumn("bucket_start_ms", F.floor(F.col("event_time_ms") / MINUTE_MS) * MINUTE_MS)
    return _aggregate(bucketed, ["symbol", "trading_day", "bucket_start_ms"])


def keyed(frame: DataFrame, key_columns: tuple[str, ...]) -> dict[tuple, dict[str, Any]]:
    """Collect an aggregate frame as {key tuple: {field: value}}."""
    return {tuple(row[column] for column in key_columns): {field: row[field] for field in AGGREGATE_FIELDS} for row in frame.collect()}


def bar_states(frame: DataFrame, key_columns: tuple[str, ...], updated_at_ms: int) -> dict[tuple, BarState]:
    """Collect an aggregate frame as stored bars keyed by `key_columns`."""
    return {
        tuple(row[column] for column in key_columns): BarState(
            open=row["open"], high=row["high"], low=row["low"], close=row["close"], volume=row["volume"],
            notional=row["notional"], trade_count=row["trade_count"], first_trade_time_ms=row["first_trade_time_ms"],
            last_trade_time_ms=row["last_trade_time_ms"], first_trade_id=row["first_trade_id"],
            last_trade_id=row["last_trade_id"], source_partition=row["source"]["kafka_partition"],
            source_offset=row["source"]["kafka_offset"], updated_at_ms=updated_at_ms,
        )  # fmt: skip
        for row in frame.collect()
    }


def bar_fields(state: BarState) -> dict[str, Any]:
    """The compared fields of a stored bar, in the shape `differences` takes."""
    return {field: getattr(state, field) for field in AGGREGATE_FIELDS}


def _same(field: str, expected: Any, actual: Any, rel_tol: float) -> bool:
    if field in _FLOAT_FIELDS and expected is not None and actual is not None:
        return math.isclose(float(expected), float(actual), rel_tol=rel_tol, abs_tol=1e-9)
    return expected == actual


def differences(
    expected: Mapping[tuple, Mapping[str, Any]], actual: Mapping[tuple, Mapping[str, Any]], rel_tol: float = 1e-9
) -> list[str]:
    """One line per missing, extra or differing aggregate row (floats compared with `rel_tol`)."""
    problems = [f"{key}: missing" for key in sorted(set(expected) - set(actual), key=str)]
    problems += [f"{key}: has no trades" for key in sorted(set(actual) - set(expected), key=str)]
    for key in sorted(set(expected) & set(actual), key=str):
        for field in AGGREGATE_FIELDS:
            want, got = expected[key].get(field), actual[key].get(field)
            if not _same(field, want, got, rel_tol):
                problems.append(f"{key}: {field} is {got!r}, trades give {want!r}")
    return problems


def reconcile_day(spark: SparkSession, store: MarketStore, day: date, now_ms: int | None = None) -> dict[str, int]:
    """Recompute `day`'s daily aggregates and minute bars from its trades with Spark and write those that differ.

    Trades the stream stores meanwhile are folded in before writing (`write_recomputed` says how and
    why). Bars of symbols (or minutes) without trades are kept, and all bars of a symbol whose trades
    expired in part: trades expire (TTL) long before the aggregates, so a backfill over old partitions
    must not erase or shrink them.

    Returns:
        Counts for the audit trail: trades read, symbols, rows written, symbols whose stored daily
        row differed from its trades, and symbols whose trades expired in whole or part (their aggregates kept).
    """
    updated_at_ms = int(time.time() * 1000) if now_ms is None else now_ms
    previous = store.daily_aggregates_for_day(day)
    trades = {symbol: store.trades_for_day(symbol, day) for symbol in store.symbols_for_day(day)}
    rows = [row for symbol_rows in trades.values() for row in symbol_rows]
    frame = trades_frame(spark, rows).cache()
    try:
        daily = {key[0]: state for key, state in bar_states(daily_aggregates(frame), ("symbol",), updated_at_ms).items()}
        minutes: dict[str, dict[int, BarState]] = {symbol: {} for symbol in daily}
        for (symbol, bucket_start_ms), state in bar_states(minute_bars(frame), ("symbol", "bucket_start_ms"), updated_at_ms).items():
            minutes[symbol][bucket_start_ms] = state
    finally:
        frame.unpersist()
    daily_rows = minute_rows = 0
    recomputed = []
    for symbol, state in daily.items():
        read_ids = {row.trade_id for row in trades[symbol]}
        written = write_recomputed(store, symbol, day, state, minutes[symbol], read_ids, updated_at_ms)
        if written is None:
            continue
        recomputed.append(symbol)
        daily_rows += written[0]
        minute_rows += written[1]
    changed = [
        symbol for symbol in recomputed
        if symbol not in previous or differences({(symbol,): bar_fields(daily[symbol])}, {(symbol,): bar_fields(previous[symbol])})
    ]  # fmt: skip
    return {
        "trades": len(rows),
        "symbols": len(recomputed),
        "daily_rows": daily_rows,
        "minute_rows": minute_rows,
        "changed_symbols": len(changed),
        "trades_expired_aggregates_kept": len(set(previous) - set(recomputed)),
    }
