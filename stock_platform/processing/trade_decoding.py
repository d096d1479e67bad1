"""Kafka `market` message -> trade rows with deterministic ids and trading days (shared by both engines)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from stock_platform.ingest.validation import EARLIEST_PLAUSIBLE_MS, TradeValidator
from stock_platform.kafka.avro_codec import SCHEMA_HEADER, TRADE_BATCH_SCHEMA, TradeBatchCodec
from stock_platform.models import DeadLetter, TradeRow, make_trade_id, new_trade_row
from stock_platform.processing.light_avro import Trade, read_trade_batch_v1

TradingDayFn = Callable[[str, int], date]
DEAD_LETTER_SOURCE = "stream_processor"
_MAX_REASONS_PER_DEAD_LETTER = 5
# The position part of a trade id (make_trade_id), precomputed for the positions frames actually reach.
_POSITION_DIGITS = 6
_CACHED_POSITIONS = 1024
_POSITIONS = [f"{position:0{_POSITION_DIGITS}d}" for position in range(_CACHED_POSITIONS)]
_TRADE_BATCH_V1 = TRADE_BATCH_SCHEMA.encode()


def _as_tuple(trade: dict) -> Trade:
    """A trade fastavro decoded (a dict of the schema's fields) in light_avro's tuple shape."""
    conditions = trade["c"]
    return trade["s"], float(trade["p"]), trade["t"], float(trade["v"]), None if conditions is None else tuple(conditions)


@dataclass(frozen=True, slots=True)
class KeyedDeadLetter:
    """A dead letter and its Kafka key, which names the source message so a replay produces the same key."""

    key: bytes
    letter: DeadLetter


def dead_letter_key(topic: str, partition: int, offset: int, timestamp_ms: int) -> bytes:
    """`topic/partition/offset/timestamp` of the source message.

    The position alone would repeat once the topic is recreated (offsets start again at 0); the
    message's own timestamp tells those incarnations apart, and a replay reads the same timestamp.
    """
    return f"{topic}/{partition}/{offset}/{timestamp_ms}".encode()


@dataclass(slots=True)
class DecodedMessage:
    """The trade rows of one Kafka message, and a dead letter when any part of it was rejected."""

    rows: list[TradeRow] = field(default_factory=list)
    dead_letter: KeyedDeadLetter | None = None
    rejected_trades: int = 0


class TradeDecoder:
    """Decodes a TradeBatch, re-validates every trade and assigns trade ids and trading days.

    Trades are never dropped silently: a message that cannot be read (no value, no key, no or an
    unreadable schema header, bytes that are not a TradeBatch), or any trade failing re-validation,
    becomes a dead letter carrying the original bytes and the reasons. Nothing here raises on bad
    input: one poison message must not stop the stream (every restart would replay it).
    """

    def __init__(
        self,
        topic: str,
        trading_day: TradingDayFn,
        validator: TradeValidator | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._topic = topic
        self._trading_day = trading_day
        self._validator = validator or TradeValidator()
        self._codec = TradeBatchCodec()
        self._clock = clock

    def decode(
        self, partition: int, offset: int, timestamp_ms: int, key: bytes | None, value: bytes | None, schema: bytes | None
    ) -> DecodedMessage:
        """Turn one message into rows; the position of a trade in its batch is part of its id.

        `schema` is the raw value of the message's schema header (None when missing or null): without
        it the writer schema of the schemaless Avro bytes is unknown, so the message is not guessed at.
        """
        now_ms = int(self._clock() * 1000)
        where = f"{self._topic}[{partition}]@{offset}"
        if value is None:
            return self._rejected(partition, offset, timestamp_ms, b"", f"{where}: message has no value", now_ms)
        if key is None:
            reason = f"{where}: message has no key (the key must be the symbol)"
            return self._rejected(partition, offset, timestamp_ms, value, reason, now_ms)
        if schema is None:
            reason = f"{where}: message has no {SCHEMA_HEADER!r} header naming its Avro schema"
            return self._rejected(partition, offset, timestamp_ms, value, reason, now_ms)
        read = read_trade_batch_v1(value) if schema == _TRADE_BATCH_V1 else None
        if read is None:
            try:
                batch = self._codec.decode(value, schema.decode("utf-8"))
            except Exception as error:  # noqa: BLE001 - any decoding failure is a dead letter, with its reason
                reason = f"{where}: not a decodable TradeBatch ({type(error).__name__}: {error})"
                return self._rejected(partition, offset, timestamp_ms, value, reason, now_ms)
            read = [_as_tuple(trade) for trade in batch.trades], batch.received_at_ms
        trades, received_at_ms = read
        expected_symbol = key.decode("utf-8", "replace")
        decoded = DecodedMessage()
        reasons: list[str] = []
        append = decoded.rows.append
        trading_day = self._trading_day
        # Every trade of a message shares its id prefix; only the position differs.
        id_prefix = make_trade_id(self._topic, partition, offset, 0)[:-_POSITION_DIGITS]
        # The usual trade is checked inline (the decoded types are the schema's); any other goes through
        # the validator, which words the reason or accepts it after all.
        limits = self._validator.limits
        max_price, max_volume = limits.max_price, limits.max_volume
        latest_ms = now_ms + limits.max_future_skew_ms
        valid_symbol = self._validator.symbol_ok(expected_symbol)
        valid_conditions = self._validator.known_conditions
        for position, (symbol, price, event_time_ms, volume, conditions) in enumerate(trades):
            if not (
                valid_symbol
                and symbol == expected_symbol
                and 0 < price <= max_price
                and 0 <= volume <= max_volume
                and EARLIEST_PLAUSIBLE_MS <= event_time_ms <= latest_ms
                and (conditions is None or conditions in valid_conditions)
            ):
                trade = {"s": symbol, "p": price, "t": event_time_ms, "v": volume, "c": None if conditions is None else list(conditions)}
                reason = self._problem(trade, expected_symbol, now_ms)
                if reason is not None:
                    reasons.append(f"data[{position}]: {reason}")
                    continue
                if conditions is not None:
                    self._validator.remember_conditions(conditions)
            append(
                new_trade_row(
                    (
                        expected_symbol,
                        trading_day(expected_symbol, event_time_ms),
                        event_time_ms,
                        id_prefix + (_POSITIONS[position] if position < _CACHED_POSITIONS else f"{position:0{_POSITION_DIGITS}d}"),
                        price,
                        volume,
                        conditions,
                        received_at_ms,
                        partition,
                        offset,
                    )
                )
            )
        if reasons:
            shown = "; ".join(reasons[:_MAX_REASONS_PER_DEAD_LETTER])
            more = len(reasons) - _MAX_REASONS_PER_DEAD_LETTER
            reason = f"{where}: {len(reasons)} of {len(trades)} trades rejected: {shown}"
            letter = DeadLetter(value, reason + (f"; +{more} more" if more > 0 else ""), DEAD_LETTER_SOURCE, now_ms)
            decoded.dead_letter = KeyedDeadLetter(dead_letter_key(self._topic, partition, offset, timestamp_ms), letter)
            decoded.rejected_trades = len(reasons)
        return decoded

    def _problem(self, trade: dict, expected_symbol: str, now_ms: int) -> str | None:
        reason = self._validator.problem(trade, now_ms)
        if reason is None and trade["s"] != expected_symbol:
            reason = f"symbol {trade['s']!r} differs from the message key {expected_symbol!r} (key must be the symbol)"
        return reason

    def _rejected(self, partition: int, offset: int, timestamp_ms: int, payload: bytes, reason: str, now_ms: int) -> DecodedMessage:
        key = dead_letter_key(self._topic, partition, offset, timestamp_ms)
        return DecodedMessage(dead_letter=KeyedDeadLetter(key, DeadLetter(payload, reason, DEAD_LETTER_SOURCE, now_ms)))
