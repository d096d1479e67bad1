"""Ingest benchmark: websocket frames -> validation -> Avro -> broker acknowledgement, against its ceiling.

Prints progress lines, then one JSON line with every figure:
- `whole_path_trades_per_s`: one ingest process fed by the simulator over a real websocket;
- `ceiling_trades_per_s`: raw produce of the same pre-encoded messages to the same broker
  (a local Apache Kafka node with its log in a temporary folder);
- `grouping`: the frame -> Kafka stage with one message per symbol per frame vs one per trade.
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from stock_platform.finnhub.settings import DEFAULT_SYMBOLS
from stock_platform.finnhub.websocket import FinnhubStream, StreamSettings
from stock_platform.ingest.frames import FrameHandler
from stock_platform.ingest.runner import WindowSettings, run_ingest_window
from stock_platform.jvm_artifacts import KAFKA_VERSION
from stock_platform.kafka.admin import TopicSpec, ensure_topics
from stock_platform.kafka.avro_codec import TradeBatchCodec
from stock_platform.kafka.producer import TrackedProducer
from stock_platform.kafka.settings import KafkaSettings
from stock_platform_local.dev import simulator_command
from stock_platform_local.servers.broker import LocalKafkaBroker
from stock_platform_local.servers.process import start_announcing_server, stop_process

TARGET_TRADES_PER_S = 50_000
_SYMBOLS = DEFAULT_SYMBOLS.split(",")
_TRADES_PER_FRAME = 100


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _synthetic_frames(count: int) -> list[bytes]:
    """Finnhub-shaped frames with trades of mixed symbols, like the simulator sends."""
    rng = random.Random(7)
    now_ms = int(time.time() * 1000)
    frames = []
    for index in range(count):
        data = [
            {"s": rng.choice(_SYMBOLS), "p": round(100 + rng.random() * 50, 2), "t": now_ms - 1000 + index, "v": rng.randint(1, 500), "c": ["1"]}
            for _ in range(_TRADES_PER_FRAME)
        ]
        frames.append(json.dumps({"type": "trade", "data": data}).encode())
    return frames


def _settle(producer: TrackedProducer, started: float, trades: int) -> float:
    remaining = producer.flush(60)
    producer.raise_on_failures(unacknowledged=remaining)
    return trades / (time.perf_counter() - started)


def _grouped_rate(kafka: KafkaSettings, topic: str, frames: list[bytes]) -> tuple[float, list[tuple[bytes, bytes]]]:
    """Frame handling as shipped: one Avro message per symbol per frame."""
    producer = TrackedProducer(Producer(kafka.producer_config()))
    handler = FrameHandler(producer, topic, f"{topic}.dead_letter", source="benchmark")
    started = time.perf_counter()
    for frame in frames:
        handler.handle(frame)
    rate = _settle(producer, started, handler.stats.trades)
    codec = TradeBatchCodec()
    encoded = []
    for frame in frames:
        by_symbol: dict[str, list[dict[str, Any]]] = {}
        for trade in json.loads(frame)["data"]:
            by_symbol.setdefault(trade["s"], []).append(trade)
        encoded.extend((symbol.encode(), codec.encode(trades, 0, "benchmark")) for symbol, trades in by_symbol.items())
    return rate, encoded


def _per_trade_rate(kafka: KafkaSettings, topic: str, frames: list[bytes]) -> float:
    """The alternative grouping: one Avro message per trade (validation included, as in the handler)."""
    from stock_platform.ingest.validation import TradeValidator

    producer = TrackedProducer(Producer(kafka.producer_config()))
    codec, validator = TradeBatchCodec(), TradeValidator()
    trades = 0
    started = time.perf_counter()
    for frame in frames:
        received_at = int(time.time() * 1000)
        for trade in json.loads(frame)["data"]:
            if validator.problem(trade, received_at) is None:
                producer.send(topic, trade["s"].encode(), codec.encode([trade], received_at, "benchmark"), codec.headers)
                trades += 1
        producer.poll()
    return _settle(producer, started, trades)


def _ceiling(kafka: KafkaSettings, topic: str, messages: list[tuple[bytes, bytes]], trades: int) -> tuple[float, float]:
    """Raw produce of pre-encoded messages with the same producer settings: trades/s and messages/s."""
    producer = TrackedProducer(Producer(kafka.producer_config()))
    headers = TradeBatchCodec().headers
    started = time.perf_counter()
    for index, (key, value) in enumerate(messages):
        producer.send(topic, key, value, headers)
        if index % 1000 == 0:
            producer.poll()
    elapsed_rate = _settle(producer, started, len(messages))
    return elapsed_rate * trades / len(messages), elapsed_rate


def _whole_path(kafka: KafkaSettings, topic: str, seconds: float, offered_rate: float) -> dict[str, Any]:
    """The real ingest (websocket client + handler + producer) fed by the simulator over loopback."""
    simulator, announced = start_announcing_server(
        [*simulator_command(offered_rate), "--frame-size", str(_TRADES_PER_FRAME)], "READY"
    )
    try:
        producer = TrackedProducer(Producer(kafka.producer_config()))
        handler = FrameHandler(producer, topic, f"{topic}.dead_letter", source="simulator")
        stream = FinnhubStream(StreamSettings(url=announced["ws_url"], symbols=_SYMBOLS))
        started = time.perf_counter()
        totals = run_ingest_window(
            stream, handler, producer, WindowSettings(report_interval_s=5, window_s=seconds),
            lambda report: _progress(f"  whole path: {report.trades_per_second:,.0f} trades/s"),
        )
        elapsed = time.perf_counter() - started
    finally:
        stop_process(simulator)
    return {
        "trades": totals.handler.trades,
        "acknowledged_messages": totals.acknowledged,
        "seconds": round(elapsed, 2),
        "trades_per_s": round(totals.handler.trades / elapsed, 1),
        "messages": totals.handler.messages,
        "dead_letters": totals.handler.dead_letters,
        "delivery_failures": totals.delivery_failures,
    }


def run_benchmark(seconds: float, offered_rate: float = 150_000) -> int:
    # Benchmarks here share 2 cores with whatever else runs: the load before starting says how much they got.
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as data_dir, LocalKafkaBroker(Path(data_dir)) as broker:
        kafka = KafkaSettings(broker.bootstrap_servers)
        ensure_topics(
            AdminClient(kafka.admin_config()),
            broker.bootstrap_servers,
            [TopicSpec(name, 6, 1, 3_600_000) for name in ("bench", "bench.dead_letter", "bench_per_trade", "bench_ceiling")],
        )
        frames = _synthetic_frames(2000)
        total_trades = len(frames) * _TRADES_PER_FRAME
        _progress(f"grouping: {len(frames)} frames x {_TRADES_PER_FRAME} trades")
        grouped, encoded = _grouped_rate(kafka, "bench", frames)
        per_trade = _per_trade_rate(kafka, "bench_per_trade", frames)
        _progress(f"  per symbol per frame {grouped:,.0f} trades/s; per trade {per_trade:,.0f} trades/s")
        ceiling, ceiling_messages = _ceiling(kafka, "bench_ceiling", encoded * 3, total_trades * 3)
        _progress(f"ceiling: {ceiling:,.0f} trades/s ({ceiling_messages:,.0f} messages/s)")
        _progress(f"whole path for {seconds:.0f}s, simulator offering {offered_rate:,.0f} trades/s")
        whole = _whole_path(kafka, "bench", seconds, offered_rate)
    result = {
        "benchmark": "ingest",
        "broker": f"Apache Kafka {KAFKA_VERSION}, one local KRaft node",
        "load_average_1m_before": round(load_before, 2),
        "whole_path_trades_per_s": whole["trades_per_s"],
        "ceiling_trades_per_s": round(ceiling, 1),
        "ceiling_messages_per_s": round(ceiling_messages, 1),
        "ratio_to_ceiling": round(whole["trades_per_s"] / ceiling, 3),
        "target_trades_per_s": TARGET_TRADES_PER_S,
        "meets_target": whole["trades_per_s"] >= TARGET_TRADES_PER_S,
        "whole_path": whole,
        "grouping": {
            "per_symbol_per_frame_trades_per_s": round(grouped, 1),
            "per_trade_trades_per_s": round(per_trade, 1),
            "messages_per_frame_grouped": round(len(encoded) / len(frames), 2),
        },
    }
    print(json.dumps(result))
    return 0
