"""Kafka `market` message -> trade rows with deterministic ids and trading days (shared by both engines)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from stock_platform.kafka.avro_codec import SCHEMA_HEADER, TradeBatchCodec
from stock_platform.models import DeadLetter, TradeRow, make_trade_id
from stock_platform.ingest.validation import TradeValidator

TradingDayFn = Callable[[str, int], date]
DEAD_LETTER_SOURCE = "stream_processor"
_MAX_REASONS_PER_DEAD_LETTER = 5


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
        letter_key = dead_letter_key(self._topic, partition, offset, timestamp_ms)
        if value is None:
            return self._rejected(letter_key, b"", f"{where}: message has no value", now_ms)
        if key is None:
            return self._rejected(letter_key, value, f"{where}: message has no key (the key must be the symbol)", now_ms)
        if schema is None:
            return self._rejected(letter_key, value, f"{where}: message has no {SCHEMA_HEADER!r} header naming its Avro schema", now_ms)
        try:
            batch = self._codec.decode(value, schema.decode("utf-8"))
        except Exception as error:  # noqa: BLE001 - any decoding failure is a dead letter, with its reason
            reason = f"{where}: not a decodable TradeBatch ({type(error).__name__}: {error})"
            return self._rejected(letter_key, value, reason, now_ms)
        expected_symbol = key.decode("utf-8", "replace")
        decoded = DecodedMessage()
        reasons: list[str] = []
        problem = self._validator.problem
        for position, trade in enumerate(batch.trades):
            reason = problem(trade, now_ms)
            if reason is None and trade["s"] != expected_symbol:
                reason = f"symbol {trade['s']!r} differs from the message key {expected_symbol!r} (key must be the symbol)"
            if reason is not None:
                reasons.append(f"data[{position}]: {reason}")
                continue
            symbol, event_time_ms = trade["s"], trade["t"]
            conditions = trade["c"]
            decoded.rows.append(
                TradeRow(
                    symbol=symbol,
                    trading_day=self._trading_day(symbol, event_time_ms),
                    event_time_ms=event_time_ms,
                    trade_id=make_trade_id(self._topic, partition, offset, position),
                    price=float(trade["p"]),
                    volume=float(trade["v"]),
                    conditions=tuple(conditions) if conditions is not None else None,
                    received_at_ms=batch.received_at_ms,
                    kafka_partition=partition,
                    kafka_offset=offset,
                )
            )
        if reasons:
            shown = "; ".join(reasons[:_MAX_REASONS_PER_DEAD_LETTER])
            more = len(reasons) - _MAX_REASONS_PER_DEAD_LETTER
            reason = f"{where}: {len(reasons)} of {len(batch.trades)} trades rejected: {shown}"
            letter = DeadLetter(value, reason + (f"; +{more} more" if more > 0 else ""), DEAD_LETTER_SOURCE, now_ms)
            decoded.dead_letter = KeyedDeadLetter(letter_key, letter)
            decoded.rejected_trades = len(reasons)
        return decoded

    @staticmethod
    def _rejected(key: bytes, payload: bytes, reason: str, now_ms: int) -> DecodedMessage:
        return DecodedMessage(dead_letter=KeyedDeadLetter(key, DeadLetter(payload, reason, DEAD_LETTER_SOURCE, now_ms)))
