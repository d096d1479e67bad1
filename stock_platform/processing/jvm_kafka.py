"""The JVM Kafka connector as the stream's source, for clusters that ship spark-sql-kafka.

`format("kafka")` yields raw messages; `decode_raw_messages` turns them into RECORD_SCHEMA batches
with the same TradeDecoder the Python source and the light engine use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa

from stock_platform.core.avro_codec import SCHEMA_HEADER
from stock_platform.core.kafka_settings import KafkaSettings
from stock_platform.core.trade_decoding import TradeDecoder, TradingDayFn
from stock_platform.processing.records import to_record_batch


def jvm_source_options(
    kafka: KafkaSettings, topic: str, starting_offsets: str = "earliest", max_messages_per_trigger: int | None = None
) -> dict[str, str]:
    """Options for `spark.readStream.format("kafka")` (client settings prefixed `kafka.`, as the connector wants)."""
    options = {f"kafka.{key}": str(value) for key, value in kafka.common_config().items()}
    options.update({f"kafka.{key}": value for key, value in kafka.client_overrides.items()})
    options.update({"subscribe": topic, "startingOffsets": starting_offsets, "includeHeaders": "true", "failOnDataLoss": "true"})
    if max_messages_per_trigger:
        options["maxOffsetsPerTrigger"] = str(max_messages_per_trigger)
    return options


def _schema_header(headers: list[dict[str, Any]] | None) -> str | None:
    for header in headers or ():
        if header["key"] == SCHEMA_HEADER and header["value"] is not None:
            return header["value"].decode()
    return None


def decode_raw_messages(topic: str, trading_day: TradingDayFn) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """A `mapInArrow` function: raw connector batches (key, value, partition, offset, headers) -> records."""

    def decode(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        decoder = TradeDecoder(topic, trading_day)
        for batch in batches:
            columns = batch.to_pydict()
            yield to_record_batch(
                (
                    partition,
                    offset,
                    decoder.decode(partition, offset, key, value, _schema_header(headers)),
                )
                for key, value, partition, offset, headers in zip(
                    columns["key"], columns["value"], columns["partition"], columns["offset"], columns["headers"]
                )
            )

    return decode
