import threading
import time

import dagster as dg
import pytest
from confluent_kafka import KafkaError, KafkaException

from stock_platform.defs.kafka import consumer_lag as lag_defs
from stock_platform.defs.kafka.consumer_lag import (
    ConsumerLagResource,
    consumer_lag_checks,
    consumer_lag_jobs,
    market_consumer_lag_sensor,
)
from stock_platform.defs.kafka.market import MARKET_KEY, market
from stock_platform.defs.kafka.resources import KafkaResource
from stock_platform.defs.processing.resources import StreamProcessorResource
from stock_platform.kafka.settings import KafkaSettings
from stock_platform.processing.consumer_lag import LagSnapshot
from stock_platform.processing.light_engine import LightEngine, LightEngineSettings
from stock_platform.processing.sink import TradeSink
from stock_platform.processing.stream_stats import StreamStats
from stock_platform.processing.trade_decoding import TradeDecoder
from stock_platform_tests.processing.conftest import RecordingWriter, create_market_topic, produce_frames, utc_day

NOW_MS = int(time.time() * 1000)


def _snapshot(positions, ends=(100, 50), oldest_age_s=None):
    watermarks = {p: (0, end) for p, end in enumerate(ends)}
    oldest = {0: NOW_MS - int(oldest_age_s * 1000)} if oldest_age_s is not None else {}
    return LagSnapshot("market", NOW_MS, watermarks, positions, "consumer group g", oldest)


def _resources(engine="light", group="g", bootstrap="127.0.0.1:1", **limits):
    return {
        "kafka": KafkaResource(bootstrap_servers=bootstrap),
        "stream_processor": StreamProcessorResource(engine=engine, consumer_group=group),
        "consumer_lag": ConsumerLagResource(**limits),
    }


def _measured(monkeypatch, *snapshots):
    """Each measurement returns the next snapshot, or raises it when it is an exception."""
    pending = list(snapshots)

    def measure(kafka, processor, timeout_s):
        item = pending.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item

    monkeypatch.setattr(lag_defs, "measure_market_lag", measure)


def _tick(instance, resources):
    return market_consumer_lag_sensor(dg.build_sensor_context(instance=instance, resources=resources))


def _check(instance, resources) -> dg.AssetCheckEvaluation:
    defs = dg.Definitions(assets=[market], asset_checks=consumer_lag_checks, jobs=consumer_lag_jobs, resources=resources)
    result = defs.resolve_job_def("market_lag_checks").execute_in_process(instance=instance)
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


def test_the_sensor_records_lag_as_an_observation_of_market(monkeypatch):
    _measured(monkeypatch, _snapshot({0: 40, 1: 50}, oldest_age_s=12.5))
    with dg.instance_for_test() as instance:
        result = _tick(instance, _resources())
    observation, _ = result.asset_events
    assert observation.asset_key == MARKET_KEY
    metadata = {key: value.value for key, value in observation.metadata.items()}
    assert metadata["total_lag"] == 60 and metadata["lag_partition_0"] == 60 and metadata["lag_partition_1"] == 0
    assert metadata["lagging_partitions"] == 1
    assert metadata["oldest_unprocessed_age_seconds"] == 12.5
    assert metadata["log_end_offsets"] == {"0": 100, "1": 50} and metadata["log_end_offset_total"] == 150
    assert metadata["positions"] == {"0": 40, "1": 50} and metadata["engine"] == "light"
    assert result.skip_reason.skip_message == "lag 60 messages over 2 partitions, oldest unprocessed 12.5s"


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (KafkaException(KafkaError(KafkaError._TRANSPORT, "connection refused")), "consumer lag not measured: Kafka: connection refused"),
        (ValueError("STREAM_ENGINE must be `spark` or `light`, got 'x'\nmore"), "consumer lag not measured: STREAM_ENGINE must be"),
    ],
)
def test_a_tick_that_cannot_measure_skips_with_one_line(monkeypatch, error, line):
    _measured(monkeypatch, error)
    with dg.instance_for_test() as instance:
        result = _tick(instance, _resources())
    assert isinstance(result, dg.SkipReason) and result.skip_message.startswith(line) and "\n" not in result.skip_message


@pytest.mark.parametrize(
    ("snapshot", "passed", "severity"),
    [
        (_snapshot({0: 100, 1: 50}), True, None),
        (_snapshot({0: 0, 1: 0}, oldest_age_s=5), False, dg.AssetCheckSeverity.WARN),  # 150 > 100 messages
        (_snapshot({0: 90, 1: 50}, oldest_age_s=90), False, dg.AssetCheckSeverity.WARN),
        (_snapshot({0: 90, 1: 50}, oldest_age_s=700), False, dg.AssetCheckSeverity.ERROR),
        (_snapshot(None), False, dg.AssetCheckSeverity.WARN),
    ],
)
def test_check_severities_follow_the_configured_limits(monkeypatch, snapshot, passed, severity):
    _measured(monkeypatch, snapshot)
    with dg.instance_for_test() as instance:
        evaluation = _check(instance, _resources(warn_lag_messages=100, warn_lag_seconds=60, error_lag_seconds=600))
    assert evaluation.passed is passed
    if severity is not None:
        assert evaluation.severity == severity
        assert evaluation.metadata["problems"].value.startswith("- ")


def test_check_fails_when_the_position_stays_while_the_log_end_grows(monkeypatch):
    # The sensor's observation is the baseline; the check, later, sees the same positions and a longer log.
    _measured(monkeypatch, _snapshot({0: 90, 1: 50}, ends=(95, 50)), _snapshot({0: 90, 1: 50}, ends=(130, 50), oldest_age_s=3))
    resources = _resources(stall_seconds=0)
    with dg.instance_for_test() as instance:
        instance.report_runless_asset_event(_tick(instance, resources).asset_events[0])
        evaluation = _check(instance, resources)
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert evaluation.metadata["stalled_partitions"].value == 1
    assert "processing stalled: partitions [0]" in evaluation.metadata["problems"].value


def test_check_without_an_old_enough_baseline_does_not_call_a_stall(monkeypatch):
    _measured(monkeypatch, _snapshot({0: 90, 1: 50}, ends=(95, 50)), _snapshot({0: 90, 1: 50}, ends=(130, 50)))
    resources = _resources(stall_seconds=3600, warn_lag_messages=1000)
    with dg.instance_for_test() as instance:
        instance.report_runless_asset_event(_tick(instance, resources).asset_events[0])
        evaluation = _check(instance, resources)
    assert evaluation.passed


def test_check_warns_with_one_line_when_kafka_does_not_answer(monkeypatch):
    _measured(monkeypatch, KafkaException(KafkaError(KafkaError._TIMED_OUT, "timed out")))
    with dg.instance_for_test() as instance:
        evaluation = _check(instance, _resources())
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.metadata["error"].value == "consumer lag not measured: Kafka: timed out"


@pytest.mark.parametrize(("positions", "passed", "severity"), [({0: 100, 1: 50}, True, None), ({0: 0, 1: 50}, False, dg.AssetCheckSeverity.WARN)])
def test_every_sensor_tick_evaluates_the_lag_check_without_a_run(monkeypatch, positions, passed, severity):
    _measured(monkeypatch, _snapshot(positions))
    with dg.instance_for_test() as instance:
        result = _tick(instance, _resources(warn_lag_messages=10))
        assert instance.get_runs() == []
    observation, evaluation = result.asset_events
    assert isinstance(observation, dg.AssetObservation)
    assert isinstance(evaluation, dg.AssetCheckEvaluation)
    assert (evaluation.asset_key, evaluation.check_name, evaluation.passed) == (MARKET_KEY, "market_consumer_lag", passed)
    if severity is not None:
        assert evaluation.severity == severity


@pytest.mark.parametrize(("checkpoint_dir", "readable"), [("/tmp/checkpoints", True), ("s3a://bucket/checkpoints", False)])
def test_spark_positions_come_from_the_local_checkpoint_only(tmp_path, checkpoint_dir, readable):
    processor = StreamProcessorResource(engine="spark", checkpoint_dir=str(tmp_path) if readable else checkpoint_dir)
    reader, source = lag_defs.position_reader(KafkaSettings("x:9092"), processor, "market", 1.0)
    assert source.startswith("Spark checkpoint")
    if readable:
        assert reader([0]) == {}
    else:
        with pytest.raises(lag_defs.PositionUnavailable, match="s3a://bucket/checkpoints/market is not a local folder"):
            reader([0])


def test_a_short_light_engine_run_then_a_backlog_shows_in_the_observation_and_the_stall_fails(kafka_broker, unique_name):
    """Real broker: the light engine processes 20 frames and commits, stops; 10 more frames wait unprocessed."""
    kafka = KafkaSettings(kafka_broker.bootstrap_servers)
    topic, group = unique_name("market"), unique_name("group")
    create_market_topic(kafka, topic)
    expected = len(produce_frames(kafka, topic, 20))
    writer = RecordingWriter()
    engine = LightEngine(kafka, LightEngineSettings(topic=topic, group_id=group), TradeDecoder(topic, utc_day), TradeSink(writer, None, StreamStats("light")))
    stop = threading.Event()
    engine.run(stop, lambda: stop.set() if len(writer.rows) >= expected else None)

    kafka_resource = KafkaResource(bootstrap_servers=kafka_broker.bootstrap_servers, market_topic=topic)
    resources = {**_resources(group=group, stall_seconds=0), "kafka": kafka_resource}
    with dg.instance_for_test() as instance:
        caught_up = _tick(instance, resources).asset_events[0].metadata
        produce_frames(kafka, topic, 10, seed=2)
        result = _tick(instance, resources)
        instance.report_runless_asset_event(result.asset_events[0])
        produce_frames(kafka, topic, 5, seed=3)
        evaluation = _check(instance, resources)
    behind = result.asset_events[0].metadata
    print("caught up:", {key: value.value for key, value in caught_up.items()})
    print("behind:", {key: value.value for key, value in behind.items()})
    print("check:", evaluation.severity, {key: value.value for key, value in evaluation.metadata.items()})
    assert caught_up["total_lag"].value == 0 and caught_up["oldest_unprocessed_age_seconds"].value == 0.0
    frames_per_symbol_batch = behind["log_end_offset_total"].value - caught_up["log_end_offset_total"].value
    assert behind["total_lag"].value == frames_per_symbol_batch > 0
    assert 0 <= behind["oldest_unprocessed_age_seconds"].value < 60
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR


def test_the_code_location_has_the_lag_sensor_check_and_job():
    from stock_platform.definitions import defs

    assert defs.resolve_sensor_def("market_consumer_lag_sensor").default_status == dg.DefaultSensorStatus.RUNNING
    assert defs.resolve_sensor_def("market_consumer_lag_sensor").minimum_interval_seconds == 30
    assert dg.AssetCheckKey(MARKET_KEY, "market_consumer_lag") in defs.resolve_asset_graph().asset_check_keys
    assert defs.resolve_job_def("market_lag_checks") is not None
    assert isinstance(defs.resources["consumer_lag"], ConsumerLagResource)
