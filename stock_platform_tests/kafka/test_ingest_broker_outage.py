"""A broker that dies mid-window fails the ingest fast instead of reading the websocket and dropping every trade."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import pytest
from confluent_kafka import Producer

from stock_platform.ingest.frames import FrameHandler
from stock_platform.ingest.runner import WindowSettings, run_ingest_window
from stock_platform.kafka.producer import DeliveryFailedError, TrackedProducer
from stock_platform.kafka.settings import KafkaSettings
from stock_platform_tests.kafka.topics import create_topic

_MESSAGE_TIMEOUT_MS = 3000


class _SteadyStream:
    """Duck-types FinnhubStream: a trade every 10 ms, on_tick every 100 ms; kills the broker after `kill_after_s`."""

    def __init__(self, kill: Callable[[], None], kill_after_s: float) -> None:
        self.stop_event = threading.Event()
        self.reconnects = 0
        self.frames = 0
        self.frames_after_kill = 0
        self.killed_at: float | None = None
        self._kill, self._kill_after_s = kill, kill_after_s

    def run(self, on_frame, on_tick=None) -> None:
        started = last_tick = time.monotonic()
        while not self.stop_event.is_set():
            now_ms = int(time.time() * 1000)
            trade = {"s": "AAPL", "p": 1.0, "t": now_ms, "v": self.frames}
            on_frame(json.dumps({"type": "trade", "data": [trade]}), now_ms)
            self.frames += 1
            if self.killed_at is not None:
                self.frames_after_kill += 1
            elif time.monotonic() - started >= self._kill_after_s:
                self._kill()
                self.killed_at = time.monotonic()
            if time.monotonic() - last_tick >= 0.1:
                on_tick()
                last_tick = time.monotonic()
            time.sleep(0.01)


@pytest.mark.e2e
@pytest.mark.faults
def test_a_broker_killed_mid_window_stops_the_ingest_within_the_message_timeout(kafka_broker_factory, unique_name):
    broker = kafka_broker_factory().start()
    market = unique_name("market")
    create_topic(broker.bootstrap_servers, market)
    config = KafkaSettings(broker.bootstrap_servers).producer_config(**{"message.timeout.ms": _MESSAGE_TIMEOUT_MS})
    producer = TrackedProducer(Producer(config))
    handler = FrameHandler(producer, market, unique_name("dead_letter"), source="simulator")
    stream = _SteadyStream(broker.kill, kill_after_s=2)
    with pytest.raises(DeliveryFailedError, match=r"Kafka stopped acknowledging: \d+ messages failed .*timed out"):
        run_ingest_window(stream, handler, producer, WindowSettings(window_s=60, flush_timeout_s=1), lambda report: None)
    stopped_after_s = time.monotonic() - stream.killed_at
    producer.close(0)
    # It stops once the first message times out, not when the 60 s window ends.
    assert stopped_after_s < _MESSAGE_TIMEOUT_MS / 1000 + 5
    assert stream.frames_after_kill < 100 * (_MESSAGE_TIMEOUT_MS / 1000 + 5)
