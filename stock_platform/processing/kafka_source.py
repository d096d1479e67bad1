"""Spark streaming source for `market` over confluent-kafka (PySpark Python Data Source API).

Used where no Kafka connector jar exists. Offsets are {"<partition>": next offset}; Spark's
checkpoint stores them, so a restarted query re-reads exactly the ranges it had not committed.
read() runs on the executors: it consumes an exact offset range with assign() and decodes it with
the same TradeDecoder as the light engine, yielding Arrow record batches of RECORD_SCHEMA.
"""

from __future__ import annotations

import base64
import math
import pickle
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from confluent_kafka import Consumer, TopicPartition
from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition
from pyspark.sql.streaming.datasource import ReadAllAvailable, ReadLimit, ReadMaxRows

from stock_platform.core.avro_codec import schema_name_from_headers
from stock_platform.core.kafka_settings import KafkaSettings
from stock_platform.core.trade_decoding import TradeDecoder, TradingDayFn
from stock_platform.processing.kafka_ranges import end_offsets, range_consumer_config, read_range, topic_partitions
from stock_platform.processing.records import RECORD_DDL, to_record_batch

SOURCE_NAME = "stock_platform_kafka"
_KAFKA_PREFIX = "kafka."


def source_options(
    kafka: KafkaSettings,
    topic: str,
    trading_day: TradingDayFn,
    starting_offsets: str = "earliest",
    max_messages_per_trigger: int | None = None,
) -> dict[str, str]:
    """Options for `spark.readStream.format(SOURCE_NAME)`.

    Client settings travel as `kafka.<librdkafka key>` like the JVM connector's, so Spark's
    redaction of option keys matching `password`/`secret` keeps credentials out of plans and the UI.
    """
    options = {f"{_KAFKA_PREFIX}{key}": str(value) for key, value in kafka.common_config().items()}
    options.update({f"{_KAFKA_PREFIX}{key}": value for key, value in kafka.client_overrides.items()})
    options["subscribe"] = topic
    options["startingOffsets"] = starting_offsets
    # The trading-day function is configuration (time zones per symbol class), shipped pickled.
    options["tradingDay"] = base64.b64encode(pickle.dumps(trading_day)).decode()
    if max_messages_per_trigger:
        options["maxOffsetsPerTrigger"] = str(max_messages_per_trigger)
    return options


@dataclass(frozen=True)
class SourceOptions:
    """Parsed source options."""

    topic: str
    client_config: dict[str, str]
    trading_day: TradingDayFn
    starting_offsets: str
    max_messages_per_trigger: int | None

    @classmethod
    def parse(cls, options: Mapping[str, str]) -> SourceOptions:
        lowered = {key.lower(): value for key, value in options.items()}
        topic = lowered.get("subscribe")
        if not topic:
            raise ValueError(f"{SOURCE_NAME}: option `subscribe` (the topic) is required")
        if "tradingday" not in lowered:
            raise ValueError(f"{SOURCE_NAME}: option `tradingDay` is required; build options with source_options()")
        starting = lowered.get("startingoffsets", "earliest")
        if starting not in ("earliest", "latest"):
            raise ValueError(f"{SOURCE_NAME}: startingOffsets must be earliest or latest, got {starting!r}")
        limit = lowered.get("maxoffsetspertrigger")
        return cls(
            topic=topic,
            client_config={key[len(_KAFKA_PREFIX):]: value for key, value in options.items() if key.lower().startswith(_KAFKA_PREFIX)},
            trading_day=pickle.loads(base64.b64decode(lowered["tradingday"])),
            starting_offsets=starting,
            max_messages_per_trigger=int(limit) if limit else None,
        )


class KafkaRange(InputPartition):
    """Offsets [start, end) of one Kafka partition: one Spark task."""

    def __init__(self, partition: int, start: int, end: int) -> None:
        super().__init__((partition, start, end))
        self.partition = partition
        self.start = start
        self.end = end


class KafkaTradeStreamReader(DataSourceStreamReader):
    """Plans micro-batches from true end offsets and reads them on the executors."""

    def __init__(self, options: SourceOptions) -> None:
        self._options = options
        self._consumer: Consumer | None = None

    def __getstate__(self) -> dict[str, Any]:
        # The driver-side consumer must not travel to the executors.
        return {"_options": self._options, "_consumer": None}

    def _driver_consumer(self) -> Consumer:
        if self._consumer is None:
            self._consumer = Consumer(range_consumer_config(self._options.client_config, f"spark-offsets-{uuid.uuid4().hex[:8]}"))
        return self._consumer

    def _ends(self) -> dict[str, int]:
        consumer = self._driver_consumer()
        partitions = topic_partitions(consumer, self._options.topic)
        return {str(partition): end for partition, end in end_offsets(consumer, self._options.topic, partitions).items()}

    def initialOffset(self) -> dict:
        if self._options.starting_offsets == "latest":
            return self._ends()
        consumer = self._driver_consumer()
        topic = self._options.topic
        return {
            str(partition): consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)[0]
            for partition in topic_partitions(consumer, topic)
        }

    def getDefaultReadLimit(self) -> ReadLimit:
        limit = self._options.max_messages_per_trigger
        return ReadMaxRows(limit) if limit else ReadAllAvailable()

    def latestOffset(self, start: dict, limit: ReadLimit) -> dict:
        ends = self._ends()
        latest = {partition: max(end, start.get(partition, 0)) for partition, end in ends.items()}
        if isinstance(limit, ReadMaxRows) and latest:
            # An even share per partition keeps catch-up batches bounded without starving any partition.
            share = max(math.ceil(limit.max_rows / len(latest)), 1)
            latest = {partition: min(end, start.get(partition, 0) + share) for partition, end in latest.items()}
        return latest

    def partitions(self, start: dict, end: dict) -> list[KafkaRange]:
        return [
            KafkaRange(int(partition), start.get(partition, 0), stop)
            for partition, stop in sorted(end.items(), key=lambda item: int(item[0]))
            if stop > start.get(partition, 0)
        ]

    def read(self, partition: KafkaRange) -> Iterator[pa.RecordBatch]:
        options = self._options
        decoder = TradeDecoder(options.topic, options.trading_day)
        consumer = Consumer(range_consumer_config(options.client_config, f"spark-read-{uuid.uuid4().hex[:8]}"))
        try:
            for messages in read_range(consumer, options.topic, partition.partition, partition.start, partition.end):
                yield to_record_batch(
                    (
                        message.partition(),
                        message.offset(),
                        decoder.decode(
                            message.partition(),
                            message.offset(),
                            message.key(),
                            message.value(),
                            schema_name_from_headers(message.headers()),
                        ),
                    )
                    for message in messages
                )
        finally:
            consumer.close()

    def commit(self, end: dict) -> None:
        """Nothing to do: Spark's checkpoint, not Kafka, records progress."""

    def stop(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None


class KafkaTradeSource(DataSource):
    """`spark.readStream.format("stock_platform_kafka")`: decoded trades and dead letters of `market`."""

    @classmethod
    def name(cls) -> str:
        return SOURCE_NAME

    def schema(self) -> str:
        return RECORD_DDL

    def streamReader(self, schema: Any) -> KafkaTradeStreamReader:
        return KafkaTradeStreamReader(SourceOptions.parse(self.options))
