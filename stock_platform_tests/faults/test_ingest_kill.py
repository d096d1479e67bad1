"""Fault: the ingest run is SIGKILLed mid-window and its keeper relaunches it.

The `finnhub_ingest` job runs in a worker process of its own (own process group, like a run pod) against
the websocket simulator and the real broker. A SIGKILL leaves the run STARTED in Dagster until run
monitoring notices the dead worker and marks it failed; `report_run_failed` stands in for that here. The
keeper then treats the run as a crash: it waits its crash backoff (interval 30 s x 2) before requesting a
new run; the test shifts the keeper's clock past it instead of sleeping a minute.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import dagster as dg
import pytest
from confluent_kafka import Consumer, TopicPartition

from stock_platform.defs import keeper as keeper_module
from stock_platform.defs.finnhub.resources import FinnhubResource
from stock_platform.defs.ingest.finnhub_ingest import INGEST_JOB_NAME, finnhub_ingest, finnhub_ingest_keeper
from stock_platform.defs.kafka.resources import KafkaResource
from stock_platform.kafka.avro_codec import TradeBatchCodec
from stock_platform.paths import project_root
from stock_platform_local.simulator import SimulatorConfig, SimulatorServer
from stock_platform_tests.kafka.topics import read_all

pytestmark = pytest.mark.faults

KILLS = 2

# A run worker: the ingest job executed into the test's instance, with resources from the environment.
_RUN_WORKER = """
import json, os, sys, dagster as dg
from stock_platform.defs.ingest.finnhub_ingest import finnhub_ingest
from stock_platform.defs.finnhub.resources import FinnhubResource
from stock_platform.defs.kafka.resources import KafkaResource
spec = json.loads(os.environ["FAULT_INGEST_SPEC"])
instance = dg.DagsterInstance.from_ref(dg.deserialize_value(sys.argv[1]))
finnhub_ingest.execute_in_process(
    run_config={"ops": {"ingest_trades": {"config": {"window_minutes": spec["window_minutes"], "report_interval_seconds": 2}}}},
    instance=instance,
    resources={
        "finnhub": FinnhubResource(ws_url=spec["ws_url"], symbols="AAPL,MSFT,BINANCE:BTCUSDT"),
        "kafka": KafkaResource(bootstrap_servers=spec["bootstrap"], market_topic=spec["market"], dead_letter_topic=spec["dead_letter"], partitions=3),
    },
    raise_on_error=False,
)
"""


def _report(figures: dict) -> None:
    path = os.environ.get("STOCK_PLATFORM_FAULT_REPORT")
    if path:
        with open(path, "a", encoding="utf-8") as report:
            report.write(json.dumps(figures) + "\n")


def _start_worker(instance: dg.DagsterInstance, spec: dict) -> subprocess.Popen:
    python_path = os.pathsep.join(filter(None, [str(project_root()), os.environ.get("PYTHONPATH")]))
    return subprocess.Popen(
        [sys.executable, "-c", _RUN_WORKER, dg.serialize_value(instance.get_ref())],
        cwd=project_root(),
        env={**os.environ, "PYTHONPATH": python_path, "FAULT_INGEST_SPEC": json.dumps(spec)},
        start_new_session=True,
    )


def _topic_size(bootstrap: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "fault-watermarks"})
    try:
        metadata = consumer.list_topics(topic, timeout=30).topics.get(topic)
        if metadata is None or not metadata.partitions:
            return 0
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1] for p in metadata.partitions)
    except Exception:  # noqa: BLE001 - the topic may not exist yet
        return 0
    finally:
        consumer.close()


def _wait_for_messages(bootstrap: str, topic: str, at_least: int, worker: subprocess.Popen, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    while (size := _topic_size(bootstrap, topic)) < at_least:
        assert worker.poll() is None, f"the ingest worker exited ({worker.returncode}) with {size} messages in {topic}"
        assert time.monotonic() < deadline, f"only {size} messages in {topic} after {timeout_s}s"
        time.sleep(0.5)
    return size


def _evaluate(instance: dg.DagsterInstance) -> dg.SensorResult:
    # Resources only make the definitions valid; the keeper never uses them.
    definitions = dg.Definitions(jobs=[finnhub_ingest], sensors=[finnhub_ingest_keeper], resources={"finnhub": FinnhubResource(), "kafka": KafkaResource(bootstrap_servers="127.0.0.1:1")})
    context = dg.build_sensor_context(instance=instance, definitions=definitions)
    return finnhub_ingest_keeper.evaluate_tick(context)


def _trades(bootstrap: str, topic: str) -> tuple[list, Counter]:
    codec = TradeBatchCodec()
    records = read_all(bootstrap, topic)
    trades = Counter()
    for record in records:
        for trade in codec.decode(record.value()).trades:
            trades[json.dumps(trade, sort_keys=True, default=str)] += 1
    return [(record.partition(), record.offset(), record.value()) for record in records], trades


def test_a_sigkilled_ingest_run_is_relaunched_by_its_keeper_without_duplicates(kafka_broker, unique_name, monkeypatch):
    bootstrap = kafka_broker.bootstrap_servers
    with dg.instance_for_test() as instance, SimulatorServer(SimulatorConfig(rate=100, ping_interval_s=1.0)) as simulator:
        spec = {"ws_url": simulator.ws_url, "bootstrap": bootstrap, "market": unique_name("market"),
                "dead_letter": unique_name("dead_letter"), "window_minutes": 5}  # fmt: skip
        real_time, recoveries, killed_at, size = time.time, [], None, 0
        for kill in range(KILLS):
            # The first run, then each relaunch the keeper asked for, runs until it has written more, then dies.
            worker = _start_worker(instance, spec)
            try:
                size = _wait_for_messages(bootstrap, spec["market"], size + 30, worker, 180)
                if killed_at is not None:
                    recoveries.append(time.monotonic() - killed_at)
                os.killpg(worker.pid, signal.SIGKILL)  # mid-window: nothing gets to flush or log its end
                killed_at = time.monotonic()
                worker.wait(30)
            finally:
                if worker.poll() is None:
                    os.killpg(worker.pid, signal.SIGKILL)
                    worker.wait()
            [killed] = instance.get_runs(dg.RunsFilter(job_name=INGEST_JOB_NAME), limit=1)
            # Until run monitoring notices, the dead run still counts as in progress: no second run beside it.
            assert killed.status == dg.DagsterRunStatus.STARTED
            assert _evaluate(instance).run_requests == []
            instance.report_run_failed(killed)  # what run monitoring does for a run whose worker is gone
            # A SIGKILL is a crash to the keeper: it backs off, doubling per consecutive crash.
            backoff_s = 30 * 2 ** (kill + 1)
            backoff = _evaluate(instance)
            assert backoff.run_requests == [] and f"waiting {backoff_s}s" in backoff.skip_message, backoff.skip_message
            # Past the backoff (a shifted clock instead of minutes of sleep), the keeper asks for a new run.
            monkeypatch.setattr(keeper_module.time, "time", lambda shift=backoff_s + 1: real_time() + shift)
            [request] = _evaluate(instance).run_requests
            monkeypatch.undo()
            assert request.tags[keeper_module.LONG_RUN_TAG] == INGEST_JOB_NAME
        before_records, _ = _trades(bootstrap, spec["market"])

        relaunched = _start_worker(instance, {**spec, "window_minutes": 0.3})
        try:
            _wait_for_messages(bootstrap, spec["market"], len(before_records) + 20, relaunched, 180)
            recoveries.append(time.monotonic() - killed_at)
            relaunched.wait(180)  # the short window ends on its own
        finally:
            if relaunched.poll() is None:
                os.killpg(relaunched.pid, signal.SIGKILL)
                relaunched.wait()
        after_records, after_trades = _trades(bootstrap, spec["market"])
        runs = instance.get_runs(dg.RunsFilter(job_name=INGEST_JOB_NAME))

    # What was acknowledged before the kill is still there, unchanged, at the same offsets.
    assert set(before_records) <= set(after_records)
    assert len(after_records) > len(before_records)
    duplicates = sum(count - 1 for count in after_trades.values() if count > 1)
    _report({
        "fault": "ingest_kill", "kills": KILLS, "recovery_s": [round(r, 1) for r in recoveries],
        "recovery_note": "kill to new messages in Kafka, keeper crash backoff excluded (clock shifted)",
        "keeper_crash_backoffs_s": [30 * 2 ** (k + 1) for k in range(KILLS)],
        "messages_before_kill": len(before_records), "messages_after": len(after_records),
        "trades_after": sum(after_trades.values()), "duplicates": duplicates,
    })  # fmt: skip
    assert duplicates == 0
    assert [run.status for run in runs] == [dg.DagsterRunStatus.SUCCESS] + [dg.DagsterRunStatus.FAILURE] * KILLS
