"""A reader for market.TradeBatch/v1 that knows the schema, for the stream's hot path.

fastavro walks the schema generically: ~3 us per message plus ~3.5 us per trade. This reader knows
the one record shape (schemas/market_trade_batch_v1.avsc) and reads the usual trade (a six-byte
epoch-ms varint between the two doubles) with one struct call. It returns what fastavro returns
(as tuples in the schema's field order instead of dicts), or None for anything it does not read exactly as
fastavro would (negative block counts, over-long varints, bad UTF-8, truncated bytes): the caller
then hands the message to fastavro, which decodes it or raises the error a dead letter reports.
"""

from __future__ import annotations

import struct

# (symbol, price, event time ms, volume, conditions): a trade in the schema's field order
Trade = tuple[str, float, int, float, "tuple[str, ...] | None"]

# price (double), event time as a six-byte varint (every epoch-ms time from 1970 to 2109: its first three
# bytes, then the slowly changing last three, whose value is cached), volume (double)
_PRICE_TIME_VOLUME = struct.Struct("<dBBB3sd").unpack_from
_PRICE_TIME_VOLUME_SIZE = 22
_DOUBLE = struct.Struct("<d").unpack_from
_MAX_REMEMBERED = 10_000
_time_high_parts: dict[bytes, int] = {}
_MAX_VARINT_BYTES = 10
_LONG_LIMIT = 1 << 64


class _NotExact(Exception):
    """The bytes hold something this reader leaves to fastavro."""


def _long(data: bytes, pos: int) -> tuple[int, int]:
    """An Avro long (zigzag varint) at `pos`, and the position after it."""
    byte = data[pos]
    if byte < 0x80:
        return (byte >> 1) ^ -(byte & 1), pos + 1
    number, shift, end = byte & 0x7F, 7, pos + _MAX_VARINT_BYTES
    pos += 1
    while True:
        if pos >= end:
            raise _NotExact
        byte = data[pos]
        number |= (byte & 0x7F) << shift
        pos += 1
        if byte < 0x80:
            break
        shift += 7
    if number >= _LONG_LIMIT:
        raise _NotExact
    return (number >> 1) ^ -(number & 1), pos


def _count(data: bytes, pos: int) -> tuple[int, int]:
    """An array block's item count; negative counts (followed by a byte size) are left to fastavro."""
    count, pos = _long(data, pos)
    if count < 0:
        raise _NotExact
    return count, pos


def _string(data: bytes, pos: int) -> tuple[str, int]:
    length, pos = _long(data, pos)
    end = pos + length
    if length < 0 or end > len(data):
        raise _NotExact
    return data[pos:end].decode("utf-8"), end


def _conditions(data: bytes, pos: int) -> tuple[tuple[str, ...] | None, int]:
    branch = data[pos]
    if branch == 0:
        return None, pos + 1
    if branch != 2:
        raise _NotExact
    items: list[str] = []
    count, pos = _count(data, pos + 1)
    while count:
        for _ in range(count):
            item, pos = _string(data, pos)
            items.append(item)
        count, pos = _count(data, pos)
    return tuple(items), pos


def _trade(data: bytes, pos: int) -> tuple[Trade, int]:
    """One trade, the general way (any varint length)."""
    symbol, pos = _string(data, pos)
    (price,) = _DOUBLE(data, pos)
    event_time, pos = _long(data, pos + 8)
    (volume,) = _DOUBLE(data, pos)
    conditions, pos = _conditions(data, pos + 8)
    return (symbol, price, event_time, volume, conditions), pos


def _time_high_part(raw: bytes) -> int | None:
    """Bits 21.. of a six-byte varint's value from its last three bytes, halved (zigzag of an even value)."""
    high = _time_high_parts.get(raw)
    if high is None:
        if not (raw[0] & 0x80 and raw[1] & 0x80 and raw[2] < 0x80):
            return None
        high = ((raw[0] & 0x7F) << 21 | (raw[1] & 0x7F) << 28 | raw[2] << 35) >> 1
        if len(_time_high_parts) < _MAX_REMEMBERED:
            _time_high_parts[raw] = high
    return high


def _trades(data: bytes, pos: int, count: int, trades: list[Trade]) -> int:
    """`count` trades from `pos`: the usual shape inline (one-byte lengths, a positive six-byte time), else `_trade`."""
    size = len(data)
    append = trades.append
    for _ in range(count):
        length = data[pos]
        start = pos + 1
        head = start + (length >> 1)
        if not length & 0x81 and head + _PRICE_TIME_VOLUME_SIZE < size:
            price, b0, b1, b2, raw_high, volume = _PRICE_TIME_VOLUME(data, head)
            high = _time_high_part(raw_high) if b0 & b1 & b2 & 0x80 and not b0 & 1 else None
            if high is not None:
                event_time = high | ((b0 & 0x7F) | (b1 & 0x7F) << 7 | (b2 & 0x7F) << 14) >> 1
                pos = head + _PRICE_TIME_VOLUME_SIZE
                branch = data[pos]
                if branch == 0:
                    conditions, pos = None, pos + 1
                elif branch == 2 and data[pos + 1] == 2 and not (item := data[pos + 2]) & 0x81:
                    # one condition code, the usual shape: [2 (array branch), 2 (one item), length, code, 0]
                    end = pos + 3 + (item >> 1)
                    if data[end] == 0:
                        conditions, pos = (data[pos + 3 : end].decode("utf-8"),), end + 1
                    else:
                        conditions, pos = _conditions(data, pos)
                else:
                    conditions, pos = _conditions(data, pos)
                append((data[start:head].decode("utf-8"), price, event_time, volume, conditions))
                continue
        trade, pos = _trade(data, pos)
        append(trade)
    return pos


def read_trade_batch_v1(data: bytes) -> tuple[list[Trade], int] | None:
    """(trades, received_at) of the TradeBatch/v1 record in `data` as fastavro decodes it (conditions as a
    tuple), or None to leave the bytes to fastavro."""
    try:
        _, pos = _string(data, 0)  # the frame type, always "trade"
        trades = []
        count, pos = _count(data, pos)
        while count:
            pos = _trades(data, pos, count, trades)
            count, pos = _count(data, pos)
        received_at, pos = _long(data, pos)
        _string(data, pos)  # the source: read so that bytes fastavro would reject are left to it
    except (_NotExact, IndexError, struct.error, UnicodeDecodeError):
        return None
    return trades, received_at
