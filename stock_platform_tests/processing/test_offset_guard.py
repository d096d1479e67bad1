"""Restart after retention deleted unread records, and after the topic was recreated, against the real broker."""

import logging
import threading
import time
from contextlib import nullcontext
from dataclasses import replace

import pytest
from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from stock_platform.cli.main import main
from stock_platform.processing.light_engine import LightEngine, LightEngineSettings
from stock_platform.processing.offset_guard import StreamResetRequired, TopicState, check_positions, topic_state
from stock_platform.processing.processor import run_spark
from stock_platform.processing.sink import TradeSink
from stock_platform.processing.spark_stream import SparkStreamSettings
from stock_platform.processing.stream_stats import StreamStats
from stock_platform.processing.trade_decoding import TradeDecoder
from stock_platform_tests.processing.conftest import (
    UTC_CALENDAR,
    RecordingWriter,
    create_market_topic,
    produce_frames,
    utc_day,
)

STATE = TopicState("id-1", {0: (0, 50), 1: (10, 20)})


@pytest.mark.parametrize(
    ("positions", "stored_id", "skipped", "recreated"),
    [
        ({0: 50, 1: 10}, "id-1", 0, False),
        ({0: 0, 1: 15}, None, 0, False),
        ({0: 40, 1: 4}, "id-1", 6, False),
        ({0: 51, 1: 12}, "id-1", 0, True),
        ({0: 5, 2: 3}, "id-1", 0, True),
        ({0: 5, 1: 12}, "id-0", 0, True),
    ],
)
def test_positions_are_compared_with_what_the_topic_holds(positions, stored_id, skipped, recreated):
    check = check_positions("market", positions, STATE, stored_id)
    assert (check.skipped_messages, check.recreated) == (skipped, recreated)


def test_the_skip_line_names_the_spans_and_the_reset_command():
    check = check_positions("market", {0: 40, 1: 4}, STATE)
    assert check.resume_positions({0: 40, 1: 4}) == {0: 40, 1: 10}
    assert check.skip_line("stock-platform stream-reset light") == (
        "Kafka retention deleted 6 messages of 'market' before the stream read them (partition 1 offsets 4-9); "
        "skipping ahead to the earliest offsets still there. To start over from the earliest offsets: stock-platform stream-reset light"
    )


def _delete_unread_records(topics, read: dict[int, tuple[int, int]], keep_last: int) -> int:
    """Delete all but the last `keep_last` records of every partition (what retention does).

    Returns how many of the deleted records lay beyond `read` (the watermarks when the stream stopped).
    """
    state = topic_state(topics.kafka, topics.market)
    targets = [TopicPartition(topics.market, p, max(end - keep_last, 0)) for p, (_, end) in state.watermarks.items()]
    admin = AdminClient(topics.kafka.admin_config())  # kept referenced: its futures complete only while it lives
    for future in admin.delete_records(targets, request_timeout=30, operation_timeout=30).values():
        future.result(30)
    return sum(max(target.offset - read[target.partition][1], 0) for target in targets)


def _recreate(topics) -> None:
    admin = AdminClient(topics.kafka.admin_config())
    admin.delete_topics([topics.market])[topics.market].result(10)
    deadline = time.monotonic() + 30
    while True:
        try:
            create_market_topic(topics.kafka, topics.market)
            if topic_state(topics.kafka, topics.market).watermarks:
                return
        except (KafkaException, RuntimeError):
            if time.monotonic() > deadline:
                raise
        time.sleep(0.5)


def _light(topics, writer, stats):
    settings = LightEngineSettings(topic=topics.market, group_id=topics.group, max_batch_messages=50)
    return LightEngine(topics.kafka, settings, TradeDecoder(topics.market, utc_day), TradeSink(writer, None, stats))


def _run_light(topics, writer, stats, expected):
    stop = threading.Event()
    _light(topics, writer, stats).run(stop, lambda: stop.set() if len(writer.rows) >= expected else None)


def test_light_engine_skips_what_retention_deleted_and_reports_the_count(topics, caplog):
    first = len(produce_frames(topics.kafka, topics.market, 8))
    writer, stats = RecordingWriter(), StreamStats("light")
    _run_light(topics, writer, stats, first)
    read = topic_state(topics.kafka, topics.market).watermarks
    later = produce_frames(topics.kafka, topics.market, 30, seed=3)
    deleted = _delete_unread_records(topics, read, keep_last=2)
    caplog.set_level(logging.WARNING)
    stats = StreamStats("light")
    _run_light(topics, writer, stats, first + 1)
    time.sleep(0.5)
    [line] = [record.getMessage() for record in caplog.records if "retention deleted" in record.getMessage()]
    assert f"deleted {deleted} messages of '{topics.market}'" in line
    assert f"stock-platform stream-reset light --topic {topics.market} --group {topics.group}" in line
    assert stats.totals["skipped_messages"] == deleted > 0
    assert first < len(writer.rows) < first + len(later)


def test_light_engine_reports_what_retention_deletes_while_it_runs_instead_of_reading_past_it(topics, caplog):
    for seed in range(30):  # one frame per flush: record batches of one message, so fetches stay small
        produce_frames(topics.kafka, topics.market, 1, seed=seed)
    total = sum(end for _, end in topic_state(topics.kafka, topics.market).watermarks.values())
    # Tiny fetches and fetch queue, so the records deleted below have not already been fetched into the client.
    small_fetches = {
        "message.max.bytes": "1000", "fetch.max.bytes": "1024", "max.partition.fetch.bytes": "256", "queued.max.messages.kbytes": "1",
    }  # fmt: skip
    kafka = replace(topics.kafka, client_overrides=small_fetches)
    stats, writer = StreamStats("light"), RecordingWriter()
    settings = LightEngineSettings(topic=topics.market, group_id=topics.group, max_batch_messages=3)
    engine = LightEngine(kafka, settings, TradeDecoder(topics.market, utc_day), TradeSink(writer, None, stats))
    caplog.set_level(logging.WARNING)
    stop, deadline, deleted = threading.Event(), time.monotonic() + 60, []
    filled = {partition for partition, (_, end) in topic_state(topics.kafka, topics.market).watermarks.items() if end}

    def tick():
        # Once every partition has a committed position, retention deletes all but the last 2 records of each.
        if not deleted and filled <= {row.kafka_partition for row in writer.rows.values()}:
            deleted.append(_delete_unread_records(topics, {p: (0, 0) for p in range(4)}, keep_last=2))
        if stats.totals["messages"] + stats.totals["skipped_messages"] >= total or time.monotonic() > deadline:
            stop.set()

    engine.run(stop, tick)
    # Every message was either processed or reported as skipped, none read past silently.
    assert stats.totals["skipped_messages"] > 0
    assert stats.totals["messages"] + stats.totals["skipped_messages"] == total
    assert any("retention deleted" in record.getMessage() for record in caplog.records)


def test_light_engine_reads_a_recreated_topic_from_its_start(topics):
    produce_frames(topics.kafka, topics.market, 10)
    _run_light(topics, RecordingWriter(), StreamStats("light"), 1)
    _recreate(topics)
    fresh = len(produce_frames(topics.kafka, topics.market, 3, seed=4))
    writer = RecordingWriter()
    _run_light(topics, writer, StreamStats("light"), fresh)
    assert len(writer.rows) == fresh


def test_stream_reset_sets_the_light_engine_group_back_to_the_earliest_offsets(topics, monkeypatch, capsys):
    produced = len(produce_frames(topics.kafka, topics.market, 10))
    _run_light(topics, RecordingWriter(), StreamStats("light"), produced)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", topics.kafka.bootstrap_servers)
    assert main(["stream-reset", "light", "--topic", topics.market, "--group", topics.group]) == 0
    assert f"group '{topics.group}' now starts '{topics.market}' at {{0: 0, 1: 0, 2: 0, 3: 0}}" in capsys.readouterr().out
    writer = RecordingWriter()
    _run_light(topics, writer, StreamStats("light"), produced)
    assert len(writer.rows) == produced


@pytest.mark.e2e
def test_spark_skips_deleted_offsets_and_refuses_a_recreated_topic_until_reset(spark, topics, tmp_path, caplog, capsys):
    checkpoint = str(tmp_path / "checkpoint")
    settings = SparkStreamSettings(topics.market, checkpoint, max_messages_per_trigger=200)

    def run(writer, expected):
        stats, stop = StreamStats("spark"), threading.Event()
        sink = TradeSink(writer, None, stats)
        run_spark(lambda: nullcontext(spark), topics.kafka, settings, UTC_CALENDAR, sink, stop, lambda: stop.set() if len(writer.rows) >= expected else None)
        return stats

    first = len(produce_frames(topics.kafka, topics.market, 8))
    writer = RecordingWriter()
    run(writer, first)
    read = topic_state(topics.kafka, topics.market).watermarks
    later = produce_frames(topics.kafka, topics.market, 30, seed=3)
    deleted = _delete_unread_records(topics, read, keep_last=2)
    caplog.set_level(logging.WARNING)
    stats = run(writer, first + 1)
    time.sleep(1)
    [line] = [record.getMessage() for record in caplog.records if "retention deleted" in record.getMessage()]
    assert f"deleted {deleted} messages" in line and f"stock-platform stream-reset spark --checkpoint {checkpoint}" in line
    assert stats.totals["skipped_messages"] == deleted > 0
    assert first < len(writer.rows) < first + len(later)

    _recreate(topics)
    fresh = len(produce_frames(topics.kafka, topics.market, 3, seed=4))
    with pytest.raises(StreamResetRequired, match=f"^Kafka topic '{topics.market}' was recreated since the Spark checkpoint") as refused:
        run(RecordingWriter(), fresh)
    command = str(refused.value).split("reset with `")[1].split("`")[0]
    assert command == f"stock-platform stream-reset spark --checkpoint {checkpoint}"
    assert main(command.split()[1:]) == 0
    assert f"deleted the Spark checkpoint {checkpoint}" in capsys.readouterr().out
    writer = RecordingWriter()
    run(writer, fresh)
    assert len(writer.rows) == fresh
