"""One Spark micro-batch in the JVM: Avro decoded (spark-avro), trades re-checked, ids, trading days and bars in Spark SQL.

A message takes the JVM path when every part of it passes checks that are sufficient, not necessary (like
`TradeValidator.accepts`): the JVM accepts a trade only where the Python validator would. Spark then
decodes it, gives each trade its deterministic id and trading day, and folds the batch's trades into daily
and minute bar partials per key and Kafka partition; the driver receives the rows to write and the
partials to merge (`partial_bars`). Any other message (no key, value or schema header, another schema,
bytes Spark cannot decode, a trade the checks do not accept) is collected raw and decoded by the light
engine's TradeDecoder, which words its dead letter; the bars of its keys are folded from the rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.avro.functions import from_avro

from stock_platform.ingest.validation import EARLIEST_PLAUSIBLE_MS, TradeLimits
from stock_platform.kafka.avro_codec import SCHEMA_HEADER, TRADE_BATCH_SCHEMA, load_schema
from stock_platform.models import TradeRow
from stock_platform.processing.aggregation import MINUTE_MS, BarState, daily_key, minute_key
from stock_platform.processing.jvm_kafka import RAW_COLUMNS, CollectedBatch, decode_raw_batch
from stock_platform.processing.partial_bars import BatchBars, PartialBar
from stock_platform.processing.trade_decoding import TradeDecoder
from stock_platform.processing.trading_day import TradingCalendar

# TradeRow's fields, in order: the JVM's trade rows are collected in this shape.
TRADE_COLUMNS = (
    "symbol", "trading_day", "event_time_ms", "trade_id", "price", "volume",
    "conditions", "received_at_ms", "kafka_partition", "kafka_offset",
)  # fmt: skip
_BAR_COLUMNS = (
    "open", "high", "low", "close", "volume", "notional", "trade_count",
    "first_trade_time_ms", "last_trade_time_ms", "first_trade_id", "last_trade_id", "kafka_partition", "last_offset",
)  # fmt: skip
_DAY_MS = 86_400_000
# make_trade_id pads the position to 6 digits; a longer position would not fit lpad, so such a message goes to Python.
_MAX_JVM_POSITIONS = 1_000_000
# Printable ASCII only: valid UTF-8 with no surrounding whitespace (symbol), within the length limits.
_SYMBOL_PATTERN = r"\A[!-~]{1,64}\z"


def _condition_pattern(limits: TradeLimits) -> str:
    return r"\A[ -~]{0,%d}\z" % limits.max_condition_chars


def zone_column(calendar: TradingCalendar, symbol: Column) -> Column:
    """The IANA zone of each symbol's trading day, as `TradingCalendar.zone_name` picks it."""
    prefix = F.upper(F.substring_index(symbol, ":", 1))
    prefixed = F.lit(calendar.prefixed_zone)
    for name, zone in calendar.prefix_zones.items():
        prefixed = F.when(prefix == F.lit(name), F.lit(zone)).otherwise(prefixed)
    return F.when(F.instr(symbol, ":") > 0, prefixed).otherwise(F.lit(calendar.default_zone))


def trading_day_column(calendar: TradingCalendar, symbol: Column, event_time_ms: Column) -> Column:
    """`calendar.trading_day(symbol, event_time_ms)`: the local date in the symbol's zone (any session time zone)."""
    local = F.from_utc_timestamp(F.timestamp_millis(event_time_ms), zone_column(calendar, symbol))
    return F.date_from_unix_date(F.floor(F.unix_millis(local) / F.lit(_DAY_MS)).cast("int"))


def _trade_accepted(trade: Column, key: Column, limits: TradeLimits, now_ms: int) -> Column:
    conditions = trade["c"]
    condition_pattern = _condition_pattern(limits)
    return (
        trade["s"].rlike(_SYMBOL_PATTERN)
        & (trade["s"] == key.cast("string"))  # byte equality: the message key must be the symbol
        & ~F.isnan(trade["p"]) & (trade["p"] > 0) & (trade["p"] <= limits.max_price)
        & ~F.isnan(trade["v"]) & (trade["v"] >= 0) & (trade["v"] <= limits.max_volume)
        & (trade["t"] >= EARLIEST_PLAUSIBLE_MS) & (trade["t"] <= now_ms + limits.max_future_skew_ms)
        & (
            conditions.isNull()
            | ((F.size(conditions) <= limits.max_conditions) & F.forall(conditions, lambda item: item.rlike(condition_pattern)))
        )
    )  # fmt: skip


def classify(batch: DataFrame, limits: TradeLimits, now_ms: int) -> DataFrame:
    """Raw connector rows plus `decoded` (the TradeBatch, when Spark could read it) and `jvm` (take the JVM path)."""
    header = F.try_element_at(F.filter("headers", lambda entry: entry["key"] == F.lit(SCHEMA_HEADER)), F.lit(1))["value"]
    schema_json = json.dumps(load_schema(TRADE_BATCH_SCHEMA))
    readable = F.col("key").isNotNull() & F.col("value").isNotNull() & (header.cast("string") == F.lit(TRADE_BATCH_SCHEMA))
    key, decoded = F.col("key"), F.col("decoded")
    # Decoded in a projection of its own: referenced five times below, it would otherwise be decoded five times.
    with_decoded = batch.select(*RAW_COLUMNS, F.when(readable, from_avro(F.col("value"), schema_json, {"mode": "PERMISSIVE"})).alias("decoded"))
    jvm = (
        decoded.isNotNull()
        & (F.size(decoded["data"]) < _MAX_JVM_POSITIONS)
        & F.is_valid_utf8(decoded["type"])
        & F.is_valid_utf8(decoded["source"])
        & F.forall(decoded["data"], lambda trade: _trade_accepted(trade, key, limits, now_ms))
    )
    return with_decoded.withColumn("jvm", F.coalesce(jvm, F.lit(False)))


def jvm_trades(classified: DataFrame, topic: str, calendar: TradingCalendar) -> DataFrame:
    """One row per trade of the JVM-path messages, in TRADE_COLUMNS with `make_trade_id`'s ids."""
    exploded = classified.where("jvm").select(
        "partition", "offset", F.col("decoded.received_at").alias("received_at_ms"), F.posexplode("decoded.data").alias("position", "trade")
    )
    trade_id = F.concat_ws(
        "/",
        F.lit(topic),
        F.lpad(F.col("partition").cast("string"), 5, "0"),
        F.lpad(F.col("offset").cast("string"), 20, "0"),
        F.lpad(F.col("position").cast("string"), 6, "0"),
    )
    return exploded.select(
        F.col("trade.s").alias("symbol"),
        trading_day_column(calendar, F.col("trade.s"), F.col("trade.t")).alias("trading_day"),
        F.col("trade.t").alias("event_time_ms"),
        trade_id.alias("trade_id"),
        F.col("trade.p").alias("price"),
        F.col("trade.v").alias("volume"),
        F.col("trade.c").alias("conditions"),
        "received_at_ms",
        F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"),
    )


def bar_partials(trades: DataFrame) -> DataFrame:
    """Daily (`bucket_start` null) and minute bars of the trades per key and Kafka partition, with their offsets.

    Open and close are the trades first and last by (event time, trade id), as in `aggregation`.
    """
    order = F.struct("event_time_ms", "trade_id")
    measures = [
        F.min_by("price", order).alias("open"),
        F.max("price").alias("high"),
        F.min("price").alias("low"),
        F.max_by("price", order).alias("close"),
        F.sum("volume").alias("volume"),
        F.sum(F.col("price") * F.col("volume")).alias("notional"),
        F.count(F.lit(1)).alias("trade_count"),
        F.min("event_time_ms").alias("first_trade_time_ms"),
        F.max("event_time_ms").alias("last_trade_time_ms"),
        F.min_by("trade_id", order).alias("first_trade_id"),
        F.max_by("trade_id", order).alias("last_trade_id"),
        F.min("kafka_offset").alias("first_offset"),
        F.max("kafka_offset").alias("last_offset"),
    ]
    daily = trades.groupBy("symbol", "trading_day", "kafka_partition").agg(*measures)
    bucket = (F.col("event_time_ms") - F.col("event_time_ms") % MINUTE_MS).alias("bucket_start")
    minute = trades.groupBy("symbol", "trading_day", bucket, "kafka_partition").agg(*measures)
    return daily.withColumn("bucket_start", F.lit(None).cast("long")).unionByName(minute)


@dataclass(slots=True)
class JvmBatch:
    """One micro-batch on the driver: every row to write, the JVM's bar partials, and what Python decoded."""

    collected: CollectedBatch
    bars: BatchBars


def _trade_rows(table: pa.Table) -> list[TradeRow]:
    columns = [table.column(name).to_pylist() for name in TRADE_COLUMNS]
    columns[6] = [tuple(conditions) if conditions is not None else None for conditions in columns[6]]
    return list(map(TradeRow, *columns))


def _partials(table: pa.Table) -> Iterator[tuple[tuple, PartialBar]]:
    columns = [table.column(name).to_pylist() for name in ("symbol", "trading_day", "bucket_start", "first_offset", *_BAR_COLUMNS)]
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


def collect_micro_batch(
    batch: DataFrame, topic: str, calendar: TradingCalendar, decoder: TradeDecoder, limits: TradeLimits, now_ms: int
) -> JvmBatch:
    """Run one micro-batch: three Spark jobs over the cached classification (messages, trades, bar partials)."""
    classified = classify(batch, limits, now_ms).persist()
    try:
        raw = [F.when(~F.col("jvm"), F.col(name)).alias(name) for name in RAW_COLUMNS if name not in ("partition", "offset")]
        messages = classified.select("partition", "offset", "jvm", *raw).toArrow()
        trades = jvm_trades(classified, topic, calendar)
        rows = _trade_rows(trades.toArrow())
        partials = bar_partials(trades).toArrow()
    finally:
        classified.unpersist()
    python_messages = messages.filter(pc.invert(messages["jvm"])).select(list(RAW_COLUMNS))
    decoded = decode_raw_batch(python_messages, decoder)
    collected = CollectedBatch(
        rows + decoded.rows, decoded.dead_letters, _offset_ranges(messages), messages.num_rows, decoded.rejected_trades
    )
    return JvmBatch(collected, _bars(partials, decoded.rows))
