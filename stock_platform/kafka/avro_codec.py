"""Avro encoding of trade batches and dead letters for the `market` topics (fastavro, schemaless)."""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer

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


# -- market.TradeBatch/v1 written byte for byte as fastavro writes it, for the ingest's hot path.
# fastavro spends ~4.4 us per trade walking the schema generically; this writer knows the one schema the
# ingest produces (schemas/market_trade_batch_v1.avsc) and costs a fraction of that. It takes only the
# shape validation lets through (exactly the keys s, p, t, v, c: str, finite number, int, finite number,
# None or list of str) and returns None for anything else, which TradeBatchCodec then gives to fastavro.
# A test compares both writers' bytes on generated batches.
_DOUBLE = struct.Struct("<d").pack
_LONG_MIN, _LONG_MAX = -(1 << 63), (1 << 63) - 1
_NULL_BRANCH, _ARRAY_BRANCH = b"\x00", b"\x02"
_END_OF_ARRAY = b"\x00"
_TRADE_KEY_COUNT = len("sptvc")
# Bounds the memory of encoded symbols and condition lists (a stream repeats a handful of each).
_MAX_REMEMBERED = 10_000


def zigzag_long(value: int) -> bytes:
    """An Avro `long`: zigzag-encoded, then a little-endian base-128 varint."""
    number = (value << 1) ^ (value >> 63)
    if 1 << 35 <= number < 1 << 42:  # six bytes: every epoch-ms time from 1970 to 2109, unrolled
        return bytes((
            number & 0x7F | 0x80, number >> 7 & 0x7F | 0x80, number >> 14 & 0x7F | 0x80,
            number >> 21 & 0x7F | 0x80, number >> 28 & 0x7F | 0x80, number >> 35,
        ))  # fmt: skip
    out = []
    while number > 0x7F:
        out.append((number & 0x7F) | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)


def _string(text: str) -> bytes:
    data = text.encode("utf-8")
    return zigzag_long(len(data)) + data


# An epoch-ms time (1970 to 2109) zigzags to a six-byte varint: its first byte comes from this table of the
# low 7 bits, the other five change only every 64 ms of event time, so the encoder keeps the last ones it wrote.
_SIX_BYTE_VARINT_MIN, _SIX_BYTE_VARINT_END = 1 << 35, 1 << 42
_INT_AS_DOUBLE_MAX = 2**53


# A trade's price, time and volume in one pack: the time's varint as its first byte, the next four, and the last.
_PRICE_TIME_VOLUME = struct.Struct("<dBIBd").pack
# Zigzagged, a count or length below 64 is one byte.
_SMALL_LONGS = tuple(bytes((number << 1,)) for number in range(64))


def _varint_high_bytes(high: int) -> tuple[int, int]:
    """Bytes 2 to 5 (a little-endian int) and byte 6 of a six-byte varint whose value shifted right by 7 is `high`."""
    return (
        (high & 0x7F | 0x80)
        | (high >> 7 & 0x7F | 0x80) << 8
        | (high >> 14 & 0x7F | 0x80) << 16
        | (high >> 21 & 0x7F | 0x80) << 24,
        high >> 28,
    )


class TradeBatchV1Encoder:
    """Writes a TradeBatch/v1 record; None when a trade has a shape it does not take (fastavro then does).

    The loop over trades is written out in one function: it runs for every trade the ingest receives, and a
    call per trade or per field costs more than the encoding itself.
    """

    def __init__(self) -> None:
        self._symbols: dict[str, bytes] = {}
        self._conditions: dict[tuple[str, ...], bytes] = {}
        self._type = _string("trade")
        self._last_time_high = (-1, (0, 0))
        self._last_received_at = (None, b"")
        self._last_source = (None, b"")

    def __call__(self, trades: Sequence[Mapping[str, Any]], received_at_ms: int, source: str) -> bytes | None:
        if type(received_at_ms) is not int or not _LONG_MIN <= received_at_ms <= _LONG_MAX or type(source) is not str:
            return None
        parts = [self._type]
        if trades:
            count = len(trades)
            parts.append(_SMALL_LONGS[count] if count < len(_SMALL_LONGS) else zigzag_long(count))
        symbols, known_conditions, pack = self._symbols, self._conditions, _PRICE_TIME_VOLUME
        six_byte_min, six_byte_end = _SIX_BYTE_VARINT_MIN, _SIX_BYTE_VARINT_END
        last_high, (high_bytes, top_byte) = self._last_time_high
        for trade in trades:
            if type(trade) is not dict or len(trade) != _TRADE_KEY_COUNT:
                return None
            try:
                symbol, price, event_time, volume = trade["s"], trade["p"], trade["t"], trade["v"]
                conditions = trade["c"]
            except KeyError:
                return None
            # x - x is 0.0 for every finite float and NaN for inf and NaN.
            if type(price) is float:
                if price - price != 0.0:
                    return None
            elif type(price) is not int or not -_INT_AS_DOUBLE_MAX <= price <= _INT_AS_DOUBLE_MAX:
                return None
            if type(volume) is float:
                if volume - volume != 0.0:
                    return None
            elif type(volume) is not int or not -_INT_AS_DOUBLE_MAX <= volume <= _INT_AS_DOUBLE_MAX:
                return None
            if type(symbol) is not str:
                return None
            symbol_bytes = symbols.get(symbol)
            if symbol_bytes is None:
                symbol_bytes = self._encoded_string(symbol)
                if symbol_bytes is None:
                    return None
                self._remember(symbols, symbol, symbol_bytes)
            if type(event_time) is not int:
                return None
            zigzag = event_time << 1
            if six_byte_min <= zigzag < six_byte_end:
                if zigzag >> 7 != last_high:
                    last_high = zigzag >> 7
                    high_bytes, top_byte = _varint_high_bytes(last_high)
                numbers = pack(price, zigzag & 0x7F | 0x80, high_bytes, top_byte, volume)
            elif _LONG_MIN <= event_time <= _LONG_MAX:
                numbers = b"".join((_DOUBLE(price), zigzag_long(event_time), _DOUBLE(volume)))
            else:
                return None
            if conditions is None:
                conditions_bytes = _NULL_BRANCH
            else:
                if type(conditions) is not list:
                    return None
                key = tuple(conditions)
                try:
                    conditions_bytes = known_conditions.get(key)
                except TypeError:  # an unhashable item: no string
                    return None
                if conditions_bytes is None:
                    conditions_bytes = self._encoded_conditions(key)
                    if conditions_bytes is None:
                        return None
                    self._remember(known_conditions, key, conditions_bytes)
            parts += (symbol_bytes, numbers, conditions_bytes)
        self._last_time_high = (last_high, (high_bytes, top_byte))
        parts += (_END_OF_ARRAY, self._received_at_bytes(received_at_ms), self._source_bytes(source))
        if parts[-1] is None:
            return None
        return b"".join(parts)

    def _received_at_bytes(self, received_at_ms: int) -> bytes:
        # Every message of a frame carries the same time.
        last, encoded = self._last_received_at
        if received_at_ms != last:
            encoded = zigzag_long(received_at_ms)
            self._last_received_at = (received_at_ms, encoded)
        return encoded

    def _source_bytes(self, source: str) -> bytes | None:
        last, encoded = self._last_source
        if source != last:
            encoded = self._encoded_string(source)
            self._last_source = (source, encoded)
        return encoded

    @staticmethod
    def _encoded_string(text: str) -> bytes | None:
        try:
            return _string(text)
        except UnicodeEncodeError:  # lone surrogates: fastavro raises its own error for them
            return None

    @classmethod
    def _encoded_conditions(cls, conditions: tuple[Any, ...]) -> bytes | None:
        if not all(type(item) is str for item in conditions):
            return None
        items = [cls._encoded_string(item) for item in conditions]
        if None in items:
            return None
        counted = [zigzag_long(len(items)), *items] if items else []
        return b"".join([_ARRAY_BRANCH, *counted, _END_OF_ARRAY])

    @staticmethod
    def _remember(known: dict, key: Any, encoded: bytes) -> None:
        if len(known) < _MAX_REMEMBERED:
            known[key] = encoded


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
