"""The ingest's websocket dropped 100 times: every trade sent while connected lands in `market` once, the run
never dies, and an upstream that accepts and then closes at once is not hammered (the backoff grows).

The real ingest path (FinnhubStream -> FrameHandler -> TrackedProducer -> the session's broker) talks to
the Finnhub simulator through a small TCP proxy. The proxy lets the test count every connection attempt
and, for the accept-then-close phase, answer the websocket handshake itself and close right after it (the
simulator has no such mode). Drops while streaming use the simulator's own control, mostly a clean close
frame and every fifth a bare TCP reset.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import threading
import time
from collections import Counter

import pytest
from confluent_kafka import Producer

from stock_platform.finnhub.websocket import FinnhubStream, StreamSettings
from stock_platform.ingest.frames import FrameHandler
from stock_platform.ingest.runner import WindowSettings, run_ingest_window
from stock_platform.kafka.avro_codec import TradeBatchCodec
from stock_platform.kafka.producer import TrackedProducer
from stock_platform.kafka.settings import KafkaSettings
from stock_platform_local.simulator import SimulatorConfig, SimulatorServer
from stock_platform_tests.faults.stream_faults import report_figures
from stock_platform_tests.kafka.topics import create_topic, read_all
from stock_platform_tests.pipeline_helpers import Trade, sent_valid_trades, wait_for

pytestmark = pytest.mark.faults

SYMBOLS = ("AAPL", "MSFT", "NVDA", "BINANCE:BTCUSDT")
STREAMING_DROPS = 80
CLOSING_ACCEPTS = 20
ABORT_EVERY = 5
# Generous for a loaded 2-core machine; nothing below asserts a tight timing.
WAIT_S = 30.0
# The stream's retry timing, scaled down so 100 drops fit in a test: a connection that stayed up
# HEALTHY_S resets the backoff; the streaming phase keeps each connection up a bit longer than that.
SETTINGS = {"backoff_initial_s": 0.05, "backoff_max_s": 2.0, "healthy_after_s": 0.3}
UPTIME_BEFORE_DROP_S = 0.4
_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Proxy:
    """TCP proxy to the simulator, recording when each connection was accepted.

    In `closing` mode it completes the websocket handshake itself and immediately sends a close frame:
    an upstream that accepts us and then drops us (like a plan limit), which the backoff must not hammer.
    """

    def __init__(self, upstream_port: int) -> None:
        self._upstream_port = upstream_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.closing = False
        self.accepts: list[tuple[float, bool]] = []
        self._stopped = False
        threading.Thread(target=self._accept_loop, name="proxy-accept", daemon=True).start()

    def _accept_loop(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.accepts.append((time.monotonic(), self.closing))
            target = self._accept_then_close if self.closing else self._forward
            threading.Thread(target=target, args=(client,), daemon=True).start()

    def _accept_then_close(self, client: socket.socket) -> None:
        with client:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = client.recv(4096)
                if not chunk:
                    return
                request += chunk
            key = next(
                line.split(b":", 1)[1].strip()
                for line in request.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key:")
            )
            accept = base64.b64encode(hashlib.sha1(key + _WS_GUID.encode()).digest())
            client.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
                + b"\x88\x02\x03\xe9"  # close frame, 1001 going away
            )
            time.sleep(0.05)

    def _forward(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self._upstream_port))
        except OSError:
            client.close()
            return

        def pump(source: socket.socket, sink: socket.socket) -> None:
            try:
                while chunk := source.recv(65536):
                    sink.sendall(chunk)
            except OSError:
                pass
            # Either side gone: take down both, as a dropped connection would.
            for side in (source, sink):
                try:
                    side.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        threading.Thread(target=pump, args=(upstream, client), daemon=True).start()
        pump(client, upstream)
        client.close()
        upstream.close()

    def stop(self) -> None:
        self._stopped = True
        self._listener.close()


def _market_trades(bootstrap_servers: str, topic: str) -> list[Trade]:
    codec = TradeBatchCodec()
    return [Trade.from_finnhub(trade) for record in read_all(bootstrap_servers, topic) for trade in codec.decode(record.value()).trades]


def test_hundred_websocket_drops_lose_and_duplicate_nothing_and_backoff_bounds_reconnects(
    kafka_broker, unique_name, tmp_path, record_property
):
    market, dead_letter = unique_name("market"), unique_name("dead_letter")
    create_topic(kafka_broker.bootstrap_servers, market, partitions=4)
    create_topic(kafka_broker.bootstrap_servers, dead_letter)
    sent_log = tmp_path / "sent.jsonl"
    sim = SimulatorServer(SimulatorConfig(rate=1000, ping_interval_s=0, seed=11, sent_log_path=sent_log))
    sim.start()
    proxy = Proxy(sim.port)
    producer = TrackedProducer(Producer(KafkaSettings(kafka_broker.bootstrap_servers).producer_config()))
    handler = FrameHandler(producer, market, dead_letter, source="simulator")
    stream = FinnhubStream(StreamSettings(f"ws://127.0.0.1:{proxy.port}/", SYMBOLS, **SETTINGS))
    outcome: dict[str, object] = {}

    def ingest() -> None:
        try:
            outcome["totals"] = run_ingest_window(stream, handler, producer, WindowSettings(report_interval_s=5, flush_timeout_s=60), lambda report: None)
        except BaseException as error:  # noqa: BLE001 - handed to the test thread to fail there
            outcome["error"] = error

    def subscribed() -> bool:
        stats = sim.stats()
        return stats["connections"] == 1 and set(stats["subscriptions"]) == set(SYMBOLS)

    def all_sent_trades_received() -> bool:
        return handler.stats.trades == sim.stats()["trades_sent"]

    worker = threading.Thread(target=ingest, name="ingest")
    worker.start()
    drops = 0
    try:
        # Phase 1: drops while trades stream, each after the connection carried trades for a while.
        for drop in range(STREAMING_DROPS):
            wait_for(subscribed, f"reconnect before drop {drop}", WAIT_S)
            connected_at, sent_at_connect = time.monotonic(), sim.stats()["trades_sent"]
            wait_for(
                lambda: sim.stats()["trades_sent"] > sent_at_connect and time.monotonic() - connected_at >= UPTIME_BEFORE_DROP_S,
                f"trades on connection {drop}",
                WAIT_S,
            )
            if drop % ABORT_EVERY == ABORT_EVERY - 1:
                # A reset throws away what is in flight in TCP buffers; trades are only "sent while connected"
                # if they could arrive, so pause the market and let the ingest read everything first.
                sim.pause()
                wait_for(all_sent_trades_received, "in-flight trades read before the reset", WAIT_S)
                assert sim.drop_connections(abort=True) == 1
                sim.resume()
            else:
                assert sim.drop_connections() == 1
            drops += 1
            assert worker.is_alive(), outcome.get("error")

        # Phase 2: the upstream accepts and closes at once. The last streaming connection was healthy, so the
        # backoff starts small again; it must grow from there.
        wait_for(subscribed, "reconnect before the accept-then-close phase", WAIT_S)
        sim.pause()
        wait_for(all_sent_trades_received, "in-flight trades read before the accept-then-close phase", WAIT_S)
        proxy.closing = True
        accepts_before = len(proxy.accepts)
        assert sim.drop_connections() == 1
        drops += 1
        wait_for(lambda: len(proxy.accepts) >= accepts_before + CLOSING_ACCEPTS, "accept-then-close reconnects", 120)
        proxy.closing = False
        # Every accepted-then-closed connection is a drop (a few more than CLOSING_ACCEPTS may have come in).
        closing_times = [at for at, closing in proxy.accepts[accepts_before:] if closing]
        drops += len(closing_times)
        sim.resume()
        wait_for(subscribed, "reconnect after the accept-then-close phase", 60)
        wait_for(lambda: sim.stats()["trades_sent"] > 0 and handler.stats.trades > 0, "trades after the last phase", WAIT_S)
        time.sleep(1)
        sim.pause()
        wait_for(all_sent_trades_received, "the last trades read", WAIT_S)
    finally:
        stream.stop_event.set()
        worker.join(120)
        producer.close(10)
        proxy.stop()
        sim.stop()  # flushes the sent log

    assert not worker.is_alive() and "error" not in outcome, outcome.get("error")
    sent = Counter(entry.trade for entry in sent_valid_trades(sent_log, []))
    arrived = Counter(_market_trades(kafka_broker.bootstrap_servers, market))
    lost, duplicates = sum((sent - arrived).values()), sum((arrived - sent).values())
    gaps = [later - earlier for earlier, later in zip(closing_times, closing_times[1:])]
    closing_rate = (len(closing_times) - 1) / (closing_times[-1] - closing_times[0])
    report_figures(
        record_property,
        "websocket_drops",
        {
            "drops_injected": drops,
            "streaming_drops": STREAMING_DROPS,
            "accept_then_close_drops": len(closing_times),
            "trades_sent": sum(sent.values()),
            "trades_lost": lost,
            "duplicates": duplicates,
            "stream_reconnects": stream.reconnects,
            "accept_then_close_reconnects_per_s": round(closing_rate, 2),
            "accept_then_close_first_gaps_s": [round(gap, 3) for gap in gaps[:3]],
            "accept_then_close_last_gaps_s": [round(gap, 3) for gap in gaps[-8:]],
        },
    )
    assert drops >= 100
    assert lost == 0 and duplicates == 0
    assert outcome["totals"].delivery_failures == 0
    # Bounded: without a backoff this loop reconnects hundreds of times a second.
    assert closing_rate < 5
    # Growing: full jitter makes single gaps random, but the late ones (up to backoff_max_s) must be
    # longer on average than the first three (at most 0.1, 0.2, 0.4 s plus handshake time each).
    assert sum(gaps[-8:]) / 8 > sum(gaps[:3]) / 3
