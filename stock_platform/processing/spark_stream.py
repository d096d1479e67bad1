"""The Spark engine: a Structured Streaming query from `market` through foreachBatch into the store.

Spark's own Kafka connector (`format("kafka")`, spark-sql-kafka on `spark.jars`) plans and reads exact
offset ranges. By default each micro-batch's raw messages are collected as Arrow on the driver, decoded
with the same TradeDecoder as the light engine and written with the storage layer's idempotent batch
writer. With `decode_in_jvm`, Spark decodes, checks, assigns ids and trading days and folds bar partials
itself (`spark_sql`), and the driver writes the rows and merges the partials: work that scales out with
executors, but on one small machine the driver path is faster (measured by `bench-processing`).
Spark commits a micro-batch to its checkpoint only after foreachBatch returns, so a killed query
replays the uncommitted batch on restart and the store's deterministic trade ids and offset guard
absorb the replay. Before the query starts, the checkpoint is compared with the topic (offset_guard).
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from pyspark.errors import StreamingQueryException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery

from stock_platform.kafka.settings import KafkaSettings
from stock_platform.processing.collector import collector_paused
from stock_platform.processing.consumer_lag import checkpoint_positions
from stock_platform.processing.jvm_kafka import RAW_COLUMNS, CollectedBatch, decode_raw_batch, jvm_source_options
from stock_platform.processing.offset_guard import PositionCheck, StreamResetRequired, check_positions, topic_state
from stock_platform.processing.partial_bars import BatchBars
from stock_platform.processing.sink import TradeSink
from stock_platform.processing.spark_batch import MicroBatchCollector
from stock_platform.processing.stream_reset import local_checkpoint_path, spark_reset_command
from stock_platform.processing.trade_decoding import TradeDecoder
from stock_platform.processing.trading_day import TradingCalendar

logger = logging.getLogger(__name__)

# Written next to Spark's own files: the id of the topic the checkpoint's offsets belong to.
TOPIC_MARKER = "stock_platform_topic.json"
_EARLIEST = -2  # Spark's JSON spelling of "earliest" for one partition


@dataclass(frozen=True)
class SparkStreamSettings:
    """Where the query keeps its checkpoint and how it reads Kafka."""

    topic: str
    checkpoint_dir: str
    trigger_interval_s: float = 0.0
    max_messages_per_trigger: int | None = 100_000
    starting_offsets: str = "earliest"
    query_name: str = "stream_processor"
    decode_in_jvm: bool = False

    def __post_init__(self) -> None:
        if not self.checkpoint_dir:
            raise ValueError("the Spark checkpoint directory is empty; set SPARK_CHECKPOINT_DIR")


def prepare_checkpoint(kafka: KafkaSettings, settings: SparkStreamSettings) -> tuple[SparkStreamSettings, PositionCheck | None]:
    """Check the checkpoint against the topic before the query starts; returns the settings to start with.

    A recreated topic raises StreamResetRequired. Offsets deleted by retention are skipped: the old
    checkpoint (a foreachBatch query keeps nothing else in it) is replaced by a fresh one starting at
    the earliest offsets still there, and the connector keeps `failOnDataLoss` for anything later.
    Remote checkpoints (s3a://...) are not inspected; the connector's own data-loss error covers them.
    """
    checkpoint = local_checkpoint_path(settings.checkpoint_dir)
    if checkpoint is None:
        return settings, None
    state = topic_state(kafka, settings.topic)
    marker = checkpoint / TOPIC_MARKER
    stored_id = json.loads(marker.read_text(encoding="utf-8"))["topic_id"] if marker.exists() else None
    _, positions = checkpoint_positions(checkpoint, settings.topic)
    check = check_positions(settings.topic, positions, state, stored_id)
    reset = spark_reset_command(settings.checkpoint_dir)
    if check.recreated:
        raise StreamResetRequired(check.recreated_line(f"the Spark checkpoint {checkpoint}", reset))
    if check.deleted:
        logger.warning(check.skip_line(reset))
        resume = check.resume_positions(positions)
        starting = {settings.topic: {str(partition): resume.get(partition, _EARLIEST) for partition in sorted(state.watermarks)}}
        shutil.rmtree(checkpoint)
        settings = replace(settings, starting_offsets=json.dumps(starting))
    checkpoint.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"topic": settings.topic, "topic_id": state.topic_id}), encoding="utf-8")
    return settings, check


def raw_messages(spark: SparkSession, kafka: KafkaSettings, settings: SparkStreamSettings) -> DataFrame:
    """The streaming DataFrame of raw `market` messages (RAW_COLUMNS) from Spark's Kafka connector."""
    options = jvm_source_options(kafka, settings.topic, settings.starting_offsets, settings.max_messages_per_trigger)
    return spark.readStream.format("kafka").options(**options).load().select(*RAW_COLUMNS)


def write_micro_batch(sink: TradeSink, topic: str, calendar: TradingCalendar, decode_in_jvm: bool = False) -> Callable[[DataFrame, int], None]:
    """The foreachBatch function: decode the batch on the driver, or in the JVM (`MicroBatchCollector`), and write it."""
    if decode_in_jvm:
        collector = MicroBatchCollector(topic, calendar)

        def write_from_jvm(batch: DataFrame, batch_id: int) -> None:
            with collector_paused():
                processed = collector.collect(batch, int(time.time() * 1000))
                _write(sink, batch_id, processed.collected, processed.bars)

        return write_from_jvm
    decoder = TradeDecoder(topic, calendar)

    def write(batch: DataFrame, batch_id: int) -> None:
        with collector_paused():
            _write(sink, batch_id, decode_raw_batch(batch.toArrow(), decoder))

    return write


def _write(sink: TradeSink, batch_id: int, collected: CollectedBatch, bars: BatchBars | None = None) -> None:
    sink.write(collected.rows, collected.dead_letters, collected.offset_ranges, collected.messages, collected.rejected_trades, bars)
    logger.debug("micro-batch %d: %d rows, %d dead letters", batch_id, len(collected.rows), len(collected.dead_letters))


def start_query(
    spark: SparkSession, kafka: KafkaSettings, settings: SparkStreamSettings, calendar: TradingCalendar, sink: TradeSink
) -> StreamingQuery:
    """Start the streaming query; progress lives in `settings.checkpoint_dir`."""
    writer = (
        raw_messages(spark, kafka, settings)
        .writeStream.queryName(settings.query_name)
        .foreachBatch(write_micro_batch(sink, settings.topic, calendar, settings.decode_in_jvm))
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


def _data_loss_line(error: Exception, checkpoint_dir: str) -> str | None:
    """One line for the connector's KAFKA_DATA_LOSS (offsets deleted or the topic recreated while running)."""
    lines = [line.strip() for line in str(error).splitlines()]
    if not any("KAFKA_DATA_LOSS" in line for line in lines):
        return None
    reason = next((index for index, line in enumerate(lines) if line.startswith("Reason:")), None)
    detail = " ".join(lines[reason : reason + 2]) if reason is not None else "data loss"
    return (
        f"Kafka no longer holds offsets the running query was reading ({detail}); the next run compares the checkpoint with "
        f"the topic, skips what retention deleted and reports the count, or reset with `{spark_reset_command(checkpoint_dir)}`"
    )


def run_query(
    query: StreamingQuery,
    stop: threading.Event,
    on_tick: Callable[[], Any] = lambda: None,
    tick_s: float = 0.5,
    checkpoint_dir: str = "",
) -> None:
    """Wait until `stop` is set or the query fails; the query is stopped however this returns."""
    try:
        while not stop.is_set():
            if query.awaitTermination(tick_s):
                break
            on_tick()
    except StreamingQueryException as error:
        line = _data_loss_line(error, checkpoint_dir) or f"streaming query {query.name} failed: {_root_cause(error)}"
        raise StreamQueryError(line) from error
    finally:
        query.stop()
