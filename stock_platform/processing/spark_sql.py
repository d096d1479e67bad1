"""The Spark SQL of one micro-batch: Avro decoded (spark-avro), trades re-checked, ids, trading days and bar partials.

A message takes the JVM path when every part of it passes checks that are sufficient, not necessary (like
`TradeValidator.accepts`): the JVM accepts a trade only where the Python validator would. Any other
message is handed to Python raw (`python` rows). Expressions are plain columns (no lambda functions, which
Spark interprets row by row), so each stage compiles to one piece of generated code.
"""

from __future__ import annotations

import json

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.avro.functions import from_avro

from stock_platform.ingest.validation import EARLIEST_PLAUSIBLE_MS, TradeLimits
from stock_platform.kafka.avro_codec import SCHEMA_HEADER, TRADE_BATCH_SCHEMA, load_schema
from stock_platform.processing.aggregation import MINUTE_MS
from stock_platform.processing.jvm_kafka import RAW_COLUMNS
from stock_platform.processing.trading_day import TradingCalendar

# TradeRow's fields, in order: the JVM's trade rows are collected in this shape.
TRADE_COLUMNS = (
    "symbol", "trading_day", "event_time_ms", "trade_id", "price", "volume",
    "conditions", "received_at_ms", "partition", "offset",
)  # fmt: skip
# BarState's fields, in order, up to its source offset.
BAR_COLUMNS = (
    "open", "high", "low", "close", "volume", "notional", "trade_count",
    "first_trade_time_ms", "last_trade_time_ms", "first_trade_id", "last_trade_id", "partition", "last_offset",
)  # fmt: skip
# What a row of `MicroBatchSql.output` is.
TRADE, EMPTY, PYTHON, DAILY, MINUTE = "trade", "empty", "python", "daily", "minute"
# The raw columns a Python-path message keeps (besides its partition and offset).
_RAW_VALUES = ("key", "value", "timestamp", "headers")
_DAY_MS = 86_400_000
# make_trade_id pads the position to 6 digits; a longer position would not fit lpad, so such a message goes to Python.
_MAX_JVM_POSITIONS = 1_000_000
# Printable ASCII only: valid UTF-8 with no surrounding whitespace (symbol), within the length limits.
_SYMBOL_PATTERN = r"\A[!-~]{1,64}\z"


def _conditions_pattern(limits: TradeLimits) -> str:
    """The conditions joined by newlines: printable ASCII items (no newline among them) within the length limit."""
    item = "[ -~]{0,%d}" % limits.max_condition_chars
    return r"\A%s(\n%s)*\z" % (item, item)


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


def trade_accepted(trade: Column, key: Column, limits: TradeLimits, latest_ms: int) -> Column:
    """Whether the JVM may take a decoded trade: only if `TradeValidator` accepts it and its symbol is the key."""
    conditions = trade["c"]
    return (
        trade["s"].rlike(_SYMBOL_PATTERN)
        & (trade["s"] == key.cast("string"))  # byte equality: the message key must be the symbol
        & ~F.isnan(trade["p"]) & (trade["p"] > 0) & (trade["p"] <= limits.max_price)
        & ~F.isnan(trade["v"]) & (trade["v"] >= 0) & (trade["v"] <= limits.max_volume)
        & (trade["t"] >= EARLIEST_PLAUSIBLE_MS) & (trade["t"] <= latest_ms)
        & (
            conditions.isNull()
            | ((F.size(conditions) <= limits.max_conditions)
               & F.array_join(conditions, "\n").rlike(_conditions_pattern(limits)))
        )
    )  # fmt: skip


def _decode_columns() -> list[Column]:
    """Raw columns plus `decoded`: the TradeBatch, when the message has a key, a value and
    `market.TradeBatch/v1` as its first header and Spark can read the bytes."""
    first_header = F.try_element_at(F.col("headers"), F.lit(1))
    readable = (
        F.col("key").isNotNull()
        & F.col("value").isNotNull()
        & (first_header["key"] == F.lit(SCHEMA_HEADER))
        & (first_header["value"].cast("string") == F.lit(TRADE_BATCH_SCHEMA))
    )
    schema_json = json.dumps(load_schema(TRADE_BATCH_SCHEMA))
    return [*RAW_COLUMNS, F.when(readable, from_avro(F.col("value"), schema_json, {"mode": "PERMISSIVE"})).alias("decoded")]


def _explode_columns() -> list[Column]:
    """A row per trade of a message the JVM takes (its strings UTF-8, which Spark does not check and Python's
    decoder does), one row for a message without trades or not taken (`trade` null)."""
    decoded = F.col("decoded")
    # Null-safe: in PERMISSIVE mode bytes Spark cannot read may decode to a record of nulls.
    takes = F.coalesce(
        decoded["data"].isNotNull()
        & (F.size(decoded["data"]) < _MAX_JVM_POSITIONS)
        & F.is_valid_utf8(decoded["type"])
        & F.is_valid_utf8(decoded["source"]),
        F.lit(False),
    )
    return [
        "partition", "offset", *_RAW_VALUES, decoded["received_at"].alias("received_at_ms"), takes.alias("takes"),
        F.posexplode_outer(F.when(takes, decoded["data"])).alias("position", "trade"),
    ]  # fmt: skip


def _bar_measures() -> list[Column]:
    """A bar's fields over its trades; open and close by (event time, trade id), as in `aggregation`."""
    order = F.struct("event_time_ms", "trade_id")
    return [
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
        F.min("offset").alias("first_offset"),
        F.max("offset").alias("last_offset"),
        F.grouping("bucket_start").alias("is_daily"),
    ]


class MicroBatchSql:
    """The columns of every micro-batch of one query, built once: each costs calls into the JVM."""

    def __init__(self, topic: str, calendar: TradingCalendar, limits: TradeLimits) -> None:
        self._topic, self._calendar, self._limits = topic, calendar, limits
        self._decode = _decode_columns()
        self._explode = _explode_columns()
        self._measures = _bar_measures()
        self._is_trade = F.col("kind") == F.lit(TRADE)
        self._bucket = (F.col("event_time_ms") - F.col("event_time_ms") % MINUTE_MS).alias("bucket_start")
        self._bar_kind = F.when(F.col("is_daily") == 1, F.lit(DAILY)).otherwise(F.lit(MINUTE)).alias("kind")
        self._rows_for: tuple[int, list[Column]] | None = None

    def _row_columns(self, now_ms: int) -> list[Column]:
        # The future bound moves once a minute, not with every batch: Spark compiles code per distinct
        # literal, and a minute-old bound is only stricter (a trade it refuses goes to the Python validator).
        latest_ms = now_ms - now_ms % MINUTE_MS + self._limits.max_future_skew_ms
        if self._rows_for is None or self._rows_for[0] != latest_ms:
            self._rows_for = (latest_ms, self._build_row_columns(latest_ms))
        return self._rows_for[1]

    def _build_row_columns(self, latest_ms: int) -> list[Column]:
        trade = F.col("trade")
        accepted = trade_accepted(trade, F.col("key"), self._limits, latest_ms)
        kind = F.when(~F.col("takes"), F.lit(PYTHON)).when(trade.isNull(), F.lit(EMPTY)).when(accepted, F.lit(TRADE)).otherwise(F.lit(PYTHON))
        trade_id = F.concat_ws(
            "/",
            F.lit(self._topic),
            F.lpad(F.col("partition").cast("string"), 5, "0"),
            F.lpad(F.col("offset").cast("string"), 20, "0"),
            F.lpad(F.col("position").cast("string"), 6, "0"),
        )
        is_python = kind == F.lit(PYTHON)
        return [
            kind.alias("kind"),
            trade["s"].alias("symbol"),
            trading_day_column(self._calendar, trade["s"], trade["t"]).alias("trading_day"),
            trade["t"].alias("event_time_ms"),
            F.when(trade.isNotNull(), trade_id).alias("trade_id"),
            trade["p"].alias("price"),
            trade["v"].alias("volume"),
            trade["c"].alias("conditions"),
            F.when(trade.isNotNull(), F.col("received_at_ms")).alias("received_at_ms"),
            F.col("partition"),
            F.col("offset"),
            *[F.when(is_python, F.col(name)).alias(name) for name in _RAW_VALUES],
        ]

    def rows(self, batch: DataFrame, now_ms: int) -> DataFrame:
        """Per message one `trade` row per accepted trade (TRADE_COLUMNS, `make_trade_id`'s ids), one `empty` row
        if it has none, and a `python` row (the raw message) per trade not accepted and for a message not taken.

        A message with a `python` row is Python's; the driver drops its trade rows.
        """
        return batch.select(*self._decode).select(*self._explode).select(*self._row_columns(now_ms))

    def output(self, rows: DataFrame) -> DataFrame:
        """`rows` and the `daily` and `minute` bar partials of their trades per key and Kafka partition, as one
        DataFrame (one Spark job; `rows` should be cached, as it is read twice).

        Both bars come from one aggregation (one shuffle): grouping sets with and without the minute, where a
        daily row's `bucket_start` is null.
        """
        trades = rows.where(self._is_trade).select(*TRADE_COLUMNS, self._bucket)
        day, minute = ("symbol", "trading_day", "partition"), ("symbol", "trading_day", "bucket_start", "partition")
        bars = trades.groupingSets([day, minute], *minute).agg(*self._measures)
        return rows.unionByName(bars.select("*", self._bar_kind).drop("is_daily"), allowMissingColumns=True)
