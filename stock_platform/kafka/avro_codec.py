"""Avro encoding of trade batches and dead letters for the `market` topics (fastavro, schemaless)."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer

from stock_platform.kafka.trade_batch_encoder import TradeBatchV1Encoder
from stock_platform.paths import project_dir

SCHEMA_HEADER = "schema"
TRADE_BATCH_SCHEMA = "market.TradeBatch/v1"
DEAD_LETTER_SCHEMA = "market.DeadLetter/v1"
_SCHEMA_FILES = {
    TRADE_BATCH_SCHEMA: "market_trade_batch_v1.avsc",
    DEAD_LETTER_SCHEMA: "dead_letter_v1.avsc",
}
# The schema new messages are written with; readers always decode into it.
CURRENT_TRADE_BATCH_SCHEMA = TRADE_BATCH_SCHEMA


class UnknownSchemaError(ValueError):
    """A message names a schema version this reader does not know."""


@lru_cache(maxsize=None)
def load_schema(name: str) -> dict[str, Any]:
    """Parse a schema from `schemas/` by its header name (e.g. `market.TradeBatch/v1`)."""
    try:
        file_name = _SCHEMA_FILES[name]
    except KeyError:
        raise UnknownSchemaError(f"unknown schema {name!r}; known: {sorted(_SCHEMA_FILES)}") from None
    with open(project_dir("schemas") / file_name, encoding="utf-8") as handle:
        return parse_schema(json.load(handle))


@dataclass(frozen=True, slots=True)
class DecodedBatch:
    """A decoded TradeBatch: Finnhub-shaped trade dicts plus ingest metadata."""

    trades: list[dict[str, Any]]
    received_at_ms: int
    source: str


class TradeBatchCodec:
    """Encodes/decodes one symbol's trades from one frame as a schemaless Avro record."""

    def __init__(self) -> None:
        self._writer_schema = load_schema(CURRENT_TRADE_BATCH_SCHEMA)
        self.headers = [(SCHEMA_HEADER, CURRENT_TRADE_BATCH_SCHEMA.encode())]
        self._encode_v1 = TradeBatchV1Encoder() if CURRENT_TRADE_BATCH_SCHEMA == TRADE_BATCH_SCHEMA else None

    def encode(self, trades: Sequence[Mapping[str, Any]], received_at_ms: int, source: str) -> bytes:
        """Encode Finnhub-shaped trade dicts (keys s, p, t, v, optional c) of one symbol."""
        if self._encode_v1 is not None:
            value = self._encode_v1(trades, received_at_ms, source)
            if value is not None:
                return value
        buffer = io.BytesIO()
        schemaless_writer(
            buffer,
            self._writer_schema,
            {"type": "trade", "data": trades, "received_at": received_at_ms, "source": source},
        )
        return buffer.getvalue()

    def decode(self, value: bytes, schema_name: str | None = None) -> DecodedBatch:
        """Decode a message written with `schema_name` (from its header) into the current schema."""
        writer_schema = load_schema(schema_name or CURRENT_TRADE_BATCH_SCHEMA)
        record = schemaless_reader(io.BytesIO(value), writer_schema, self._writer_schema)
        return DecodedBatch(record["data"], record["received_at"], record["source"])


def schema_header(headers: Sequence[tuple[str, bytes | None]] | None) -> bytes | None:
    """The raw schema header of a consumed Kafka message (None when missing or null).

    Left undecoded: any producer can write a header that is not UTF-8, and the stream's decoder must
    turn such a message into a dead letter rather than raise before it is looked at.
    """
    for key, value in headers or ():
        if key == SCHEMA_HEADER:
            return value
    return None


def schema_name_from_headers(headers: Sequence[tuple[str, bytes | None]] | None) -> str | None:
    """The schema name of a message this project wrote (raises on a header that is not UTF-8)."""
    value = schema_header(headers)
    return value.decode() if value is not None else None


class DeadLetterCodec:
    """Encodes/decodes dead-letter records."""

    def __init__(self) -> None:
        self._schema = load_schema(DEAD_LETTER_SCHEMA)
        self.headers = [(SCHEMA_HEADER, DEAD_LETTER_SCHEMA.encode())]

    def encode(self, payload: bytes, reason: str, source: str, received_at_ms: int) -> bytes:
        buffer = io.BytesIO()
        schemaless_writer(
            buffer,
            self._schema,
            {"payload": payload, "reason": reason, "source": source, "received_at": received_at_ms},
        )
        return buffer.getvalue()

    def decode(self, value: bytes) -> dict[str, Any]:
        return schemaless_reader(io.BytesIO(value), self._schema, self._schema)
