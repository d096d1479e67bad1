import os
import signal
import socket
import subprocess
import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from stock_platform_local.servers import broker as broker_module
from stock_platform_local.servers.broker import BrokerStartError, new_cluster_id
from stock_platform_local.servers.process import stop_process


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _produce(bootstrap_servers: str, topic: str, value: bytes) -> None:
    producer = Producer({"bootstrap.servers": bootstrap_servers, "acks": "all", "enable.idempotence": True})
    producer.produce(topic, key=b"AAPL", value=value, headers=[("schema", b"x")])
    assert producer.flush(10) == 0


def _consumer(bootstrap_servers: str, group: str) -> Consumer:
    return Consumer(
        {"bootstrap.servers": bootstrap_servers, "group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False}
    )


def test_broker_serves_produce_and_consume(kafka_broker, unique_name):
    topic = unique_name("smoke")
    _produce(kafka_broker.bootstrap_servers, topic, b"hello")
    consumer = _consumer(kafka_broker.bootstrap_servers, unique_name("group"))
    consumer.assign([TopicPartition(topic, 0, 0)])
    message = consumer.poll(10)
    consumer.close()
    assert (message.key(), message.value(), message.headers()) == (b"AAPL", b"hello", [("schema", b"x")])


def test_topics_and_group_commits_survive_a_restart_on_new_ports(kafka_broker_factory, unique_name):
    topic, group = unique_name("durable"), unique_name("group")
    first = kafka_broker_factory().start()
    pid = first.pid
    for value in (b"one", b"two", b"three"):
        _produce(first.bootstrap_servers, topic, value)
    consumer = _consumer(first.bootstrap_servers, group)
    consumer.subscribe([topic])
    message = None
    while message is None or message.error():
        message = consumer.poll(10)
    assert message.value() == b"one"
    consumer.commit(message, asynchronous=False)
    consumer.close()
    first.stop()
    assert not _alive(pid)

    second = kafka_broker_factory()
    assert second.bootstrap_servers != first.bootstrap_servers
    second.start()
    consumer = _consumer(second.bootstrap_servers, group)
    consumer.subscribe([topic])
    values = []
    while len(values) < 2:
        message = consumer.poll(10)
        assert message is not None, f"only {values} after restart"
        if not message.error():
            values.append(message.value())
    consumer.close()
    assert values == [b"two", b"three"]


def test_a_broker_left_running_by_a_killed_launcher_is_stopped_at_the_next_start(kafka_broker_factory):
    orphan = kafka_broker_factory().start()
    orphan_pid = orphan.pid
    # The launcher dies without stopping it: forget the handle, keep the PID file.
    orphan._process = None
    successor = kafka_broker_factory().start()
    assert not _alive(orphan_pid) or _zombie(orphan_pid)
    assert successor.is_ready()


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1].startswith("Z")
    except OSError:
        return False


def test_a_cluster_id_drawn_with_a_leading_dash_is_drawn_again_so_formatting_succeeds(kafka_broker_factory, monkeypatch):
    # 0xF8 encodes to "-" in URL-safe base64: StorageTool took such an id for an option and formatting failed.
    draws = iter([uuid.UUID(bytes=b"\xf8" + bytes(15))])
    real_uuid4 = uuid.uuid4
    monkeypatch.setattr(broker_module.uuid, "uuid4", lambda: next(draws, None) or real_uuid4())
    broker = kafka_broker_factory().start()
    meta = (broker.log_dir / "meta.properties").read_text()
    cluster_id = next(line.split("=", 1)[1] for line in meta.splitlines() if line.startswith("cluster.id="))
    assert not cluster_id.startswith("-") and next(draws, None) is None


@pytest.mark.parametrize("first", [b"\xf8", b"\xfb", b"\x00"])
def test_new_cluster_ids_never_start_with_a_dash(first):
    draws = iter([first + bytes(15), b"\x01" * 16])
    cluster_id = new_cluster_id(lambda: next(draws))
    assert not cluster_id.startswith("-") and len(cluster_id) == 22


def test_broken_configuration_is_one_clear_line(kafka_broker_factory):
    broker = kafka_broker_factory(extra_config={"node.id": "not-a-number"})
    with pytest.raises(BrokerStartError, match=r"formatting Kafka storage .* failed: .*ConfigException: Invalid value not-a-number") as raised:
        broker.start()
    assert "\n" not in str(raised.value)


def test_broker_that_exits_at_start_is_a_clear_error(kafka_broker_factory):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        broker = kafka_broker_factory(port=taken.getsockname()[1])
        with pytest.raises(BrokerStartError, match="kafka exited with code .* see .*kafka.log"):
            broker.start()


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
