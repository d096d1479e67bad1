"""The columnar form of decoded messages that Spark moves around: trade rows and dead letters in one schema."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa

from stock_platform.core.models import DeadLetter, TradeRow
from stock_platform.core.trade_decoding import DEAD_LETTER_SOURCE, DecodedMessage

# A row is a trade when `dead_letter_reason` is null, else a dead letter of the message at
# (kafka_partition, kafka_offset). One schema keeps decoding a single Python pass on the executors.
RECORD_DDL = (
    "symbol string, trading_day date, event_time_ms long, trade_id string, price double, volume double, "
    "conditions array<string>, received_at_ms long, kafka_partition int, kafka_offset long, "
    "dead_letter_reason string, dead_letter_payload binary, dead_letter_at_ms long"
)
RECORD_SCHEMA = pa.schema(
    [
        ("symbol", pa.string()),
        ("trading_day", pa.date32()),
        ("event_time_ms", pa.int64()),
        ("trade_id", pa.string()),
        ("price", pa.float64()),
        ("volume", pa.float64()),
        ("conditions", pa.list_(pa.string())),
        ("received_at_ms", pa.int64()),
        ("kafka_partition", pa.int32()),
        ("kafka_offset", pa.int64()),
        ("dead_letter_reason", pa.string()),
        ("dead_letter_payload", pa.binary()),
        ("dead_letter_at_ms", pa.int64()),
    ]
)
_TRADE_FIELDS = RECORD_SCHEMA.names[:10]


def to_record_batch(messages: Iterable[tuple[int, int, DecodedMessage]]) -> pa.RecordBatch:
    """Columns for (partition, offset, decoded message) triples: every trade row, then each dead letter."""
    columns: dict[str, list] = {name: [] for name in RECORD_SCHEMA.names}
    dead_letters: list[tuple[int, int, DeadLetter]] = []
    for partition, offset, decoded in messages:
        for row in decoded.rows:
            columns["symbol"].append(row.symbol)
            columns["trading_day"].append(row.trading_day)
            columns["event_time_ms"].append(row.event_time_ms)
            columns["trade_id"].append(row.trade_id)
            columns["price"].append(row.price)
            columns["volume"].append(row.volume)
            columns["conditions"].append(list(row.conditions) if row.conditions is not None else None)
            columns["received_at_ms"].append(row.received_at_ms)
            columns["kafka_partition"].append(row.kafka_partition)
            columns["kafka_offset"].append(row.kafka_offset)
        if decoded.dead_letter is not None:
            dead_letters.append((partition, offset, decoded.dead_letter))
    trade_count = len(columns["symbol"])
    for name in ("dead_letter_reason", "dead_letter_payload", "dead_letter_at_ms"):
        columns[name].extend([None] * trade_count)
    for partition, offset, letter in dead_letters:
        for name in _TRADE_FIELDS:
            columns[name].append(None)
        columns["kafka_partition"][-1] = partition
        columns["kafka_offset"][-1] = offset
        columns["received_at_ms"][-1] = letter.received_at_ms
        columns["dead_letter_reason"].append(letter.reason)
        columns["dead_letter_payload"].append(letter.payload)
        columns["dead_letter_at_ms"].append(letter.received_at_ms)
    return pa.RecordBatch.from_pydict(columns, schema=RECORD_SCHEMA)


@dataclass(slots=True)
class CollectedBatch:
    """One micro-batch back on the driver: rows in Kafka order, dead letters, and the offsets they came from."""

    rows: list[TradeRow]
    dead_letters: list[DeadLetter]
    offset_ranges: dict[int, tuple[int, int]]
    messages: int


def collect_records(table: pa.Table) -> CollectedBatch:
    """Rebuild trade rows and dead letters from collected record columns."""
    data = table.to_pydict()
    rows: list[TradeRow] = []
    dead_letters: list[DeadLetter] = []
    ranges: dict[int, tuple[int, int]] = {}
    messages: set[tuple[int, int]] = set()
    for index, reason in enumerate(data["dead_letter_reason"]):
        partition, offset = data["kafka_partition"][index], data["kafka_offset"][index]
        if (partition, offset) not in messages:
            messages.add((partition, offset))
            first, last = ranges.get(partition, (offset, offset))
            ranges[partition] = (min(first, offset), max(last, offset))
        if reason is not None:
            dead_letters.append(
                DeadLetter(data["dead_letter_payload"][index], reason, DEAD_LETTER_SOURCE, data["dead_letter_at_ms"][index])
            )
            continue
        conditions = data["conditions"][index]
        rows.append(
            TradeRow(
                symbol=data["symbol"][index],
                trading_day=data["trading_day"][index],
                event_time_ms=data["event_time_ms"][index],
                trade_id=data["trade_id"][index],
                price=data["price"][index],
                volume=data["volume"][index],
                conditions=tuple(conditions) if conditions is not None else None,
                received_at_ms=data["received_at_ms"][index],
                kafka_partition=partition,
                kafka_offset=offset,
            )
        )
    rows.sort(key=lambda row: row.trade_id)
    return CollectedBatch(rows, dead_letters, ranges, len(messages))
