import os
import signal
import subprocess
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from stock_platform.embedded.broker import BrokerStartError, EmbeddedKafkaBroker
from stock_platform.embedded.process import stop_process


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_broker_serves_produce_and_consume_and_stops_by_pid():
    with EmbeddedKafkaBroker() as broker:
        pid = broker.pid
        producer = Producer({"bootstrap.servers": broker.bootstrap_servers, "acks": "all", "enable.idempotence": True})
        producer.produce("smoke", key=b"AAPL", value=b"hello", headers=[("schema", b"x")])
        assert producer.flush(10) == 0
        consumer = Consumer(
            {"bootstrap.servers": broker.bootstrap_servers, "group.id": "smoke", "enable.partition.eof": True}
        )
        consumer.assign([TopicPartition("smoke", 0, 0)])
        message = consumer.poll(10)
        consumer.close()
        assert (message.key(), message.value(), message.headers()) == (b"AAPL", b"hello", [("schema", b"x")])
    assert not _alive(pid)


def test_broker_that_exits_at_start_is_a_clear_error(monkeypatch):
    monkeypatch.setattr("stock_platform.embedded.broker.broker_binary", lambda: "/bin/false")
    with pytest.raises(BrokerStartError, match="exited with code 1"):
        EmbeddedKafkaBroker(startup_timeout_s=5).start()


def test_stop_escalates_to_sigkill_when_sigterm_is_ignored(tmp_path):
    script = tmp_path / "stubborn.sh"
    ready = tmp_path / "ready"
    script.write_text(f"#!/bin/sh\ntrap '' TERM\ntouch {ready}\nwhile true; do sleep 0.1; done\n")
    script.chmod(0o755)
    process = subprocess.Popen([str(script)])
    while not ready.exists():
        time.sleep(0.01)
    stop_process(process, timeout_s=0.5)
    assert process.returncode == -signal.SIGKILL
