import json
import threading
import time
from unittest.mock import MagicMock

import pytest
from confluent_kafka import Producer

from stock_platform.ingest.frames import FrameHandler
from stock_platform.ingest.runner import WindowSettings, run_ingest_window
from stock_platform.ingest.validation import TradeValidator
from stock_platform.kafka.avro_codec import DeadLetterCodec, TradeBatchCodec
from stock_platform.kafka.producer import DeliveryFailedError, TrackedProducer
from stock_platform.kafka.settings import KafkaSettings
from stock_platform_local.servers.process import free_port
from stock_platform_tests.fakes import FakeProducer
from stock_platform_tests.kafka.topics import create_topic, read_all

NOW_MS = int(time.time() * 1000)


def _frame(*trades):
    return json.dumps({"type": "trade", "data": list(trades)})


def _trade(symbol="AAPL", price=190.0, volume=10, offset_ms=0):
    return {"s": symbol, "p": price, "t": NOW_MS - 1000 + offset_ms, "v": volume, "c": ["1"]}


@pytest.fixture
def fake():
    return FakeProducer()


@pytest.fixture
def handler(fake):
    return FrameHandler(TrackedProducer(fake), "market", "market.dead_letter", source="simulator")


def test_valid_trades_are_grouped_per_symbol_and_keyed_by_symbol(handler, fake):
    handler.handle(_frame(_trade("AAPL"), _trade("MSFT", 420.0), _trade("AAPL", 191.0, offset_ms=1)), NOW_MS)
    messages = fake.on("market")
    assert [key for _, key, _, _ in messages] == [b"AAPL", b"MSFT"]
    aapl = TradeBatchCodec().decode(messages[0][2])
    assert [trade["p"] for trade in aapl.trades] == [190.0, 191.0]
    assert aapl.received_at_ms == NOW_MS and aapl.source == "simulator"
    assert handler.stats.trades == 3 and handler.stats.messages == 2


def test_pings_produce_nothing(handler, fake):
    handler.handle('{"type":"ping"}', NOW_MS)
    assert fake.produced == []
    assert handler.stats.pings == 1


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{garbage", "not valid JSON"),
        ('{"type":"error","msg":"Invalid symbol"}', "finnhub error frame: Invalid symbol"),
        ('{"type":"trade"}', "without a 'data' array"),
    ],
)
def test_bad_frames_are_dead_lettered_verbatim(handler, fake, raw, reason):
    handler.handle(raw, NOW_MS)
    [(topic, key, value, headers)] = fake.produced
    record = DeadLetterCodec().decode(value)
    assert topic == "market.dead_letter" and key is None
    assert record["payload"] == (raw if isinstance(raw, bytes) else raw.encode())
    assert reason in record["reason"]
    assert record["received_at"] == NOW_MS
    assert handler.stats.dead_letters == 1


def test_invalid_trades_are_dead_lettered_and_valid_ones_still_sent(handler, fake):
    raw = _frame(_trade("AAPL"), _trade("AAPL", price=-1), _trade("MSFT", volume=-5))
    handler.handle(raw, NOW_MS)
    assert [key for _, key, _, _ in fake.on("market")] == [b"AAPL"]
    [(_, _, value, _)] = fake.on("market.dead_letter")
    record = DeadLetterCodec().decode(value)
    assert record["payload"] == raw.encode()
    assert record["reason"].startswith("2 of 3 trades rejected: data[1]: AAPL: price -1")
    assert "data[2]: MSFT: volume -5" in record["reason"]
    assert handler.stats.rejected_trades == 2 and handler.stats.trades == 1


def test_event_time_range_is_tracked(handler):
    handler.handle(_frame(_trade(offset_ms=5), _trade(offset_ms=-7), _trade("MSFT", offset_ms=2)), NOW_MS)
    assert handler.stats.event_times.first_ms == NOW_MS - 1007
    assert handler.stats.event_times.last_ms == NOW_MS - 995


def test_full_producer_queue_applies_backpressure_instead_of_dropping():
    fake = FakeProducer(buffer_errors=3)
    handler = FrameHandler(TrackedProducer(fake), "market", "market.dead_letter", source="simulator")
    handler.handle(_frame(_trade()), NOW_MS)
    assert len(fake.on("market")) == 1
    assert fake.polls >= 3


def test_delivery_failures_are_counted_and_raised():
    producer = TrackedProducer(FakeProducer(failing_topics=("market",)))
    FrameHandler(producer, "market", "market.dead_letter", source="simulator").handle(_frame(_trade()), NOW_MS)
    producer.flush(1)
    assert producer.failed == 1 and producer.last_error == "broker down"
    with pytest.raises(DeliveryFailedError, match="1 Kafka messages failed"):
        producer.raise_on_failures()


def test_acknowledged_offsets_are_tracked_per_partition(fake):
    producer = TrackedProducer(fake)
    handler = FrameHandler(producer, "market", "market.dead_letter", source="simulator")
    for _ in range(3):
        handler.handle(_frame(_trade()), NOW_MS)
    producer.flush(1)
    assert producer.offset_ranges == {("market", 0): [0, 2]}


def test_closing_flushes_first_and_releases_the_client():
    fake = FakeProducer()
    producer = TrackedProducer(fake)
    producer.send("market", b"AAPL", b"v", [])
    assert producer.close(5) == 0
    assert producer.delivered == 1 and fake.closed


def test_closing_with_a_dead_broker_purges_instead_of_hanging():
    client = MagicMock()
    client.flush.side_effect = [3, 0]
    assert TrackedProducer(client).close(0.1) == 3
    assert [call[0] for call in client.method_calls] == ["flush", "purge", "flush", "close"]


def _real_producer(bootstrap_servers, **overrides):
    return TrackedProducer(Producer(KafkaSettings(bootstrap_servers).producer_config(**overrides)))


def test_a_full_queue_of_the_real_client_applies_backpressure_and_loses_nothing(kafka_broker, unique_name):
    market = unique_name("market")
    create_topic(kafka_broker.bootstrap_servers, market, partitions=2)
    producer = _real_producer(kafka_broker.bootstrap_servers, **{"queue.buffering.max.messages": 5})
    handler = FrameHandler(producer, market, unique_name("dead_letter"), source="simulator")
    for offset in range(200):
        handler.handle(_frame(_trade("AAPL", offset_ms=offset), _trade("MSFT", offset_ms=offset)), NOW_MS)
    assert producer.close(30) == 0
    assert producer.delivered == handler.stats.messages == 400 and producer.failed == 0
    records = read_all(kafka_broker.bootstrap_servers, market)
    times = {symbol: [] for symbol in (b"AAPL", b"MSFT")}
    for record in records:
        times[record.key()].extend(trade["t"] for trade in TradeBatchCodec().decode(record.value()).trades)
    assert times == {symbol: [NOW_MS - 1000 + offset for offset in range(200)] for symbol in times}


def test_a_message_the_broker_rejects_is_counted_and_raised_and_later_ones_still_go_through(kafka_broker, unique_name):
    market = unique_name("market")
    create_topic(kafka_broker.bootstrap_servers, market, config={"max.message.bytes": "1024"})
    producer = _real_producer(kafka_broker.bootstrap_servers, **{"compression.type": "none"})
    producer.send(market, b"AAPL", b"x" * 10_000, [])
    assert producer.flush(30) == 0
    producer.send(market, b"AAPL", b"small", [])
    assert producer.close(30) == 0
    assert (producer.delivered, producer.failed) == (1, 1)
    assert "MSG_SIZE_TOO_LARGE" in producer.last_error
    with pytest.raises(DeliveryFailedError, match="1 Kafka messages failed"):
        producer.raise_on_failures()


def test_closing_with_no_broker_purges_and_counts_the_lost_messages_instead_of_hanging():
    producer = _real_producer(f"127.0.0.1:{free_port()}")
    for _ in range(3):
        producer.send("market", b"AAPL", b"v", [])
    started = time.monotonic()
    assert producer.close(1) == 3
    assert time.monotonic() - started < 10
    assert producer.failed == 3 and "Purged" in producer.last_error


class _InterruptedStream:
    """Delivers `frames` frames as fast as it can, then is interrupted as a run is when terminated or Ctrl-C'd."""

    def __init__(self, frames):
        self.stop_event = threading.Event()
        self.reconnects = 0
        self._frames = frames

    def run(self, on_frame, on_tick=None):
        for offset in range(self._frames):
            on_frame(_frame(_trade("AAPL", offset_ms=offset), _trade("MSFT", offset_ms=offset)), NOW_MS)
        raise KeyboardInterrupt


def test_an_interrupted_window_still_delivers_every_handled_trade(kafka_broker, unique_name):
    market = unique_name("market")
    create_topic(kafka_broker.bootstrap_servers, market, partitions=2)
    producer = _real_producer(kafka_broker.bootstrap_servers, **{"linger.ms": 1000})
    handler = FrameHandler(producer, market, unique_name("dead_letter"), source="simulator")
    reports = []
    with pytest.raises(KeyboardInterrupt):
        run_ingest_window(_InterruptedStream(300), handler, producer, WindowSettings(flush_timeout_s=30), reports.append)
    assert reports[-1].totals.acknowledged == reports[-1].totals.handler.messages == 600
    assert len(read_all(kafka_broker.bootstrap_servers, market)) == 600
    producer.close(5)


def _trade_frame_text(symbol='"AAPL"', price="190.0", volume="10"):
    return '{"type":"trade","data":[{"s":"MSFT","p":420.0,"t":%d,"v":1},{"s":%s,"p":%s,"t":%d,"v":%s}]}' % (
        NOW_MS - 1000,
        symbol,
        price,
        NOW_MS - 1000,
        volume,
    )


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (_trade_frame_text(price="1" + "0" * 400), "data[1]: AAPL: price 1000"),
        (_trade_frame_text(volume="9" * 400), "data[1]: AAPL: volume 999"),
        (_trade_frame_text(symbol='"\\ud800"'), r"data[1]: symbol '\ud800'"),
        (_trade_frame_text(symbol='"AAPL","c":["\\udfff"]'), r"data[1]: AAPL: conditions ['\udfff']"),
    ],
)
def test_unencodable_trades_are_dead_lettered_and_the_rest_of_the_frame_still_sent(handler, fake, raw, reason):
    handler.handle(raw, NOW_MS)
    assert [key for _, key, _, _ in fake.on("market")] == [b"MSFT"]
    [(_, _, value, _)] = fake.on("market.dead_letter")
    record = DeadLetterCodec().decode(value)
    assert record["payload"] == raw.encode()
    assert record["reason"].startswith(f"1 of 2 trades rejected: {reason}")
    assert len(record["reason"]) < 200


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ('{"type":"error","msg":"bad \\ud800 symbol"}', r"finnhub error frame: bad \ud800 symbol"),
        ("[" * 100_000 + "]" * 100_000, "JSON nested deeper than the parser's recursion limit"),
        ('{"type":"error","msg":"' + "x" * 100_000 + '"}', "finnhub error frame: xxx"),
    ],
)
def test_frames_that_used_to_crash_the_ingest_are_dead_lettered(handler, fake, raw, reason):
    handler.handle(raw, NOW_MS)
    [(topic, _, value, _)] = fake.produced
    record = DeadLetterCodec().decode(value)
    assert topic == "market.dead_letter" and record["payload"] == raw.encode()
    assert record["reason"].startswith(reason) and len(record["reason"]) <= 1000


class _AcceptEverything(TradeValidator):
    def accepts(self, trade, now_ms):
        return True

    def problem(self, trade, now_ms=None):
        return None


def test_an_unexpected_error_dead_letters_the_whole_frame_naming_the_exception(fake):
    handler = FrameHandler(TrackedProducer(fake), "market", "market.dead_letter", "simulator", _AcceptEverything())
    raw = _frame(_trade("AAPL"), _trade("MSFT", price="not a number"))
    handler.handle(raw, NOW_MS)
    [(topic, _, value, _)] = fake.produced
    record = DeadLetterCodec().decode(value)
    assert topic == "market.dead_letter" and record["payload"] == raw.encode()
    assert record["reason"].startswith("unexpected ValueError while handling the frame: could not convert")
