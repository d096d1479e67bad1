"""Stream processing benchmark: the engines against one local Apache Kafka broker, with the raw consume rate as ceiling.

Engines: `light`, `spark` (decoding on the driver) and `spark-jvm` (decoding, checks and bars in Spark SQL).
Prints progress lines on stderr, then one JSON line with every figure. Per engine, next to its `target`:
- `sustained_trades_per_s`: a pre-loaded backlog processed into a fresh embedded store, measured from
  the first written batch to the last (engine start-up excluded);
- latency at a paced offered rate (default 5,000 trades/s): row-written time minus the ingest's
  `received_at`, p50/p99 over every trade of the phase.
`ceiling`: a bare confluent-kafka consumer reading the same backlog from the same broker.
`scaling` (light engine): the same two figures on a smaller backlog as the symbols grow (22 -> 500) and
as the store holds more history (1 -> 30 days pre-filled), each point on a fresh topic and store;
STOCK_PLATFORM_BENCH_SCALING=0 leaves it out.
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from stock_platform.defs.processing.resources import SparkResource
from stock_platform.finnhub.settings import DEFAULT_SYMBOLS
from stock_platform.kafka.admin import TopicSpec, ensure_topics
from stock_platform.kafka.avro_codec import TradeBatchCodec
from stock_platform.kafka.settings import KafkaSettings
from stock_platform.models import TradeRow, make_trade_id
from stock_platform.processing.light_engine import LightEngineSettings
from stock_platform.processing.partial_bars import BatchBars
from stock_platform.processing.processor import run_light, run_spark
from stock_platform.processing.sink import TradeSink
from stock_platform.processing.spark_stream import SparkStreamSettings
from stock_platform.processing.stream_stats import StreamStats
from stock_platform.processing.trading_day import TradingCalendar
from stock_platform.storage.aggregated_batch import write_aggregated_batch
from stock_platform.storage.batch import write_trade_batch
from stock_platform.storage.settings import EmbeddedStoreSettings
from stock_platform.storage.sqlite_store import SqliteMarketStore
from stock_platform_local.servers.broker import LocalKafkaBroker

# Issue 12's targets: the sustained rate as a share of the bare consumer's (same run), and p99 at the offered rate.
_SPARK_TARGET = {"ratio_to_ceiling": 0.15, "p99_ms": 2_000}
TARGETS = {"spark": _SPARK_TARGET, "spark-jvm": _SPARK_TARGET, "light": {"ratio_to_ceiling": 0.35, "p99_ms": 250}}
_SYMBOLS = DEFAULT_SYMBOLS.split(",")
_TRADES_PER_FRAME = 100
_PARTITIONS = 6
_WARMUP_TOPIC = "bench_producer_warmup"
_DAY_MS = 86_400_000
_PREFILL_CHUNK = 20_000
# How cost grows with the symbol universe and the store's history (light engine): each point is a fresh
# topic and store, the history pre-filled before the engine starts. Off with STOCK_PLATFORM_BENCH_SCALING=0.
SCALING_SYMBOLS = (22, 100, 500)
SCALING_HISTORY_DAYS = (1, 30)
SCALING_BACKLOG_TRADES = 100_000
SCALING_HISTORY_TRADES_PER_DAY = 50_000
SCALING_LATENCY_SECONDS = 10.0


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _symbols(count: int) -> list[str]:
    """The default 22 symbols, then simulated ones (`SIM0023`, ...) up to `count`."""
    return (_SYMBOLS + [f"SIM{index:04d}" for index in range(len(_SYMBOLS), count)])[:count]


def _frame_messages(
    rng: random.Random, frame: int, received_at_ms: int, codec: TradeBatchCodec, symbols: list[str] = _SYMBOLS
) -> list[tuple[bytes, bytes, int]]:
    """One simulator-like frame as the ingest publishes it: one message per symbol. Returns (key, value, trades)."""
    by_symbol: dict[str, list[dict[str, Any]]] = {}
    for index in range(_TRADES_PER_FRAME):
        symbol = rng.choice(symbols)
        trade = {"s": symbol, "p": round(100 + rng.random() * 50, 2), "t": received_at_ms - rng.randint(0, 2000) + index, "v": float(rng.randint(1, 500)), "c": ["1"]}
        by_symbol.setdefault(symbol, []).append(trade)
    return [(symbol.encode(), codec.encode(trades, received_at_ms, "benchmark"), len(trades)) for symbol, trades in by_symbol.items()]


def _produce(
    kafka: KafkaSettings, topic: str, frames: int, frame_interval_s: float = 0.0, seed: int = 7, symbols: list[str] = _SYMBOLS
) -> tuple[int, int]:
    """Produce `frames` frames, paced at `frame_interval_s` when given; returns (trades, messages)."""
    rng, codec = random.Random(seed), TradeBatchCodec()
    producer = Producer(kafka.producer_config(**{"linger.ms": 5}))
    # A new producer delivers its first message 0.5-2 s late: it connects, learns the topic's leaders and, being
    # idempotent, sends nothing before the broker gave it a producer id. Fetching the metadata alone still left
    # about one fresh producer in four with a first delivery of ~0.55 s (the single stall that set some runs'
    # p99); one delivered message leaves none. The ingest's producer lives as long as the ingest, so that
    # start-up is not the engine's latency: it is paid here, on another topic, before the clock starts.
    producer.list_topics(topic, timeout=30)
    producer.produce(_WARMUP_TOPIC, value=b"")
    if producer.flush(30):
        raise RuntimeError("benchmark producer could not deliver its warm-up message")
    trades = messages = 0
    started = time.monotonic()
    for frame in range(frames):
        if frame_interval_s:
            time.sleep(max(0.0, started + frame * frame_interval_s - time.monotonic()))
        for key, value, count in _frame_messages(rng, frame, int(time.time() * 1000), codec, symbols):
            producer.produce(topic, key=key, value=value, headers=codec.headers)
            trades, messages = trades + count, messages + 1
        producer.poll(0)
    if producer.flush(60):
        raise RuntimeError("benchmark producer could not deliver every message")
    return trades, messages


def _ceiling(kafka: KafkaSettings, topic: str, trades: int, messages: int) -> dict[str, float]:
    """A bare consumer reading the whole topic to EOF: the broker's deliverable rate."""
    consumer = Consumer(kafka.consumer_config("bench-ceiling", **{"enable.partition.eof": True}))
    consumer.assign([TopicPartition(topic, partition, 0) for partition in range(_PARTITIONS)])
    seen, eofs, started = 0, set(), time.perf_counter()
    while len(eofs) < _PARTITIONS:
        for message in consumer.consume(10_000, 1.0):
            if message.error() is None:
                seen += 1
            elif message.error().code() == KafkaError._PARTITION_EOF:
                eofs.add(message.partition())
    elapsed = time.perf_counter() - started
    consumer.close()
    if seen != messages:
        raise RuntimeError(f"ceiling consumer read {seen} of {messages} messages")
    return {"trades_per_s": round(trades / elapsed, 1), "messages_per_s": round(messages / elapsed, 1)}


class _Progress:
    """Rows written so far and when each write finished, from the engine's writer thread."""

    def __init__(self, store: SqliteMarketStore) -> None:
        self._store = store
        self.rows = 0
        self.first_write_at: float | None = None
        self.first_write_rows = 0
        self.last_write_at: float | None = None

    def __call__(self, rows: list, bars: BatchBars | None = None) -> Any:
        """The sink's writer for both engines: bars folded here (light), or Spark's partial bars merged."""
        result = write_trade_batch(self._store, rows) if bars is None else write_aggregated_batch(self._store, rows, bars)
        now = time.perf_counter()
        self.rows += len(rows)
        if self.first_write_at is None:
            self.first_write_at, self.first_write_rows = now, len(rows)
        self.last_write_at = now
        return result

    def wait_for(self, rows: int, timeout_s: float, engine_thread: threading.Thread, failure: list[BaseException]) -> None:
        deadline = time.monotonic() + timeout_s
        while self.rows < rows:
            if not engine_thread.is_alive():
                cause = f": {failure[0]}" if failure else ""
                raise RuntimeError(f"engine stopped after {self.rows} of {rows} rows{cause}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {self.rows} of {rows} rows written after {timeout_s:.0f}s")
            time.sleep(0.05)


def _prefill_history(store: SqliteMarketStore, calendar: TradingCalendar, symbols: list[str], days: int, trades_per_day: int) -> int:
    """Trades (and so bars) for the `days - 1` days before today, as a store that has been running that long has."""
    rng, now_ms, written = random.Random(3), int(time.time() * 1000), 0
    for day in range(1, days):
        start_ms = now_ms - day * _DAY_MS
        for chunk in range(0, trades_per_day, _PREFILL_CHUNK):
            rows = []
            for index in range(chunk, min(chunk + _PREFILL_CHUNK, trades_per_day)):
                symbol, event_time_ms = rng.choice(symbols), start_ms + index * (_DAY_MS // 2) // trades_per_day
                rows.append(TradeRow(symbol, calendar(symbol, event_time_ms), event_time_ms, make_trade_id("history", day, index, 0),
                                     round(100 + rng.random() * 50, 2), float(rng.randint(1, 500)), ("1",), start_ms, day, index))  # fmt: skip
            written += write_trade_batch(store, rows).rows_written
    return written


def _bench_engine(
    engine: str,
    kafka: KafkaSettings,
    workdir: Path,
    backlog_frames: int,
    rate: float,
    seconds: float,
    symbols: list[str] = _SYMBOLS,
    history_days: int = 1,
    history_trades_per_day: int = 0,
) -> dict[str, Any]:
    topic = f"bench_{engine}_{len(symbols)}s_{history_days}d"
    ensure_topics(AdminClient(kafka.admin_config()), kafka.bootstrap_servers, [TopicSpec(topic, _PARTITIONS, 1, 3_600_000)])
    backlog_trades, backlog_messages = _produce(kafka, topic, backlog_frames, symbols=symbols)
    _progress(f"{engine}: backlog of {backlog_trades:,} trades in {backlog_messages:,} messages ({len(symbols)} symbols)")
    workdir.mkdir(parents=True, exist_ok=True)
    store = SqliteMarketStore(EmbeddedStoreSettings(str(workdir / f"{topic}.sqlite")))
    calendar = TradingCalendar()
    history = _prefill_history(store, calendar, symbols, history_days, history_trades_per_day)
    if history:
        _progress(f"{engine}: store pre-filled with {history:,} trades over {history_days - 1} earlier days")
    progress = _Progress(store)
    sink = TradeSink(progress, None, StreamStats(engine), write_aggregated=progress)
    stop, failure = threading.Event(), []

    def run() -> None:
        try:
            if engine == "light":
                run_light(kafka, LightEngineSettings(topic=topic, group_id=f"bench-{topic}"), calendar, sink, stop, lambda: None)
            else:
                spark = SparkResource(master="local[*]", spark_config={"spark.ui.enabled": "false", "spark.driver.memory": "1g"})
                settings = SparkStreamSettings(
                    topic, str(workdir / "checkpoint"), max_messages_per_trigger=20_000, decode_in_jvm=engine == "spark-jvm"
                )
                run_spark(spark.session, kafka, settings, calendar, sink, stop, lambda: None)
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            failure.append(error)

    thread = threading.Thread(target=run, name=f"{engine}-engine", daemon=True)
    thread.start()
    try:
        progress.wait_for(backlog_trades, 600, thread, failure)
        measured_rows = backlog_trades - progress.first_write_rows
        sustained = measured_rows / max(progress.last_write_at - progress.first_write_at, 1e-9)
        _progress(f"{engine}: sustained {sustained:,.0f} trades/s")
        sink.stats = StreamStats(engine, keep_run_latency=True)
        frames = int(rate * seconds / _TRADES_PER_FRAME)
        _progress(f"{engine}: offering {rate:,.0f} trades/s for {seconds:.0f}s")
        offered, _ = _produce(kafka, topic, frames, frame_interval_s=_TRADES_PER_FRAME / rate, seed=11, symbols=symbols)
        progress.wait_for(backlog_trades + offered, 120, thread, failure)
    finally:
        stop.set()
        thread.join(60)
        store.close()
    if failure:
        raise RuntimeError(f"{engine} engine failed: {failure[0]}") from failure[0]
    latency = sink.stats.run_latency.percentiles((50, 99))
    return {
        "sustained_trades_per_s": round(sustained, 1),
        "backlog_trades": backlog_trades,
        "backlog_messages": backlog_messages,
        "symbols": len(symbols),
        "history_days": history_days,
        "history_trades": history,
        "latency_offered_trades_per_s": rate,
        "latency_trades": sink.stats.run_latency.count,
        "latency_p50_ms": latency["p50"],
        "latency_p99_ms": latency["p99"],
        "latency_max_ms": sink.stats.run_latency.maximum(),
    }


def run_benchmark(engines: list[str], backlog_trades: int, rate: float, seconds: float) -> dict[str, Any]:
    frames = backlog_trades // _TRADES_PER_FRAME
    # Other work on the machine skews every figure; the load averages say how busy it was.
    result: dict[str, Any] = {"benchmark": "stream_processing", "load_average_before": os.getloadavg(), "trades_per_message": None, "engines": {}}
    with tempfile.TemporaryDirectory(prefix="bench-processing-") as workdir, LocalKafkaBroker(Path(workdir) / "kafka") as broker:
        kafka = KafkaSettings(broker.bootstrap_servers)
        ensure_topics(
            AdminClient(kafka.admin_config()), broker.bootstrap_servers,
            [TopicSpec("bench_ceiling", _PARTITIONS, 1, 3_600_000), TopicSpec(_WARMUP_TOPIC, 1, 1, 3_600_000)],
        )  # fmt: skip
        trades, messages = _produce(kafka, "bench_ceiling", frames)
        result["trades_per_message"] = round(trades / messages, 2)
        result["ceiling"] = _ceiling(kafka, "bench_ceiling", trades, messages)
        _progress(f"ceiling (bare consumer): {result['ceiling']['trades_per_s']:,.0f} trades/s")
        for engine in engines:
            result["engines"][engine] = _bench_engine(engine, kafka, Path(workdir) / engine, frames, rate, seconds)
        if "light" in engines and os.environ.get("STOCK_PLATFORM_BENCH_SCALING", "1") != "0":
            result["scaling"] = _scaling_curve(kafka, Path(workdir) / "scaling", rate)
    result["load_average_after"] = os.getloadavg()
    for figures in [*result["engines"].values(), *result.get("scaling", [])]:
        figures["ratio_to_ceiling"] = round(figures["sustained_trades_per_s"] / result["ceiling"]["trades_per_s"], 3)
    for engine, figures in result["engines"].items():
        target = figures["target"] = TARGETS[engine]
        figures["meets_target"] = figures["ratio_to_ceiling"] >= target["ratio_to_ceiling"] and (figures["latency_p99_ms"] or 0) <= target["p99_ms"]
    return result


def _scaling_curve(kafka: KafkaSettings, workdir: Path, rate: float) -> list[dict[str, Any]]:
    """The light engine's rate and p99 as symbols (22 -> 500) and pre-filled store history (1 -> 30 days) grow."""
    curve = []
    for days in SCALING_HISTORY_DAYS:
        for count in SCALING_SYMBOLS:
            figures = _bench_engine(
                "light", kafka, workdir, SCALING_BACKLOG_TRADES // _TRADES_PER_FRAME, rate, SCALING_LATENCY_SECONDS,
                symbols=_symbols(count), history_days=days, history_trades_per_day=SCALING_HISTORY_TRADES_PER_DAY,
            )  # fmt: skip
            point = {key: figures[key] for key in ("symbols", "history_days", "history_trades", "sustained_trades_per_s", "latency_p50_ms", "latency_p99_ms")}
            trades_per_message = figures["backlog_trades"] / figures["backlog_messages"]
            point["sustained_messages_per_s"] = round(figures["sustained_trades_per_s"] / trades_per_message, 1)
            point["load_average_1m"] = round(os.getloadavg()[0], 2)
            _progress(f"scaling: {point}")
            curve.append(point)
    return curve
