"""Fault: the Cassandra store is gone for ~30 s mid-stream while trades keep arriving in Kafka.

The light engine writes through `write_trade_batch` into a CassandraMarketStore on a node of this test's own
(fixed port, own data folder), so the node can be SIGKILLed and started again on the same port and data.
The store retries a few times (seconds), then the engine run fails: like the keeper relaunching the
processing run, a supervisor loop here relaunches it (a new store per launch, as a new run builds its
resources). Offsets are committed only after a batch is written, so the relaunch replays what was not
acknowledged and the store's upserts absorb the replay.
"""

from __future__ import annotations

import calendar
import json
import math
import os
import threading
import time
from collections import Counter
from functools import partial

import pytest

from stock_platform.kafka.settings import KafkaSettings
from stock_platform.processing.light_engine import LightEngineSettings
from stock_platform.processing.processor import run_light
from stock_platform.processing.sink import TradeSink
from stock_platform.processing.stream_stats import StreamStats
from stock_platform.storage.batch import write_trade_batch
from stock_platform.storage.cassandra_store import CassandraMarketStore
from stock_platform.storage.schema import SchemaSettings, apply_schema, render_schema
from stock_platform_local.servers.cassandra import LocalCassandraNode
from stock_platform_local.servers.process import free_port
from stock_platform_tests.processing.conftest import create_market_topic, produce_frames, utc_day
from stock_platform_tests.storage.cassandra_keyspaces import admin_session, node_settings

pytestmark = pytest.mark.faults

OUTAGE_S = 30.0


def _report(figures: dict) -> None:
    path = os.environ.get("STOCK_PLATFORM_FAULT_REPORT")
    if path:
        with open(path, "a", encoding="utf-8") as report:
            report.write(json.dumps(figures) + "\n")


class _Supervisor:
    """Runs the light engine, relaunching it after each failure (what the keeper does for a failed run)."""

    def __init__(self, node: LocalCassandraNode, keyspace: str, kafka: KafkaSettings, settings: LightEngineSettings) -> None:
        self._node, self._keyspace, self._kafka, self._settings = node, keyspace, kafka, settings
        self.stop = threading.Event()
        self.launches = 0
        self.failures: list[str] = []  # engine runs that failed (the store gave up on a write)
        self.connect_failures = 0  # relaunches that could not even connect while the node was down
        self.rows_written = 0
        self.write_times: list[float] = []
        self._thread = threading.Thread(target=self._loop, name="engine-supervisor", daemon=True)

    def _write(self, store: CassandraMarketStore, rows: list) -> object:
        result = write_trade_batch(store, rows)
        self.rows_written += len(rows)
        self.write_times.append(time.monotonic())
        return result

    def _loop(self) -> None:
        while not self.stop.is_set():
            store = None
            try:
                # Short timeouts and few attempts: the store gives up within seconds, so the outage is a failed run.
                store = CassandraMarketStore(node_settings(self._node, self._keyspace, request_timeout_s=5, connect_timeout_s=5, attempts=3))
            except Exception:  # noqa: BLE001 - the node is still down: try again, like the keeper's next tick
                self.connect_failures += 1
                self.stop.wait(2.0)
                continue
            try:
                self.launches += 1
                sink = TradeSink(partial(self._write, store), None, StreamStats("light"))
                run_light(self._kafka, self._settings, utc_day, sink, self.stop, lambda: None)
            except Exception as error:  # noqa: BLE001 - a failed run, relaunched below
                self.failures.append(f"{type(error).__name__}: {str(error)[:200]}")
                self.stop.wait(2.0)
            finally:
                if store is not None:
                    store.close()

    def __enter__(self) -> _Supervisor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._thread.join(120)

    def wait_for_rows(self, rows: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while self.rows_written < rows:
            assert time.monotonic() < deadline, f"only {self.rows_written} of {rows} rows written; failures: {self.failures[-3:]}"
            time.sleep(0.2)


def _expected_daily(produced: list[tuple]) -> dict[tuple, dict]:
    """Daily bars computed from the produced trades alone (nothing of the product's aggregation code)."""
    days: dict[tuple, list[tuple]] = {}
    for symbol, event_time, price, volume in produced:
        days.setdefault((symbol, utc_day(symbol, event_time)), []).append((event_time, price, volume))
    return {
        key: {
            "trade_count": len(trades),
            "volume": sum(v for _, _, v in trades),
            "notional": sum(p * v for _, p, v in trades),
            "high": max(p for _, p, _ in trades),
            "low": min(p for _, p, _ in trades),
            "first_trade_time_ms": min(t for t, _, _ in trades),
            "last_trade_time_ms": max(t for t, _, _ in trades),
        }
        for key, trades in days.items()
    }


def test_stream_survives_a_30s_store_outage_with_every_trade_once(kafka_broker, unique_name, tmp_path):
    kafka = KafkaSettings(kafka_broker.bootstrap_servers)
    topic = unique_name("market")
    create_market_topic(kafka, topic)
    # A fixed port: the restarted node must be reachable where the store's settings point.
    node = LocalCassandraNode(tmp_path / "cassandra", port=free_port(), heap_mb=512)
    node.start()
    try:
        keyspace = unique_name("outage")
        # The node is this test's alone (dropped with its folder), so the keyspace is created and never dropped.
        with admin_session(node) as admin:
            apply_schema(admin, render_schema(SchemaSettings(keyspace=keyspace)))
        produced = produce_frames(kafka, topic, 40, seed=3)
        settings = LightEngineSettings(topic=topic, group_id=unique_name("group"), max_batch_messages=5)
        with _Supervisor(node, keyspace, kafka, settings) as engine:
            engine.wait_for_rows(len(produced), 180)

            # A crash while the engine writes a fresh burst: the commit log, not a clean shutdown, must keep
            # every write the node acknowledged (the engine committed those offsets and will not replay them).
            written_before = engine.rows_written
            produced += produce_frames(kafka, topic, 30, seed=99)
            engine.wait_for_rows(written_before + 1, 60)
            node.kill()
            down_at = time.monotonic()
            # Trades keep arriving in Kafka for the whole outage.
            seed = 100
            while time.monotonic() - down_at < OUTAGE_S:
                produced += produce_frames(kafka, topic, 10, seed=seed)
                seed += 1
                time.sleep(3)
            restart_at = time.monotonic()
            node.start()  # same port, same data folder; returns once CQL answers
            back_at = time.monotonic()
            outage_s = back_at - down_at
            engine.wait_for_rows(len(produced), 240)
            first_write_after = min(t for t in engine.write_times if t >= back_at)
            recovery_s = first_write_after - back_at
            caught_up_s = engine.write_times[-1] - back_at

        # A fresh session to read back: one opened before the crash would still be in its reconnection backoff.
        with admin_session(node) as admin:
            stored = [tuple(row) for row in admin.execute(f"SELECT symbol, event_time, trade_id, price, volume FROM {keyspace}.trades", timeout=60)]
        # The driver returns naive UTC datetimes for `timestamp` columns.
        stored_trades = Counter((symbol, calendar.timegm(event_time.timetuple()) * 1000 + event_time.microsecond // 1000, price, volume)
                                for symbol, event_time, _, price, volume in stored)  # fmt: skip
        expected = Counter(produced)
        lost = sum((expected - stored_trades).values())
        duplicates = len(stored) - len({row[2] for row in stored}) + sum((stored_trades - expected).values())

        with CassandraMarketStore(node_settings(node, keyspace)) as store:
            bars = {(symbol, day): bar for day in {day for _, day in _expected_daily(produced)} for symbol, bar in store.daily_aggregates_for_day(day).items()}
    finally:
        node.stop()

    _report({
        "fault": "store_outage", "engine": "light", "outage_s": round(outage_s, 1), "node_down_before_restart_s": round(restart_at - down_at, 1), "trades_produced": len(produced),
        "trades_lost": lost, "duplicates": duplicates, "recovery_s": round(recovery_s, 1), "caught_up_s": round(caught_up_s, 1),
        "engine_launches": engine.launches, "engine_run_failures": len(engine.failures),
        "relaunches_refused_while_down": engine.connect_failures, "stream_behaviour": "fails, relaunched",
        "run_failure": engine.failures[0][:160] if engine.failures else None,
    })  # fmt: skip
    assert outage_s >= OUTAGE_S
    assert lost == 0 and duplicates == 0
    assert len(stored) == len(produced)
    # The stream failed during the outage and was relaunched (the store gives up after its retries).
    assert engine.launches >= 2 and engine.failures, engine.failures
    assert all("StoreUnavailableError" in failure or "NoHostAvailable" in failure for failure in engine.failures), engine.failures
    expected_bars = _expected_daily(produced)
    assert set(bars) == set(expected_bars)
    for key, want in expected_bars.items():
        bar = bars[key]
        assert bar.trade_count == want["trade_count"], key
        assert math.isclose(bar.volume, want["volume"], rel_tol=1e-9), key
        assert math.isclose(bar.notional, want["notional"], rel_tol=1e-9), key
        assert (bar.high, bar.low) == (want["high"], want["low"]), key
        assert (bar.first_trade_time_ms, bar.last_trade_time_ms) == (want["first_trade_time_ms"], want["last_trade_time_ms"]), key
