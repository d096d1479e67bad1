import json
import time
from unittest.mock import MagicMock

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from stock_platform.kafka.settings import KafkaSettings
from stock_platform.processing import consumer_lag
from stock_platform.processing.consumer_lag import (
    LagLimits,
    LagSnapshot,
    OffsetsSeen,
    PositionUnavailable,
    assess,
    checkpoint_positions,
    group_positions,
    measure,
    stalled_partitions,
)
from stock_platform_tests.processing.conftest import create_market_topic

NOW_MS = 1_760_000_000_000
COORDINATOR_NOT_READY = {KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS, KafkaError.COORDINATOR_NOT_AVAILABLE}


def _snapshot(positions, watermarks=None, oldest=None, taken_at_ms=NOW_MS):
    watermarks = watermarks or {0: (0, 100), 1: (0, 50)}
    return LagSnapshot("market", taken_at_ms, watermarks, positions, "consumer group g", oldest or {})


@pytest.mark.parametrize(
    ("positions", "watermarks", "lag"),
    [
        ({0: 40, 1: 50}, {0: (0, 100), 1: (0, 50)}, {0: 60, 1: 0}),
        ({}, {0: (10, 100)}, {0: 90}),  # nothing committed: the engine starts at the earliest offset
        ({0: 5}, {0: (30, 100)}, {0: 70}),  # retention deleted offsets 5-29: only what is left counts
        ({0: 120}, {0: (0, 100)}, {0: 0}),  # position past the end (recreated topic) never counts negative
    ],
)
def test_lag_is_log_end_minus_the_position_still_readable(positions, watermarks, lag):
    snapshot = _snapshot(positions, watermarks)
    assert snapshot.lag == lag
    assert snapshot.total_lag == sum(lag.values())


@pytest.mark.parametrize(
    ("positions", "oldest", "age"),
    [({0: 100, 1: 50}, {}, 0.0), ({0: 40, 1: 50}, {0: NOW_MS - 42_500}, 42.5), ({0: 40, 1: 50}, {}, None), (None, {}, None)],
)
def test_oldest_unprocessed_age(positions, oldest, age):
    assert _snapshot(positions, oldest=oldest).oldest_unprocessed_age_s == age


def test_unknown_positions_report_no_lag():
    snapshot = _snapshot(None)
    assert snapshot.lag == {} and snapshot.total_lag is None


def test_stalled_partitions_are_those_whose_end_moved_while_the_position_did_not():
    before = OffsetsSeen(0, {0: 10, 1: 20}, {0: 30, 1: 20, 2: 5})
    after = OffsetsSeen(60_000, {0: 10, 1: 20}, {0: 45, 1: 20, 2: 9})
    # 0: stuck while 15 arrived; 1: idle topic, not a stall; 2: never had a position and still has none.
    assert stalled_partitions(before, after) == {0: 15, 2: 4}


def test_a_moving_position_is_not_a_stall():
    assert stalled_partitions(OffsetsSeen(0, {0: 10}, {0: 30}), OffsetsSeen(1, {0: 11}, {0: 90})) == {}


LIMITS = LagLimits(warn_messages=100, warn_seconds=60, stall_seconds=180, error_seconds=600)


@pytest.mark.parametrize(
    ("positions", "oldest_age_s", "level"),
    [
        ({0: 100, 1: 50}, None, "ok"),
        ({0: 90, 1: 50}, 5, "ok"),
        ({0: 0, 1: 0}, 5, "warn"),  # 150 messages behind
        ({0: 90, 1: 50}, 61, "warn"),
        ({0: 90, 1: 50}, 601, "error"),
        ({0: 200, 1: 50}, None, "error"),  # past the log end: recreated topic
    ],
)
def test_assess_levels_without_a_baseline(positions, oldest_age_s, level):
    oldest = {0: NOW_MS - int(oldest_age_s * 1000)} if oldest_age_s is not None else {}
    verdict = assess(_snapshot(positions, oldest=oldest), None, LIMITS)
    assert verdict.level == level
    assert bool(verdict.problems) == (level != "ok")


def test_assess_fails_a_stall_while_the_topic_grows():
    baseline = OffsetsSeen(NOW_MS - 200_000, {0: 90, 1: 50}, {0: 95, 1: 50})
    verdict = assess(_snapshot({0: 90, 1: 50}, oldest={0: NOW_MS - 1000}), baseline, LIMITS)
    assert verdict.level == "error"
    assert verdict.stalled == {0: 5}
    assert verdict.problems[0].startswith("processing stalled: partitions [0] kept their position for 200s while 5 messages arrived")


def test_assess_of_an_unknown_position_warns_with_the_reason():
    verdict = assess(LagSnapshot("market", NOW_MS, {0: (0, 9)}, None, "the Spark checkpoint s3a://x is not a local folder"), None, LIMITS)
    assert verdict.level == "warn" and "s3a://x" in verdict.problems[0]


def _write_batch(checkpoint, batch, offsets, topic="market", committed=True):
    (checkpoint / "offsets").mkdir(parents=True, exist_ok=True)
    (checkpoint / "commits").mkdir(parents=True, exist_ok=True)
    metadata = {"batchWatermarkMs": 0, "batchTimestampMs": NOW_MS, "conf": {"spark.sql.shuffle.partitions": "200"}}
    source = json.dumps({topic: {str(p): o for p, o in offsets.items()}})
    (checkpoint / "offsets" / str(batch)).write_text(f"v1\n{json.dumps(metadata)}\n{source}", encoding="utf-8")
    if committed:
        (checkpoint / "commits" / str(batch)).write_text('v1\n{"nextBatchWatermarkMs":0}', encoding="utf-8")
        (checkpoint / "commits" / f".{batch}.crc").write_bytes(b"\x00")


def test_checkpoint_positions_are_the_latest_committed_batch(tmp_path):
    _write_batch(tmp_path, 0, {0: 10, 1: 4})
    _write_batch(tmp_path, 1, {0: 25, 1: 9})
    _write_batch(tmp_path, 2, {0: 40, 1: 12}, committed=False)  # planned, not yet written: replayed on restart
    assert checkpoint_positions(tmp_path, "market") == (1, {0: 25, 1: 9})


@pytest.mark.parametrize("layout", ["missing", "empty", "other topic"])
def test_checkpoint_without_a_committed_batch_of_the_topic_has_no_positions(tmp_path, layout):
    if layout == "empty":
        (tmp_path / "commits").mkdir()
    if layout == "other topic":
        _write_batch(tmp_path, 0, {0: 3}, topic="other")
    assert checkpoint_positions(tmp_path / "cp" if layout == "missing" else tmp_path, "market")[1] == {}


def test_an_unreadable_checkpoint_is_one_line(tmp_path):
    _write_batch(tmp_path, 0, {0: 3})
    (tmp_path / "offsets" / "0").write_text('v1\n{}\n{"market": {"0": ', encoding="utf-8")
    with pytest.raises(PositionUnavailable, match=r"^the Spark checkpoint file .*/offsets/0 is unreadable"):
        checkpoint_positions(tmp_path, "market")


def test_group_positions_skip_partitions_without_a_commit(monkeypatch):
    admin = MagicMock()
    entries = [TopicPartition("market", 0, 7), TopicPartition("market", 1, -1001)]
    admin.list_consumer_group_offsets.return_value = {"g": MagicMock(result=MagicMock(return_value=MagicMock(topic_partitions=entries)))}
    monkeypatch.setattr(consumer_lag, "AdminClient", lambda config: admin)
    assert group_positions(KafkaSettings("x:9092"), "g", "market", [0, 1]) == {0: 7}


class FakeConsumer:
    """A consumer at the client boundary: watermarks, and one timestamped message per assigned partition."""

    def __init__(self, watermarks, timestamps):
        self.watermarks, self.timestamps = watermarks, timestamps
        self.assigned, self.closed = [], False

    def list_topics(self, topic, timeout):
        return MagicMock(topics={topic: MagicMock(error=None, partitions={p: None for p in self.watermarks})})

    def get_watermark_offsets(self, partition, timeout):
        return self.watermarks[partition.partition]

    def assign(self, partitions):
        self.assigned = [(entry.partition, entry.offset) for entry in partitions]

    def consume(self, count, timeout):
        messages = [MagicMock(**{"error.return_value": None, "partition.return_value": p, "timestamp.return_value": (1, self.timestamps[(p, o)])})
                    for p, o in self.assigned]  # fmt: skip
        self.assigned = []
        return messages

    def pause(self, partitions):
        pass

    def close(self):
        self.closed = True


def test_measure_probes_one_message_per_lagging_partition(monkeypatch):
    fake = FakeConsumer({0: (0, 10), 1: (0, 4)}, {(0, 6): NOW_MS - 30_000})
    monkeypatch.setattr(consumer_lag, "Consumer", lambda config: fake)
    snapshot = measure(KafkaSettings("x:9092"), "market", lambda partitions: {0: 6, 1: 4}, "group g", clock=lambda: NOW_MS / 1000)
    assert snapshot.lag == {0: 4, 1: 0}
    assert snapshot.oldest_unprocessed_age_s == 30.0
    assert fake.closed


def test_measure_with_an_unreadable_position_reports_it_and_still_closes(monkeypatch):
    fake = FakeConsumer({0: (0, 10)}, {})
    monkeypatch.setattr(consumer_lag, "Consumer", lambda config: fake)

    def unavailable(partitions):
        raise PositionUnavailable("checkpoint is remote")

    snapshot = measure(KafkaSettings("x:9092"), "market", unavailable, "Spark checkpoint")
    assert snapshot.positions is None and snapshot.position_source == "checkpoint is remote"
    assert fake.closed


# Against the real broker -----------------------------------------------------------------------------


def _produce(kafka, topic, partitions, per_partition, first_timestamp_ms):
    producer = Producer(kafka.producer_config())
    for partition in range(partitions):
        for index in range(per_partition):
            producer.produce(topic, value=b"x", partition=partition, timestamp=first_timestamp_ms + index * 1000)
    assert producer.flush(30) == 0


def _commit(kafka, topic, group, offsets):
    consumer = Consumer(kafka.consumer_config(group))
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False)
                return
            except KafkaException as error:
                # A broker that just started is still loading its group coordinator.
                if error.args[0].code() not in COORDINATOR_NOT_READY or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    finally:
        consumer.close()


@pytest.fixture()
def market_topic(kafka_broker, unique_name):
    kafka = KafkaSettings(kafka_broker.bootstrap_servers)
    topic = unique_name("market")
    create_market_topic(kafka, topic)  # 4 partitions
    return kafka, topic


@pytest.mark.parametrize("engine", ["light", "spark"])
def test_lag_and_oldest_age_on_a_real_broker(market_topic, unique_name, tmp_path, engine):
    kafka, topic = market_topic
    n, m = 20, 12
    first_ms = int(time.time() * 1000) - 600_000  # the first message is ten minutes old, one second apart
    _produce(kafka, topic, 4, n, first_ms)
    committed = {0: m, 1: m, 2: n}  # partition 3: nothing committed yet, read from the earliest offset
    if engine == "light":
        group = unique_name("group")
        _commit(kafka, topic, group, committed)
        reader = lambda partitions: group_positions(kafka, group, topic, partitions)  # noqa: E731
    else:
        _write_batch(tmp_path, 0, {p: 3 for p in committed}, topic=topic)
        _write_batch(tmp_path, 1, committed, topic=topic)
        reader = lambda partitions: checkpoint_positions(tmp_path, topic)[1]  # noqa: E731
    snapshot = measure(kafka, topic, reader, engine)
    assert snapshot.log_end == {0: n, 1: n, 2: n, 3: n}
    assert snapshot.lag == {0: n - m, 1: n - m, 2: 0, 3: n}
    # Partition 3 never processed: its first message (ten minutes old) is the oldest unprocessed one.
    assert snapshot.oldest_unprocessed_ms == {0: first_ms + m * 1000, 1: first_ms + m * 1000, 3: first_ms}
    assert snapshot.oldest_unprocessed_age_s == pytest.approx(600, abs=30)


def test_stall_on_a_real_broker_fails_while_the_log_end_grows(market_topic, unique_name):
    kafka, topic = market_topic
    group = unique_name("group")
    _produce(kafka, topic, 4, 5, int(time.time() * 1000))
    _commit(kafka, topic, group, {p: 5 for p in range(4)})
    reader = lambda partitions: group_positions(kafka, group, topic, partitions)  # noqa: E731
    before = measure(kafka, topic, reader, "group", clock=lambda: time.time() - 300)
    assert assess(before, None, LIMITS).level == "ok"
    _produce(kafka, topic, 2, 3, int(time.time() * 1000))
    verdict = assess(measure(kafka, topic, reader, "group"), before.seen(), LIMITS)
    assert verdict.level == "error"
    assert verdict.stalled == {0: 3, 1: 3}
