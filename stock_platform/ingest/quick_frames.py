"""The ingest's quick path: a parsed trade frame checked and written as TradeBatch/v1 messages in one pass."""

from __future__ import annotations

from typing import Any

from stock_platform.ingest.validation import EARLIEST_PLAUSIBLE_MS, TradeValidator
from stock_platform.kafka.trade_batch_encoder import (
    DOUBLE,
    END_OF_ARRAY,
    INT_AS_DOUBLE_MAX,
    LONG_MAX,
    LONG_MIN,
    NULL_BRANCH,
    PRICE_TIME_VOLUME,
    SIX_BYTE_VARINT_END,
    SIX_BYTE_VARINT_MIN,
    SMALL_LONGS,
    TRADE_TYPE,
    LastEncoded,
    encoded_conditions,
    encoded_string,
    remember,
    varint_high_bytes,
    zigzag_long,
)

# A message as the handler sends it: key (the symbol), Avro value, and the event time of each of its trades.
Message = tuple[bytes, bytes, list[int]]
# A record's type and its trade count, the start of every message of up to 63 trades.
_TYPE_AND_COUNT = tuple(TRADE_TYPE + count for count in SMALL_LONGS)
_TRADE_KEY_COUNT = len("sptvc")


class QuickFrameEncoder:
    """Checks the trades of a parsed frame and writes its per-symbol messages in one pass; None for any other frame.

    A frame is taken only when every trade passes TradeValidator's quick check (`accepts`, whose checks are
    written into this loop with the validator's limits and its memory of valid symbols and condition lists) and
    has exactly the keys s, p, t, v, c; its messages are then byte for byte what TradeBatchCodec writes for each
    symbol's trades in frame order. A frame it does not take (including one whose message for a symbol would not
    fit in `max_value_bytes` less its key) is left to the handler's full path, which validates, splits and
    dead-letters: None is only ever "ask the full path", never a verdict.

    The loop is one function for the reason TradeBatchV1Encoder's is: a call per trade costs more than the work.
    """

    def __init__(self, validator: TradeValidator, source: str, max_value_bytes: int) -> None:
        self._validator = validator
        limits = validator.limits
        # Capped where an int still converts exactly to a double; a limit that is NaN fails every comparison,
        # so it sends every frame the full way, which words the reason.
        self._max_price = min(limits.max_price, INT_AS_DOUBLE_MAX)
        self._max_volume = min(limits.max_volume, INT_AS_DOUBLE_MAX)
        self._max_future_skew_ms = limits.max_future_skew_ms
        self._max_value_bytes = max_value_bytes
        # A source with lone surrogates cannot be written: no frame is then taken.
        self._source = encoded_string(source)
        # Symbols and condition lists that passed the validator's checks, with their encodings.
        self._symbols: dict[str, bytes] = {}
        self._conditions: dict[tuple[str, ...], bytes] = {}
        self._last_time_high = (-1, 0, 0)
        # Frames arrive many per millisecond: the last one's encoding usually serves.
        self._received_at_bytes = LastEncoded(zigzag_long)

    def __call__(self, trades: list[Any], received_at_ms: int) -> list[Message] | None:
        """The frame's messages, one per symbol in order of first appearance; None to leave it to the full path.

        `trades` is the frame's `data` as orjson parsed it: only JSON types (a str equals no other type).
        """
        if self._source is None or type(received_at_ms) is not int or not LONG_MIN <= received_at_ms <= LONG_MAX:
            return None
        max_price, max_volume = self._max_price, self._max_volume
        earliest, latest = EARLIEST_PLAUSIBLE_MS, min(received_at_ms + self._max_future_skew_ms, LONG_MAX)
        symbols, known_conditions, pack = self._symbols, self._conditions, PRICE_TIME_VOLUME
        six_byte_min, six_byte_end = SIX_BYTE_VARINT_MIN, SIX_BYTE_VARINT_END
        last_high, high_bytes, top_byte = self._last_time_high
        # A frame's trades mostly share a condition list: one list comparison instead of a tuple and a lookup.
        last_conditions: Any = None
        last_conditions_bytes = NULL_BRANCH
        # Per symbol: [event times, then symbol, numbers and conditions bytes of each trade].
        groups: dict[str, list[Any]] = {}
        try:
            for trade in trades:
                if type(trade) is not dict or len(trade) != _TRADE_KEY_COUNT:
                    return None
                symbol, price, event_time, volume = trade["s"], trade["p"], trade["t"], trade["v"]
                conditions = trade["c"]
                if not (
                    (type(price) is float or type(price) is int)
                    and 0 < price <= max_price  # NaN fails every comparison
                    and (type(volume) is float or type(volume) is int)
                    and 0 <= volume <= max_volume
                    and type(event_time) is int
                    and earliest <= event_time <= latest
                ):
                    return None
                if conditions is None:
                    conditions_bytes = NULL_BRANCH
                elif conditions == last_conditions:
                    conditions_bytes = last_conditions_bytes
                else:
                    if type(conditions) is not list:
                        return None
                    conditions_bytes = known_conditions.get(tuple(conditions))
                    if conditions_bytes is None:
                        conditions_bytes = self._new_conditions(conditions)
                        if conditions_bytes is None:
                            return None
                    last_conditions, last_conditions_bytes = conditions, conditions_bytes
                zigzag = event_time << 1
                if six_byte_min <= zigzag < six_byte_end:
                    if zigzag >> 7 != last_high:
                        last_high = zigzag >> 7
                        high_bytes, top_byte = varint_high_bytes(last_high)
                    numbers = pack(price, zigzag & 0x7F | 0x80, high_bytes, top_byte, volume)
                else:
                    numbers = b"".join((DOUBLE(price), zigzag_long(event_time), DOUBLE(volume)))
                group = groups.get(symbol)
                if group is not None:
                    group[0].append(event_time)
                    group += (group[1], numbers, conditions_bytes)
                    continue
                symbol_bytes = symbols.get(symbol)
                if symbol_bytes is None:
                    symbol_bytes = self._new_symbol(symbol)
                    if symbol_bytes is None:
                        return None
                groups[symbol] = [[event_time], symbol_bytes, numbers, conditions_bytes]
        except (KeyError, TypeError):  # a key missing, or a symbol or condition that is a JSON object or array
            return None
        self._last_time_high = (last_high, high_bytes, top_byte)
        return self._messages(groups, received_at_ms)

    def _messages(self, groups: dict[str, list[Any]], received_at_ms: int) -> list[Message] | None:
        tail = END_OF_ARRAY + self._received_at_bytes(received_at_ms) + self._source
        room = self._max_value_bytes
        messages = []
        for symbol, group in groups.items():
            times = group[0]
            count = len(times)
            group[0] = _TYPE_AND_COUNT[count] if count < len(_TYPE_AND_COUNT) else TRADE_TYPE + zigzag_long(count)
            group.append(tail)
            value = b"".join(group)
            key = symbol.encode()
            if len(value) > room - len(key):
                return None
            messages.append((key, value, times))
        return messages

    def _new_symbol(self, symbol: Any) -> bytes | None:
        if type(symbol) is not str or not self._validator.symbol_ok(symbol):
            return None
        encoded = encoded_string(symbol)
        if encoded is not None:
            remember(self._symbols, symbol, encoded)
        return encoded

    def _new_conditions(self, conditions: list[Any]) -> bytes | None:
        if not self._validator.conditions_ok(conditions):
            return None
        encoded = encoded_conditions(conditions)
        if encoded is not None:
            remember(self._conditions, tuple(conditions), encoded)
        return encoded

