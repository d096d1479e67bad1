"""Spark's Kafka connector as the stream's source: its options, and decoding of the raw messages it yields.

`format("kafka")` yields raw messages (key, value, partition, offset, headers); `decode_raw_batch`
turns a collected micro-batch into trade rows and dead letters with the same TradeDecoder the light
engine uses, so both engines write identical tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from stock_platform.kafka.avro_codec import schema_header
from stock_platform.kafka.settings import KafkaSettings
from stock_platform.models import TradeRow
from stock_platform.processing.trade_decoding import KeyedDeadLetter, TradeDecoder


@dataclass(slots=True)
class CollectedBatch:
    """One decoded micro-batch on the driver."""

    rows: list[TradeRow]
    dead_letters: list[KeyedDeadLetter]
    offset_ranges: dict[int, tuple[int, int]]
    messages: int
    rejected_trades: int


_JAAS_MODULES = {"PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule"}
_SCRAM_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"


def java_client_config(kafka: KafkaSettings) -> dict[str, str]:
    """The Java client's spelling of the connection settings (librdkafka's `sasl.username` etc. do not exist there).

    `client_overrides` are librdkafka settings and are not passed on.
    """
    config = {"bootstrap.servers": kafka.bootstrap_servers, "security.protocol": kafka.security_protocol}
    if kafka.sasl_mechanism:
        config["sasl.mechanism"] = kafka.sasl_mechanism
        module = _JAAS_MODULES.get(kafka.sasl_mechanism.upper(), _SCRAM_MODULE)
        username = (kafka.sasl_username or "").replace('"', '\\"')
        password = (kafka.sasl_password or "").replace('"', '\\"')
        config["sasl.jaas.config"] = f'{module} required username="{username}" password="{password}";'
    if kafka.ssl_ca_location:
        config.update({"ssl.truststore.type": "PEM", "ssl.truststore.location": kafka.ssl_ca_location})
    return config


def jvm_source_options(
    kafka: KafkaSettings, topic: str, starting_offsets: str = "earliest", max_messages_per_trigger: int | None = None
) -> dict[str, str]:
    """Options for `spark.readStream.format("kafka")` (client settings prefixed `kafka.`, as the connector wants)."""
    options = {f"kafka.{key}": value for key, value in java_client_config(kafka).items()}
    options.update({"subscribe": topic, "startingOffsets": starting_offsets, "includeHeaders": "true", "failOnDataLoss": "true"})
    if max_messages_per_trigger:
        options["maxOffsetsPerTrigger"] = str(max_messages_per_trigger)
    return options


RAW_COLUMNS = ("key", "value", "partition", "offset", "timestamp", "headers")


def _epoch_ms(timestamps: pa.ChunkedArray) -> list[int]:
    """The connector's message timestamps (Arrow timestamps) as Kafka's epoch milliseconds, converted in Arrow.

    Kafka timestamps are whole milliseconds, so the cast drops nothing; Python datetimes per message cost
    a tenth of a batch's decoding.
    """
    return pc.cast(timestamps, pa.timestamp("ms", timestamps.type.tz), safe=False).cast(pa.int64()).to_pylist()


def decode_raw_batch(table: pa.Table, decoder: TradeDecoder) -> CollectedBatch:
    """One collected micro-batch of raw connector rows -> trade rows (Kafka order), dead letters and offset ranges."""
    columns = {name: table.column(name).to_pylist() for name in RAW_COLUMNS if name != "timestamp"}
    columns["timestamp"] = _epoch_ms(table.column("timestamp"))
    rows: list[TradeRow] = []
    dead_letters: list[KeyedDeadLetter] = []
    ranges: dict[int, tuple[int, int]] = {}
    rejected = 0
    for key, value, partition, offset, timestamp_ms, headers in zip(*(columns[name] for name in RAW_COLUMNS)):
        header = schema_header([(entry["key"], entry["value"]) for entry in headers or ()])
        decoded = decoder.decode(partition, offset, timestamp_ms, key, value, header)
        rows.extend(decoded.rows)
        rejected += decoded.rejected_trades
        if decoded.dead_letter is not None:
            dead_letters.append(decoded.dead_letter)
        first, last = ranges.get(partition, (offset, offset))
        ranges[partition] = (min(first, offset), max(last, offset))
    return CollectedBatch(rows, dead_letters, ranges, table.num_rows, rejected)
