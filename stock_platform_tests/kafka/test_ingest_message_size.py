"""Batches and dead letters above the producer's message.max.bytes are split or truncated, never rejected."""

from __future__ import annotations

import json
import time

import pytest
from confluent_kafka import Producer

from stock_platform.ingest.frames import FrameHandler
from stock_platform.kafka.avro_codec import DeadLetterCodec, TradeBatchCodec
from stock_platform.kafka.producer import TrackedProducer
from stock_platform.kafka.settings import KafkaSettings
from stock_platform_tests.fakes import FakeProducer
from stock_platform_tests.kafka.topics import create_topic, read_all

NOW_MS = int(time.time() * 1000)
_LIMIT = 20_000


def _trades(symbol: str, count: int) -> list[dict]:
    return [{"s": symbol, "p": 100.0 + n, "t": NOW_MS - 1000, "v": float(n), "c": ["1", "12"]} for n in range(count)]


def _frame(trades: list) -> bytes:
    return json.dumps({"type": "trade", "data": trades}).encode()


def _volumes(values: list[bytes]) -> list[float]:
    codec = TradeBatchCodec()
    return [trade["v"] for value in values for trade in codec.decode(value).trades]


@pytest.mark.parametrize("count", [1, 700, 701, 5000])
def test_a_batch_above_the_limit_is_split_in_order_into_messages_that_fit(count):
    fake = FakeProducer()
    handler = FrameHandler(TrackedProducer(fake), "market", "dead", source="simulator", max_message_bytes=_LIMIT)
    handler.handle(_frame(_trades("AAPL", count)), NOW_MS)
    values = [value for _, key, value, _ in fake.on("market") if key == b"AAPL"]
    assert _volumes(values) == [float(n) for n in range(count)]
    assert max(len(value) for value in values) < _LIMIT - 256
    assert handler.stats.messages == len(values) and handler.stats.trades == count
    assert fake.on("dead") == []


@pytest.mark.parametrize("size", [_LIMIT // 2, _LIMIT, 10 * _LIMIT])
def test_a_dead_letter_above_the_limit_keeps_the_frame_start_and_notes_its_size(size):
    fake = FakeProducer()
    handler = FrameHandler(TrackedProducer(fake), "market", "dead", source="simulator", max_message_bytes=_LIMIT)
    raw = b"{" + b"x" * (size - 1)
    handler.handle(raw, NOW_MS)
    [(_, _, value, _)] = fake.on("dead")
    record = DeadLetterCodec().decode(value)
    assert len(value) <= _LIMIT - 256
    assert raw.startswith(record["payload"])
    if len(record["payload"]) < size:
        assert f"[frame of {size} bytes truncated to fit the {_LIMIT}-byte message limit]" in record["reason"]
        assert len(value) > _LIMIT - 256 - 40  # filled up to the limit, less headers and a varint
    else:
        assert "truncated" not in record["reason"]


def test_oversized_batches_and_dead_letters_reach_a_broker_whose_limits_they_sit_at(kafka_broker, unique_name):
    market, dead_letter = unique_name("market"), unique_name("dead_letter")
    for topic in (market, dead_letter):
        create_topic(kafka_broker.bootstrap_servers, topic, config={"max.message.bytes": str(_LIMIT)})
    config = KafkaSettings(kafka_broker.bootstrap_servers).producer_config(
        **{"message.max.bytes": _LIMIT, "compression.type": "none", "linger.ms": 50}
    )
    producer = TrackedProducer(Producer(config))
    handler = FrameHandler(producer, market, dead_letter, source="simulator", max_message_bytes=_LIMIT)
    frames = [
        _frame(_trades("AAPL", 3000)),
        _frame(_trades("MSFT", 2000) + [{"s": "MSFT", "p": -1, "t": NOW_MS, "v": 1}]),
        b"[" + b"0," * (5 * _LIMIT) + b"]",
        _frame(_trades("AAPL", 10)),
    ]
    for raw in frames:
        handler.handle(raw, NOW_MS)
    assert producer.close(30) == 0
    assert producer.failed == 0, producer.last_error
    by_key: dict[bytes, list[bytes]] = {}
    for record in read_all(kafka_broker.bootstrap_servers, market):
        by_key.setdefault(record.key(), []).append(record.value())
    assert _volumes(by_key[b"AAPL"]) == [float(n) for n in range(3000)] + [float(n) for n in range(10)]
    assert _volumes(by_key[b"MSFT"]) == [float(n) for n in range(2000)]
    dead = [DeadLetterCodec().decode(record.value()) for record in read_all(kafka_broker.bootstrap_servers, dead_letter)]
    assert [frames[1].startswith(dead[0]["payload"]), frames[2].startswith(dead[1]["payload"])] == [True, True]
    assert "truncated to fit" in dead[0]["reason"] and "truncated to fit" in dead[1]["reason"]


def test_the_default_handler_and_producer_settings_agree_on_the_limit():
    # librdkafka refuses an oversized message in produce() itself, before any broker is involved.
    producer = TrackedProducer(Producer(KafkaSettings("127.0.0.1:1").producer_config()))
    handler = FrameHandler(producer, "market", "dead", source="simulator")
    handler.handle(_frame(_trades("AAPL", 60_000)), NOW_MS)
    handler.handle(b"{" + b"x" * 2_000_000, NOW_MS)
    assert handler.stats.trades == 60_000 and handler.stats.messages > 1 and handler.stats.dead_letters == 1
    assert producer.close(0) == handler.stats.messages + 1
