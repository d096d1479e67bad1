"""A Spark micro-batch on the driver: the JVM's rows and bar partials (`spark_sql`), and the messages left to Python.

The JVM decodes, checks, assigns ids and trading days and folds bar partials; the driver turns the one
collected Arrow table into trade rows and partials to merge (`partial_bars`), and decodes the messages the
JVM did not take with the light engine's TradeDecoder, which words their dead letters. Bars of keys with
such messages are folded from the rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame

from stock_platform.ingest.validation import TradeLimits, TradeValidator
from stock_platform.models import TradeRow, new_trade_row
from stock_platform.processing.aggregation import BarState, daily_key, minute_key
from stock_platform.processing.jvm_kafka import RAW_COLUMNS, CollectedBatch, decode_raw_batch
from stock_platform.processing.partial_bars import BatchBars, PartialBar
from stock_platform.processing.spark_sql import (
    BAR_COLUMNS,
    DAILY,
    EMPTY,
    MINUTE,
    PYTHON,
    TRADE,
    TRADE_COLUMNS,
    MicroBatchSql,
)
from stock_platform.processing.trade_decoding import TradeDecoder
from stock_platform.processing.trading_day import TradingCalendar


@dataclass(slots=True)
class JvmBatch:
    """One micro-batch on the driver: every row to write, the JVM's bar partials, and what Python decoded."""

    collected: CollectedBatch
    bars: BatchBars


def _trade_rows(table: pa.Table) -> list[TradeRow]:
    columns = [table.column(name).to_pylist() for name in TRADE_COLUMNS]
    columns[6] = [tuple(conditions) if conditions is not None else None for conditions in columns[6]]
    return list(map(new_trade_row, zip(*columns)))


def _partials(table: pa.Table) -> Iterator[tuple[tuple, PartialBar]]:
    columns = [table.column(name).to_pylist() for name in ("symbol", "trading_day", "bucket_start", "first_offset", *BAR_COLUMNS)]
    for symbol, day, bucket, first_offset, *values in zip(*columns):
        key: tuple[str, date] | tuple[str, date, int] = (symbol, day) if bucket is None else (symbol, day, bucket)
        yield key, PartialBar(BarState(*values), first_offset)


def _bars(partials: pa.Table, python_rows: list[TradeRow]) -> BatchBars:
    """The partials by key; a key with partials from two partitions, or with rows Python decoded, is folded from rows."""
    daily: dict = {}
    minute: dict = {}
    refold_daily = {daily_key(row) for row in python_rows}
    refold_minute = {minute_key(row) for row in python_rows}
    for key, partial in _partials(partials):
        into, refold = (daily, refold_daily) if len(key) == 2 else (minute, refold_minute)
        if key in into:
            refold.add(key)
        into[key] = partial
    for into, refold in ((daily, refold_daily), (minute, refold_minute)):
        for key in refold:
            into.pop(key, None)
    return BatchBars(daily, minute, frozenset(refold_daily), frozenset(refold_minute))


def _offset_ranges(messages: pa.Table) -> dict[int, tuple[int, int]]:
    spans = messages.group_by("partition").aggregate([("offset", "min"), ("offset", "max")])
    return dict(zip(spans["partition"].to_pylist(), zip(spans["offset_min"].to_pylist(), spans["offset_max"].to_pylist())))


def _of_kind(table: pa.Table, *kinds: str) -> pa.Table:
    return table.filter(pc.is_in(table["kind"], pa.array(kinds)))


def _positions(table: pa.Table) -> pa.Array:
    """(partition, offset) of each row as one integer (offsets stay below 2**40, partitions below 2**23)."""
    return pc.add(pc.shift_left(table["partition"], 40), table["offset"]).combine_chunks()


def _python_messages(table: pa.Table, positions: pa.Array) -> pa.Table:
    """Each message left to Python once (a message has a row per trade the JVM did not accept)."""
    indexed = pa.table({"position": positions, "index": pa.array(range(table.num_rows), pa.int64())})
    first = indexed.group_by("position").aggregate([("index", "min")])["index_min"]
    return table.take(pc.take(first, pc.sort_indices(first))).select(list(RAW_COLUMNS))


class MicroBatchCollector:
    """Runs each micro-batch of one query in one Spark job and collects it for the sink."""

    def __init__(self, topic: str, calendar: TradingCalendar, limits: TradeLimits | None = None) -> None:
        limits = limits or TradeLimits()
        self._sql = MicroBatchSql(topic, calendar, limits)
        # The same limits on both sides: the JVM must never take a trade the driver's validator would refuse.
        self._decoder = TradeDecoder(topic, calendar, TradeValidator(limits))

    def collect(self, batch: DataFrame, now_ms: int) -> JvmBatch:
        """One micro-batch: the JVM's rows and partials, plus the messages it left to Python, decoded here."""
        rows = self._sql.rows(batch, now_ms).persist()
        try:
            table = self._sql.output(rows).toArrow()
        finally:
            rows.unpersist()
        return _collected(table, self._decoder)


def _collected(table: pa.Table, decoder: TradeDecoder) -> JvmBatch:
    messages = _of_kind(table, TRADE, EMPTY, PYTHON)
    python = _of_kind(table, PYTHON)
    python_positions = _positions(python)
    decoded = decode_raw_batch(_python_messages(python, python_positions), decoder)
    trades = _of_kind(table, TRADE)
    trades = trades.filter(pc.invert(pc.is_in(_positions(trades), python_positions)))
    collected = CollectedBatch(
        _trade_rows(trades) + decoded.rows,
        decoded.dead_letters,
        _offset_ranges(messages),
        pc.count_distinct(_positions(messages)).as_py(),
        decoded.rejected_trades,
    )
    return JvmBatch(collected, _bars(_of_kind(table, DAILY, MINUTE), decoded.rows))
