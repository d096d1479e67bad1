import pickle

import pyarrow as pa
from pyspark.sql.streaming.datasource import ReadAllAvailable, ReadMaxRows

from stock_platform.core.avro_codec import TradeBatchCodec
from stock_platform.processing.jvm_kafka import decode_raw_messages
from stock_platform.processing.kafka_source import KafkaTradeSource, source_options
from stock_platform.processing.records import collect_records
from stock_platform_tests.processing.conftest import T0, produce_frames, utc_day


def _reader(kafka, **options):
    return KafkaTradeSource(source_options(kafka, "market", utc_day, **options)).streamReader(None)


def test_reader_plans_exact_ranges_and_reads_every_trade_once(kafka):
    produced = produce_frames(kafka, "market", 20)
    reader = _reader(kafka)
    start = reader.initialOffset()
    assert set(start.values()) == {0}
    end = reader.latestOffset(start, ReadAllAvailable())
    ranges = reader.partitions(start, end)
    executor_copy = pickle.loads(pickle.dumps(reader))
    batches = [batch for kafka_range in ranges for batch in executor_copy.read(kafka_range)]
    collected = collect_records(pa.Table.from_batches(batches))
    assert len(collected.rows) == len(produced) == len({row.trade_id for row in collected.rows})
    assert collected.messages == sum(end.values())
    assert reader.latestOffset(end, ReadAllAvailable()) == end
    reader.stop()


def test_read_limit_bounds_a_micro_batch_evenly_across_partitions(kafka):
    produce_frames(kafka, "market", 20)
    reader = _reader(kafka, max_messages_per_trigger=8)
    start = reader.initialOffset()
    assert reader.getDefaultReadLimit() == ReadMaxRows(8)
    everything = reader.latestOffset(start, ReadAllAvailable())
    bounded = reader.latestOffset(start, reader.getDefaultReadLimit())
    assert bounded == {partition: min(end, 2) for partition, end in everything.items()}
    assert max(everything.values()) > 2
    reader.stop()


def test_starting_at_latest_skips_what_is_already_there(kafka):
    produce_frames(kafka, "market", 5)
    reader = _reader(kafka, starting_offsets="latest")
    start = reader.initialOffset()
    assert reader.partitions(start, reader.latestOffset(start, ReadAllAvailable())) == []
    reader.stop()


def test_jvm_connector_rows_decode_into_the_same_records():
    codec = TradeBatchCodec()
    value = codec.encode([{"s": "AAPL", "p": 1.5, "t": T0, "v": 2.0, "c": None}], T0 + 5, "test")
    raw = pa.RecordBatch.from_pydict(
        {"key": [b"AAPL", b"AAPL"], "value": [value, b"junk"], "partition": [2, 2], "offset": [7, 8],
         "headers": [[{"key": "schema", "value": b"market.TradeBatch/v1"}], None]}  # fmt: skip
    )
    [decoded] = list(decode_raw_messages("market", utc_day)(iter([raw])))
    collected = collect_records(pa.Table.from_batches([decoded]))
    assert [(row.trade_id, row.price, row.received_at_ms) for row in collected.rows] == [("market/00002/00000000000000000007/000000", 1.5, T0 + 5)]
    assert "market[2]@8: not a decodable TradeBatch" in collected.dead_letters[0].reason
    assert collected.offset_ranges == {2: (7, 8)}
