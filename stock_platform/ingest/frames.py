"""Frame handling for the ingest: classify, validate, group per symbol, encode, produce."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import orjson

from stock_platform.event_time import EventTimeRange
from stock_platform.finnhub.protocol import FrameKind, classify_frame
from stock_platform.ingest.quick_frames import Message, QuickFrameEncoder
from stock_platform.ingest.validation import TradeValidator
from stock_platform.kafka.avro_codec import (
    CURRENT_TRADE_BATCH_SCHEMA,
    TRADE_BATCH_SCHEMA,
    DeadLetterCodec,
    TradeBatchCodec,
)
from stock_platform.kafka.producer import TrackedProducer
from stock_platform.kafka.settings import DEFAULT_MAX_MESSAGE_BYTES

logger = logging.getLogger(__name__)

_MAX_REASONS_PER_DEAD_LETTER = 5
# Reasons are one line for a human; bounded so a quoted bad value can never dominate a dead letter.
_MAX_REASON_CHARS = 1000
# librdkafka counts a record's key, value and headers plus its own framing against message.max.bytes; this
# covers the framing of one record in a batch of its own, with room to spare.
_RECORD_OVERHEAD_BYTES = 256
# The varint length prefix of an Avro `bytes` field up to 2 GiB.
_AVRO_LENGTH_PREFIX_MAX_BYTES = 5


@dataclass(slots=True)
class IngestStats:
    """Running totals of one ingest process."""

    frames: int = 0
    trades: int = 0
    messages: int = 0
    bytes: int = 0
    rejected_trades: int = 0
    dead_letters: int = 0
    pings: int = 0
    finnhub_errors: int = 0
    reconnects: int = 0
    event_times: EventTimeRange = field(default_factory=EventTimeRange)


class FrameHandler:
    """Turns raw websocket frames into Kafka messages on the market and dead-letter topics.

    Valid trades of one frame are grouped per symbol: one Avro TradeBatch per symbol, keyed by the
    symbol so per-symbol order holds within a partition. A batch that would exceed the producer's
    `message.max.bytes` (`max_message_bytes`) is split in order into several; a dead letter's copy of the
    frame is truncated to fit, with the frame's size noted in the reason. The usual frame, all of its trades
    valid, is checked and encoded in one pass (QuickFrameEncoder); every other goes the full way.
    """

    def __init__(
        self,
        producer: TrackedProducer,
        market_topic: str,
        dead_letter_topic: str,
        source: str,
        validator: TradeValidator | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        self._producer = producer
        self._market_topic = market_topic
        self._dead_letter_topic = dead_letter_topic
        self._source = source
        self._validator = validator or TradeValidator()
        self._codec = TradeBatchCodec()
        self._dead_letter_codec = DeadLetterCodec()
        self._max_message_bytes = max_message_bytes
        self._trade_batch_room = self._room(b"", self._codec.headers)
        # The quick path writes TradeBatch/v1 only; with a newer current schema every frame goes the full way.
        self._quick_encoder = (
            QuickFrameEncoder(self._validator, source, self._trade_batch_room)
            if CURRENT_TRADE_BATCH_SCHEMA == TRADE_BATCH_SCHEMA
            else None
        )
        self.stats = IngestStats()

    def handle(self, raw: str | bytes, received_at_ms: int | None = None) -> None:
        """Process one frame. Never raises for bad input: it becomes a dead letter."""
        if received_at_ms is None:
            received_at_ms = int(time.time() * 1000)
        self.stats.frames += 1
        try:
            self._handle(raw, received_at_ms)
        except Exception as error:
            # Whatever bad input slips past parsing and validation must not end the run or lose the frame:
            # nothing of it was produced yet (trades are encoded before any send), so keep it whole.
            reason = f"unexpected {type(error).__name__} while handling the frame: {error}"
            self._dead_letter(raw, reason, received_at_ms)

    def _handle(self, raw: str | bytes, received_at_ms: int) -> None:
        messages = self._quickly_encoded(raw, received_at_ms)
        if messages is not None:
            self._send(messages)
            return
        frame = classify_frame(raw)
        if frame.kind is FrameKind.PING:
            self.stats.pings += 1
            return
        if frame.kind is FrameKind.ERROR:
            self.stats.finnhub_errors += 1
            logger.warning("Finnhub sent an error frame: %s", frame.message)
            self._dead_letter(raw, f"finnhub error frame: {frame.message}", received_at_ms)
            return
        if frame.kind is FrameKind.MALFORMED:
            self._dead_letter(raw, frame.message, received_at_ms)
            return
        self._handle_trades(raw, frame.trades, received_at_ms)

    def _quickly_encoded(self, raw: str | bytes, received_at_ms: int) -> list[Message] | None:
        """The messages of a trade frame whose every trade passes the quick check; None for any other frame.

        orjson parses a frame in half the time json takes, but it refuses some input json reads (NaN, a lone
        surrogate "\\ud800", UTF-16) and reads an integer beyond 64 bits as a float. None of that can pass the
        quick check in a trade, whose keys must be exactly those it reads, and another key of the frame is read
        by neither path, so what is sent is the same; every other frame goes the full way below (json, full
        validation, dead letters).
        """
        if self._quick_encoder is None:
            return None
        try:
            document = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        if type(document) is not dict or document.get("type") != "trade":
            return None
        trades = document.get("data")
        if type(trades) is not list:
            return None
        return self._quick_encoder(trades, received_at_ms)

    def _handle_trades(self, raw: str | bytes, trades: list[Any], received_at_ms: int) -> None:
        by_symbol: dict[str, list[dict[str, Any]]] = {}
        reasons: list[str] = []
        accepts, problem = self._validator.accepts, self._validator.problem
        for position, trade in enumerate(trades):
            # The quick check passes the usual trade; the full one words why another is rejected.
            if accepts(trade, received_at_ms) or (reason := problem(trade, received_at_ms)) is None:
                by_symbol.setdefault(trade["s"], []).append(trade)
            else:
                reasons.append(f"data[{position}]: {reason}")
        encoded = self._encode(by_symbol, received_at_ms)
        if reasons:
            self.stats.rejected_trades += len(reasons)
            shown = "; ".join(reasons[:_MAX_REASONS_PER_DEAD_LETTER])
            more = len(reasons) - _MAX_REASONS_PER_DEAD_LETTER
            self._dead_letter(
                raw,
                f"{len(reasons)} of {len(trades)} trades rejected: {shown}" + (f"; +{more} more" if more > 0 else ""),
                received_at_ms,
            )
        self._send(encoded)

    def _encode(self, by_symbol: dict[str, list[dict[str, Any]]], received_at_ms: int) -> list[Message]:
        """Every message of a frame, encoded before any is sent: a frame that fails here is dead-lettered whole."""
        encoded = []
        for symbol, symbol_trades in by_symbol.items():
            key = symbol.encode()
            for batch, value in self._encode_fitting(key, symbol_trades, received_at_ms):
                encoded.append((key, value, [trade["t"] for trade in batch]))
        return encoded

    def _send(self, messages: list[Message]) -> None:
        send, topic, headers = self._producer.send, self._market_topic, self._codec.headers
        sent = sent_bytes = sent_trades = 0
        try:
            for key, value, event_times in messages:
                send(topic, key, value, headers)
                sent += 1
                sent_bytes += len(value)
                sent_trades += len(event_times)
        finally:
            # Counted once per frame rather than per message, and exactly what was sent should a send raise.
            stats = self.stats
            stats.messages += sent
            stats.bytes += sent_bytes
            stats.trades += sent_trades
            stats.event_times.add(list(chain.from_iterable(event_times for _, _, event_times in messages[:sent])))
        self._producer.poll()

    def _room(self, key: bytes, headers: list[tuple[str, bytes]]) -> int:
        """Bytes a message value may take under the producer's limit, given its key and headers."""
        header_bytes = sum(len(name) + len(value) for name, value in headers)
        return self._max_message_bytes - _RECORD_OVERHEAD_BYTES - len(key) - header_bytes

    def _encode_fitting(
        self, key: bytes, trades: list[dict[str, Any]], received_at_ms: int
    ) -> list[tuple[list[dict[str, Any]], bytes]]:
        """Encode one symbol's trades as one message, or halve them in order until every part fits.

        A single trade is returned as it is: validation bounds its size far below any sensible limit.
        """
        value = self._codec.encode(trades, received_at_ms, self._source)
        if len(value) <= self._trade_batch_room - len(key) or len(trades) == 1:
            return [(trades, value)]
        middle = len(trades) // 2
        return self._encode_fitting(key, trades[:middle], received_at_ms) + self._encode_fitting(
            key, trades[middle:], received_at_ms
        )

    def _dead_letter(self, raw: str | bytes, reason: str, received_at_ms: int) -> None:
        payload = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
        # Finnhub's error text and exception messages can hold lone surrogates, which Avro strings cannot.
        reason = reason.encode("utf-8", "backslashreplace").decode("utf-8")[:_MAX_REASON_CHARS]
        encode, room = self._dead_letter_codec.encode, self._room(b"", self._dead_letter_codec.headers)
        value = encode(payload, reason, self._source, received_at_ms)
        if len(value) > room:
            # Kept rather than lost: the frame's start is what tells a reader what it was.
            limit = self._max_message_bytes
            reason += f" [frame of {len(payload)} bytes truncated to fit the {limit}-byte message limit]"
            overhead = len(encode(b"", reason, self._source, received_at_ms)) + _AVRO_LENGTH_PREFIX_MAX_BYTES
            value = encode(payload[: room - overhead], reason, self._source, received_at_ms)
        self._producer.send(self._dead_letter_topic, None, value, self._dead_letter_codec.headers)
        self.stats.dead_letters += 1
        logger.warning("Dead-lettered a frame: %s", reason)
