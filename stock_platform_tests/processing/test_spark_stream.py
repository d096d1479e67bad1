import gc
import threading

import pytest

from stock_platform.processing import spark_stream
from stock_platform.processing.jvm_kafka import CollectedBatch
from stock_platform.processing.sink import TradeSink
from stock_platform.processing.spark_stream import SparkStreamSettings, StreamQueryError, run_query, start_query
from stock_platform.processing.stream_stats import StreamStats
from stock_platform_tests.processing.conftest import UTC_CALENDAR, RecordingWriter, produce_frames

pytestmark = pytest.mark.e2e


def _run(spark, kafka, settings, writer, expected):
    sink = TradeSink(writer, None, StreamStats("spark"))
    stop = threading.Event()
    run_query(start_query(spark, kafka, settings, UTC_CALENDAR, sink), stop, lambda: stop.set() if len(writer.rows) >= expected else None, 0.2)


def test_a_query_killed_mid_batch_resumes_from_its_checkpoint_without_loss(spark, topics, tmp_path):
    kafka = topics.kafka
    expected = len(produce_frames(kafka, topics.market, 40))
    settings = SparkStreamSettings(topics.market, str(tmp_path / "checkpoint"), max_messages_per_trigger=40)
    crashing = RecordingWriter(failures=1)
    with pytest.raises(StreamQueryError, match="store went away mid-batch"):
        _run(spark, kafka, settings, crashing, expected)
    writer = RecordingWriter()
    writer.rows.update(crashing.rows)
    _run(spark, kafka, settings, writer, expected)
    assert len(writer.rows) == expected
    more = len(produce_frames(kafka, topics.market, 5, seed=2))
    _run(spark, kafka, settings, writer, expected + more)
    assert len(writer.rows) == expected + more


def test_a_micro_batch_is_decoded_and_written_with_the_garbage_collector_paused(monkeypatch):
    seen = []

    class Batch:
        def __init__(self, fails):
            self.fails = fails

        def toArrow(self):
            if self.fails:
                raise RuntimeError("the job failed")
            return self

    def decode(table, decoder):
        seen.append(gc.isenabled())
        return CollectedBatch([], [], {}, 0, 0)

    monkeypatch.setattr(spark_stream, "decode_raw_batch", decode)
    write = spark_stream.write_micro_batch(TradeSink(RecordingWriter(), None, StreamStats("spark")), "market", UTC_CALENDAR)
    assert gc.isenabled()
    write(Batch(fails=False), 0)
    with pytest.raises(RuntimeError, match="the job failed"):
        write(Batch(fails=True), 1)
    assert seen == [False]
    assert gc.isenabled()
