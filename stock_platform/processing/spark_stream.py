"""The Spark engine: a Structured Streaming query from `market` through foreachBatch into the store.

Executors consume and decode exact offset ranges; each micro-batch is collected as Arrow on the
driver and written with the storage layer's idempotent batch writer. Spark commits a micro-batch
to its checkpoint only after foreachBatch returns, so a killed query replays the uncommitted batch
on restart and the store's deterministic trade ids and offset guard absorb the replay.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.errors import StreamingQueryException
from pyspark.sql.streaming import StreamingQuery

from stock_platform.core.kafka_settings import KafkaSettings
from stock_platform.core.trade_decoding import TradingDayFn
from stock_platform.processing.jvm_kafka import decode_raw_messages, jvm_source_options
from stock_platform.processing.kafka_source import SOURCE_NAME, KafkaTradeSource, source_options
from stock_platform.processing.records import RECORD_DDL, collect_records
from stock_platform.processing.sink import TradeSink

logger = logging.getLogger(__name__)

PYTHON_SOURCE = "python"
JVM_SOURCE = "jvm"


@dataclass(frozen=True)
class SparkStreamSettings:
    """Where the query keeps its checkpoint and how it reads Kafka."""

    topic: str
    checkpoint_dir: str
    source: str = PYTHON_SOURCE
    trigger_interval_s: float = 0.0
    max_messages_per_trigger: int | None = 100_000
    starting_offsets: str = "earliest"
    query_name: str = "stream_processor"

    def __post_init__(self) -> None:
        if self.source not in (PYTHON_SOURCE, JVM_SOURCE):
            raise ValueError(f"Kafka source must be {PYTHON_SOURCE!r} or {JVM_SOURCE!r}, got {self.source!r}")
        if not self.checkpoint_dir:
            raise ValueError("the Spark checkpoint directory is empty; set SPARK_CHECKPOINT_DIR")


def trade_records(spark: SparkSession, kafka: KafkaSettings, settings: SparkStreamSettings, trading_day: TradingDayFn) -> DataFrame:
    """The streaming DataFrame of decoded records (RECORD_DDL) from the configured Kafka source."""
    if settings.source == JVM_SOURCE:
        raw = spark.readStream.format("kafka").options(
            **jvm_source_options(kafka, settings.topic, settings.starting_offsets, settings.max_messages_per_trigger)
        ).load()
        return raw.mapInArrow(decode_raw_messages(settings.topic, trading_day), RECORD_DDL)
    spark.dataSource.register(KafkaTradeSource)
    return spark.readStream.format(SOURCE_NAME).options(
        **source_options(kafka, settings.topic, trading_day, settings.starting_offsets, settings.max_messages_per_trigger)
    ).load()


def write_micro_batch(sink: TradeSink) -> Callable[[DataFrame, int], None]:
    """The foreachBatch function: collect the batch as Arrow and write it through the sink."""

    def write(batch: DataFrame, batch_id: int) -> None:
        collected = collect_records(batch.toArrow())
        sink.write(collected.rows, collected.dead_letters, collected.offset_ranges, collected.messages)
        logger.debug("micro-batch %d: %d rows, %d dead letters", batch_id, len(collected.rows), len(collected.dead_letters))

    return write


def start_query(
    spark: SparkSession, kafka: KafkaSettings, settings: SparkStreamSettings, trading_day: TradingDayFn, sink: TradeSink
) -> StreamingQuery:
    """Start the streaming query; progress lives in `settings.checkpoint_dir`."""
    writer = (
        trade_records(spark, kafka, settings, trading_day)
        .writeStream.queryName(settings.query_name)
        .foreachBatch(write_micro_batch(sink))
        .option("checkpointLocation", settings.checkpoint_dir)
        .trigger(processingTime=f"{settings.trigger_interval_s} seconds")
    )
    return writer.start()


class StreamQueryError(RuntimeError):
    """The streaming query stopped with an error."""


def _root_cause(error: Exception) -> str:
    """The Python exception line of a StreamingQueryException (its text embeds the foreachBatch traceback)."""
    text = str(error)
    marker = "Traceback (most recent call last):"
    if marker in text:
        for line in text.rsplit(marker, 1)[1].splitlines():
            if line.strip() and not line.startswith(" "):
                return line.strip()
    return text.splitlines()[0] if text else type(error).__name__


def run_query(query: StreamingQuery, stop: threading.Event, on_tick: Callable[[], Any] = lambda: None, tick_s: float = 0.5) -> None:
    """Wait until `stop` is set or the query fails; the query is stopped however this returns."""
    try:
        while not stop.is_set():
            if query.awaitTermination(tick_s):
                break
            on_tick()
    except StreamingQueryException as error:
        raise StreamQueryError(f"streaming query {query.name} failed: {_root_cause(error)}") from error
    finally:
        query.stop()
