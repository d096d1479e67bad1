"""market.TradeBatch/v1 written byte for byte as fastavro writes it, for the ingest's hot path.

fastavro spends ~4.4 us per trade walking the schema generically; this writer knows the one schema the ingest
produces (schemas/market_trade_batch_v1.avsc) and costs a fraction of that. It takes only the shape validation
lets through (exactly the keys s, p, t, v, c: str, finite number, int, finite number, None or list of str) and
returns None for anything else, which TradeBatchCodec then gives to fastavro. Its pieces are public for the
ingest's quick path (stock_platform.ingest.quick_frames), which writes them while it checks the trades.
Tests compare both writers' bytes with fastavro's on generated batches.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping, Sequence
from typing import Any

DOUBLE = struct.Struct("<d").pack
LONG_MIN, LONG_MAX = -(1 << 63), (1 << 63) - 1
NULL_BRANCH, _ARRAY_BRANCH = b"\x00", b"\x02"
END_OF_ARRAY = b"\x00"
_TRADE_KEY_COUNT = len("sptvc")
# Bounds the memory of encoded symbols and condition lists (a stream repeats a handful of each).
MAX_REMEMBERED = 10_000
# An int beyond this is not exactly a double: fastavro's rounding of one is not something to copy.
INT_AS_DOUBLE_MAX = 2**53


def zigzag_long(value: int) -> bytes:
    """An Avro `long`: zigzag-encoded, then a little-endian base-128 varint."""
    number = (value << 1) ^ (value >> 63)
    if 1 << 35 <= number < 1 << 42:  # six bytes: every epoch-ms time from mid-1970 to 2039, unrolled
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


# An epoch-ms time from mid-1970 to 2039 zigzags to a six-byte varint: its first byte is the low 7 bits with the
# continuation bit, the other five change only every 64 ms of event time, so the encoders keep the last ones written.
SIX_BYTE_VARINT_MIN, SIX_BYTE_VARINT_END = 1 << 35, 1 << 42
# A trade's price, time and volume in one pack: the time's varint as its first byte, the next four, and the last.
PRICE_TIME_VOLUME = struct.Struct("<dBIBd").pack
# Zigzagged, a count or length below 64 is one byte.
SMALL_LONGS = tuple(bytes((number << 1,)) for number in range(64))
TRADE_TYPE = _string("trade")


def varint_high_bytes(high: int) -> tuple[int, int]:
    """Bytes 2 to 5 (a little-endian int) and byte 6 of a six-byte varint whose value shifted right by 7 is `high`."""
    return (
        (high & 0x7F | 0x80)
        | (high >> 7 & 0x7F | 0x80) << 8
        | (high >> 14 & 0x7F | 0x80) << 16
        | (high >> 21 & 0x7F | 0x80) << 24,
        high >> 28,
    )


def encoded_string(text: str) -> bytes | None:
    """An Avro `string`; None for one holding lone surrogates (fastavro raises its own error for them)."""
    try:
        return _string(text)
    except UnicodeEncodeError:
        return None


def encoded_conditions(conditions: Sequence[Any]) -> bytes | None:
    """A trade's `c` holding a list: the union's array branch; None unless every item is an encodable str."""
    if not all(type(item) is str for item in conditions):
        return None
    items = [encoded_string(item) for item in conditions]
    if None in items:
        return None
    counted = [zigzag_long(len(items)), *items] if items else []
    return b"".join([_ARRAY_BRANCH, *counted, END_OF_ARRAY])


def remember(known: dict, key: Any, encoded: bytes) -> None:
    """Remember an encoding while the memory is below its bound."""
    if len(known) < MAX_REMEMBERED:
        known[key] = encoded


class LastEncoded:
    """An encoding function that remembers its last value's encoding: consecutive messages usually repeat it."""

    def __init__(self, encode: Callable[[Any], bytes | None]) -> None:
        self._encode = encode
        self._last: tuple[Any, bytes | None] = (None, b"")

    def __call__(self, value: Any) -> bytes | None:
        last, encoded = self._last
        if value != last:
            encoded = self._encode(value)
            self._last = (value, encoded)
        return encoded


class TradeBatchV1Encoder:
    """Writes a TradeBatch/v1 record; None when a trade has a shape it does not take (fastavro then does).

    The loop over trades is written out in one function: it runs for every trade the ingest receives, and a
    call per trade or per field costs more than the encoding itself.
    """

    def __init__(self) -> None:
        self._symbols: dict[str, bytes] = {}
        self._conditions: dict[tuple[str, ...], bytes] = {}
        self._last_time_high = (-1, (0, 0))
        # Every message of a frame carries the same time and source.
        self._received_at_bytes = LastEncoded(zigzag_long)
        self._source_bytes = LastEncoded(encoded_string)

    def __call__(self, trades: Sequence[Mapping[str, Any]], received_at_ms: int, source: str) -> bytes | None:
        if type(received_at_ms) is not int or not LONG_MIN <= received_at_ms <= LONG_MAX or type(source) is not str:
            return None
        parts = [TRADE_TYPE]
        if trades:
            count = len(trades)
            parts.append(SMALL_LONGS[count] if count < len(SMALL_LONGS) else zigzag_long(count))
        symbols, known_conditions, pack = self._symbols, self._conditions, PRICE_TIME_VOLUME
        six_byte_min, six_byte_end = SIX_BYTE_VARINT_MIN, SIX_BYTE_VARINT_END
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
            elif type(price) is not int or not -INT_AS_DOUBLE_MAX <= price <= INT_AS_DOUBLE_MAX:
                return None
            if type(volume) is float:
                if volume - volume != 0.0:
                    return None
            elif type(volume) is not int or not -INT_AS_DOUBLE_MAX <= volume <= INT_AS_DOUBLE_MAX:
                return None
            if type(symbol) is not str:
                return None
            symbol_bytes = symbols.get(symbol)
            if symbol_bytes is None:
                symbol_bytes = encoded_string(symbol)
                if symbol_bytes is None:
                    return None
                remember(symbols, symbol, symbol_bytes)
            if type(event_time) is not int:
                return None
            zigzag = event_time << 1
            if six_byte_min <= zigzag < six_byte_end:
                if zigzag >> 7 != last_high:
                    last_high = zigzag >> 7
                    high_bytes, top_byte = varint_high_bytes(last_high)
                numbers = pack(price, zigzag & 0x7F | 0x80, high_bytes, top_byte, volume)
            elif LONG_MIN <= event_time <= LONG_MAX:
                numbers = b"".join((DOUBLE(price), zigzag_long(event_time), DOUBLE(volume)))
            else:
                return None
            if conditions is None:
                conditions_bytes = NULL_BRANCH
            else:
                if type(conditions) is not list:
                    return None
                key = tuple(conditions)
                try:
                    conditions_bytes = known_conditions.get(key)
                except TypeError:  # an unhashable item: no string
                    return None
                if conditions_bytes is None:
                    conditions_bytes = encoded_conditions(key)
                    if conditions_bytes is None:
                        return None
                    remember(known_conditions, key, conditions_bytes)
            parts += (symbol_bytes, numbers, conditions_bytes)
        self._last_time_high = (last_high, (high_bytes, top_byte))
        parts += (END_OF_ARRAY, self._received_at_bytes(received_at_ms), self._source_bytes(source))
        if parts[-1] is None:
            return None
        return b"".join(parts)

