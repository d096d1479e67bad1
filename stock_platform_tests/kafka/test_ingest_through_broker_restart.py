"""The ingest's real producer path keeps producing while the broker is restarted under it: nothing lost, nothing twice.

A scripted stream stands in for the websocket and numbers every trade per symbol (in its volume), so the
topic read back afterwards shows any loss, duplicate or reordering per key.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import pytest
from confluent_kafka import Producer

from stock_platform.ingest.frames import FrameHandler
from stock_platform.ingest.runner import WindowSettings, run_ingest_window
from stock_platform.kafka.avro_codec import DeadLetterCodec, TradeBatchCodec
from stock_platform.kafka.producer import TrackedProducer
from stock_platform.kafka.settings import KafkaSettings
from stock_platform_tests.kafka.topics import create_topic, read_all, restart

SYMBOLS = ["AAPL", "MSFT", "NVDA", "AMZN", "BINANCE:BTCUSDT", "BINANCE:ETHUSDT"]
_MALFORMED_EVERY = 97
_TRADES_PER_SYMBOL_PER_FRAME = 2


class ScriptedStream:
    """Duck-types FinnhubStream: a frame every `interval_s` with numbered trades of every symbol, plus some garbage."""

    def __init__(self, interval_s: float = 0.004) -> None:
        self.stop_event = threading.Event()
        self.reconnects = 0
        self.sent = dict.fromkeys(SYMBOLS, 0)
        self.malformed = 0
        self._interval_s = interval_s

    def run(self, on_frame: Callable[[str | bytes, int], None], on_tick: Callable[[], None] | None = None) -> None:
        last_tick = time.monotonic()
        frames = 0
        while not self.stop_event.is_set():
            now_ms = int(time.time() * 1000)
            frames += 1
            if frames % _MALFORMED_EVERY == 0:
                on_frame(b'{"type":"trade","data":[{"s":', now_ms)
                self.malformed += 1
            else:
                data = []
                for _ in range(_TRADES_PER_SYMBOL_PER_FRAME):
                    for symbol in SYMBOLS:
                        data.append({"s": symbol, "p": 100.0, "t": now_ms, "v": self.sent[symbol], "c": ["1"]})
                        self.sent[symbol] += 1
                on_frame(json.dumps({"type": "trade", "data": data}), now_ms)
            if on_tick is not None and time.monotonic() - last_tick >= 0.5:
                on_tick()
                last_tick = time.monotonic()
            time.sleep(self._interval_s)


def _sequences_per_symbol(bootstrap_servers: str, topic: str) -> dict[str, list[int]]:
    codec = TradeBatchCodec()
    sequences: dict[str, list[int]] = {}
    partition_of: dict[str, int] = {}
    for record in read_all(bootstrap_servers, topic):
        symbol = record.key().decode()
        assert partition_of.setdefault(symbol, record.partition()) == record.partition()
        for trade in codec.decode(record.value()).trades:
            assert trade["s"] == symbol
            sequences.setdefault(symbol, []).append(int(trade["v"]))
    return sequences


@pytest.mark.e2e
@pytest.mark.faults
@pytest.mark.parametrize("how", ["stop", "kill"])
def test_restarting_the_broker_mid_stream_loses_and_duplicates_nothing(kafka_broker_factory, unique_name, how):
    broker = kafka_broker_factory().start()
    market, dead_letter = unique_name("market"), unique_name("dead_letter")
    create_topic(broker.bootstrap_servers, market, partitions=6)
    create_topic(broker.bootstrap_servers, dead_letter)
    producer = TrackedProducer(Producer(KafkaSettings(broker.bootstrap_servers).producer_config()))
    handler = FrameHandler(producer, market, dead_letter, source="scripted")
    stream = ScriptedStream()
    outcome: dict[str, object] = {}

    def ingest() -> None:
        try:
            outcome["totals"] = run_ingest_window(
                stream, handler, producer, WindowSettings(report_interval_s=1, flush_timeout_s=60), lambda report: None
            )
        except BaseException as error:  # noqa: BLE001 - handed to the test thread to fail there
            outcome["error"] = error

    worker = threading.Thread(target=ingest, name="ingest")
    worker.start()
    try:
        time.sleep(2)
        sent_before = sum(stream.sent.values())
        restart(broker, how)
        assert sum(stream.sent.values()) > sent_before, "the stream stalled while the broker was away"
        time.sleep(2)
    finally:
        stream.stop_event.set()
        worker.join(120)
    producer.close(10)

    assert "error" not in outcome, outcome.get("error")
    totals = outcome["totals"]
    sent = stream.sent
    assert totals.handler.trades == sum(sent.values()) and totals.delivery_failures == 0
    expected = {symbol: list(range(count)) for symbol, count in sent.items()}
    assert _sequences_per_symbol(broker.bootstrap_servers, market) == expected
    dead_letters = [DeadLetterCodec().decode(record.value()) for record in read_all(broker.bootstrap_servers, dead_letter)]
    assert len(dead_letters) == stream.malformed == totals.handler.dead_letters
