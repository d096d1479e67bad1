import time
from datetime import date

import dagster as dg
import pytest
from confluent_kafka import Producer

from stock_platform.defs.finnhub.resources import FinnhubResource
from stock_platform.defs.grafana.resources import GrafanaResource
from stock_platform.defs.kafka.market import market
from stock_platform.defs.kafka.resources import KafkaResource
from stock_platform.defs.processing.assets import DAILY_AGGREGATES_KEY, MINUTE_BARS_KEY, TRADES_KEY, stream_events
from stock_platform.defs.processing.checks import processing_checks
from stock_platform.defs.processing.jobs import (
    daily_aggregates_reconcile,
    processing_assets,
    processing_jobs,
    processing_schedules,
    processing_sensors,
    stream_processor,
)
from stock_platform.defs.processing.resources import SparkResource, StreamProcessorResource
from stock_platform.defs.provenance import CODE_VERSION, provenance_metadata
from stock_platform.defs.resources import processing_resources
from stock_platform.defs.storage.resources import EmbeddedStoreResource
from stock_platform.kafka.avro_codec import TradeBatchCodec
from stock_platform.models import TradeRow, make_trade_id
from stock_platform.processing.stream_stats import StreamIntervalReport, StreamTotals
from stock_platform.storage.batch import write_trade_batch

ANNOTATIONS: list[tuple[str, str]] = []


class RecordingGrafanaResource(GrafanaResource):
    """Records the pipeline events the jobs annotate instead of posting them."""

    def annotate_pipeline_event(self, event: str, component: str, text: str, run_id: str | None = None, **_: object) -> int:
        ANNOTATIONS.append((event, component))
        return len(ANNOTATIONS)


@pytest.fixture(autouse=True)
def _reset_annotations():
    ANNOTATIONS.clear()


def _defs(**resources):
    return dg.Definitions(
        assets=[market, *processing_assets],
        asset_checks=processing_checks,
        jobs=processing_jobs,
        sensors=processing_sensors,
        schedules=processing_schedules,
        resources={**processing_resources(), "kafka": KafkaResource(bootstrap_servers="127.0.0.1:1"), "grafana": GrafanaResource(),
                   "finnhub": FinnhubResource(symbols="AAPL"), **resources},  # fmt: skip
    )


def _report(**overrides):
    report = {
        "engine": "light", "interval_seconds": 30.0, "batches": 2, "messages": 10, "rows_written": 40,
        "trades_per_second": 1.3, "duplicate_trades": 1, "late_trades": 2, "dead_letters": 0, "rejected_trades": 0, "skipped_messages": 0,
        "first_event_time_ms": 1_760_000_000_000, "last_event_time_ms": 1_760_000_001_000, "offset_ranges": {0: [3, 9]},
        "rows_per_trading_day": {"2025-10-09": 40, "1999-01-01": 1}, "latency_p50_ms": 20.0, "latency_p99_ms": 80.0,
        "latency_max_ms": 90.0,
        "totals": StreamTotals(batches=20, messages=100, rows_written=400, duplicate_trades=1, late_trades=2, dead_letters=0, skipped_messages=0),
    }  # fmt: skip
    report.update(overrides)
    return StreamIntervalReport(**report)


def test_lineage_runs_market_to_trades_to_partitioned_aggregates():
    graph = _defs(market_store=EmbeddedStoreResource()).resolve_asset_graph()
    assert graph.get(TRADES_KEY).parent_keys == {market.key}
    for key in (DAILY_AGGREGATES_KEY, MINUTE_BARS_KEY):
        assert graph.get(key).parent_keys == {TRADES_KEY}
        assert isinstance(graph.get(key).partitions_def, dg.DailyPartitionsDefinition)


def test_interval_events_carry_audit_metadata_and_only_existing_day_partitions():
    events = stream_events(_report(), provenance_metadata("run-1", "stream_processor"))
    assert [(event.asset_key, event.partition) for event in events] == [
        (TRADES_KEY, None), (DAILY_AGGREGATES_KEY, "2025-10-09"), (MINUTE_BARS_KEY, "2025-10-09"),
    ]  # fmt: skip
    metadata = events[0].metadata
    assert metadata["rows_written"].value == 40 and metadata["late_trades"].value == 2
    assert metadata["offset_ranges"].value == {"partition 0": [3, 9]}
    assert metadata["latency_p99_ms"].value == 80.0 and metadata["run_id"].value == "run-1"
    assert all(event.metadata["job"].value == "stream_processor" for event in events)
    assert all(event.metadata["code_version"].value == CODE_VERSION for event in events)


def test_idle_intervals_emit_nothing():
    assert stream_events(_report(rows_written=0, rows_per_trading_day={}), provenance_metadata("run-1", "stream_processor")) == []


def _failure_message(result):
    [failure] = [event for event in result.all_events if event.event_type == dg.DagsterEventType.STEP_FAILURE]
    return failure.step_failure_data.error.message


@pytest.mark.parametrize(
    ("processor", "expected"),
    [
        (StreamProcessorResource(engine="flink"), "STREAM_ENGINE must be `spark` or `light`, got 'flink'"),
        (StreamProcessorResource(equity_time_zone="Mars/Olympus"), "unknown time zone 'Mars/Olympus'"),
    ],
)
def test_configuration_mistakes_fail_the_run_with_one_clear_line(tmp_path, processor, expected):
    result = stream_processor.execute_in_process(
        resources={
            "kafka": KafkaResource(bootstrap_servers="127.0.0.1:1", admin_timeout_s=1),
            "market_store": EmbeddedStoreResource(data_dir=str(tmp_path)),
            "stream_processor": processor,
            "spark": SparkResource(),
            "grafana": GrafanaResource(),
        },
        raise_on_error=False,
    )
    assert not result.success
    assert expected in _failure_message(result)


def _kafka(kafka_broker, unique_name) -> KafkaResource:
    """This test's own market and dead-letter topics on the session's broker."""
    market = unique_name("market")
    kafka = KafkaResource(bootstrap_servers=kafka_broker.bootstrap_servers, partitions=2, market_topic=market, dead_letter_topic=f"{market}.dead_letter")
    kafka.ensure_topics()
    return kafka


def _produce_trades(kafka: KafkaResource, count: int) -> None:
    codec, producer = TradeBatchCodec(), Producer({"bootstrap.servers": kafka.bootstrap_servers})
    now_ms = int(time.time() * 1000)
    for index in range(count):
        trade = {"s": "AAPL", "p": 100.0 + index, "t": now_ms - index, "v": 1.0, "c": None}
        producer.produce(kafka.market_topic, key=b"AAPL", value=codec.encode([trade], now_ms, "test"), headers=codec.headers)
    assert producer.flush(10) == 0


@pytest.mark.e2e
def test_stream_processor_run_with_the_light_engine_writes_reports_and_ends_with_its_window(tmp_path, kafka_broker, unique_name):
    store, grafana = EmbeddedStoreResource(data_dir=str(tmp_path), synchronous="OFF"), RecordingGrafanaResource()
    kafka = _kafka(kafka_broker, unique_name)
    _produce_trades(kafka, 50)
    processor = StreamProcessorResource(engine="light", consumer_group=unique_name("group"))
    result = stream_processor.execute_in_process(
        run_config={"ops": {"process_market_stream": {"config": {"window_minutes": 0.05, "report_interval_seconds": 1}}}},
        resources={"kafka": kafka, "market_store": store, "stream_processor": processor, "spark": SparkResource(), "grafana": grafana},
    )
    assert result.success
    assert ANNOTATIONS == [("stream_restart", "stream_processor")]
    materializations = [event.materialization for event in result.get_asset_materialization_events()]
    written = sum(m.metadata["rows_written"].value for m in materializations if m.asset_key == TRADES_KEY)
    assert written == 50
    assert any(m.asset_key == DAILY_AGGREGATES_KEY and m.partition for m in materializations)
    with store.open_store() as opened:
        day = opened.symbols_for_day
        trading_day = next(iter({m.partition for m in materializations if m.partition}))
        assert opened.daily_aggregates_for_day(date.fromisoformat(trading_day))["AAPL"].trade_count == 50
        assert day(date.fromisoformat(trading_day)) == ["AAPL"]
        assert sum(sample.trades for sample in opened.health_samples("stream_processor", date.today())) == 50


def _seed_store(store_resource, day, double_count=True):
    rows = [
        TradeRow("AAPL", day, 1_760_000_000_000 + offset, make_trade_id("market", 0, offset, 0), 10.0 + offset, 1.0, None, 0, 0, offset)
        for offset in range(5)
    ]
    with store_resource.open_store() as store:
        write_trade_batch(store, rows)
        if not double_count:
            return
        bar = store.daily_aggregates_for_day(day)["AAPL"]
        bar.trade_count, bar.volume = 99, 99.0  # a double count to be repaired
        store.upsert_daily_aggregates({("AAPL", day): bar})


@pytest.mark.e2e
def test_reconcile_recomputes_a_day_from_trades_and_its_check_then_passes(tmp_path):
    store = EmbeddedStoreResource(data_dir=str(tmp_path), synchronous="OFF")
    _seed_store(store, date(2025, 10, 9))
    with store.open_store() as opened:  # MSFT's trades expired (TTL): only its aggregate is left
        expired = opened.daily_aggregates_for_day(date(2025, 10, 9))["AAPL"]
        opened.upsert_daily_aggregates({("MSFT", date(2025, 10, 9)): expired})
    spark = SparkResource(master="local[1]", spark_config={"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "1"})
    defs = _defs(market_store=store, spark=spark, stream_processor=StreamProcessorResource(), grafana=RecordingGrafanaResource())
    result = defs.resolve_job_def(daily_aggregates_reconcile.name).execute_in_process(partition_key="2025-10-09")
    assert result.success
    assert ANNOTATIONS == [("reconciliation", "daily_aggregates_reconcile")]
    [evaluation] = [
        event.asset_check_evaluation_data for event in result.all_events if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ]
    assert evaluation.passed
    assert evaluation.metadata["trades_expired_aggregates_kept"].value == 1
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert (metadata["trades"].value, metadata["changed_symbols"].value) == (5, 1)
    assert metadata["trades_expired_aggregates_kept"].value == 1
    with store.open_store() as opened:
        daily = opened.daily_aggregates_for_day(date(2025, 10, 9))
        assert (daily["AAPL"].trade_count, daily["MSFT"]) == (5, expired)


@pytest.mark.e2e
def test_stream_processor_run_with_the_spark_engine_writes_through_a_checkpoint(tmp_path, kafka_broker, unique_name):
    store = EmbeddedStoreResource(data_dir=str(tmp_path), synchronous="OFF")
    processor = StreamProcessorResource(engine="spark", checkpoint_dir=str(tmp_path / "checkpoints"))
    spark = SparkResource(master="local[2]", spark_config={"spark.ui.enabled": "false", "spark.driver.memory": "768m"})
    kafka = _kafka(kafka_broker, unique_name)
    _produce_trades(kafka, 50)
    result = stream_processor.execute_in_process(
        run_config={"ops": {"process_market_stream": {"config": {"window_minutes": 0.25, "report_interval_seconds": 2}}}},
        resources={"kafka": kafka, "market_store": store, "stream_processor": processor, "spark": spark, "grafana": GrafanaResource()},
    )
    assert result.success
    materializations = [event.materialization for event in result.get_asset_materialization_events()]
    assert sum(m.metadata["rows_written"].value for m in materializations if m.asset_key == TRADES_KEY) == 50
    assert (tmp_path / "checkpoints" / kafka.market_topic / "offsets").is_dir()


def test_a_recreated_topic_fails_the_run_once_with_the_reset_command(tmp_path, kafka_broker, unique_name):
    kafka = _kafka(kafka_broker, unique_name)
    checkpoint = tmp_path / "checkpoints" / kafka.market_topic
    (checkpoint / "commits").mkdir(parents=True)
    (checkpoint / "commits" / "0").write_text("v1\n{}\n")
    (checkpoint / "offsets").mkdir()
    (checkpoint / "offsets" / "0").write_text(f'v1\n{{}}\n{{"{kafka.market_topic}": {{"0": 40, "1": 0}}}}\n')
    processor = StreamProcessorResource(engine="spark", checkpoint_dir=str(tmp_path / "checkpoints"))
    result = stream_processor.execute_in_process(
        run_config={"ops": {"process_market_stream": {"config": {"window_minutes": 0.25}}}},
        resources={"kafka": kafka, "market_store": EmbeddedStoreResource(data_dir=str(tmp_path)), "stream_processor": processor,
                   "spark": SparkResource(), "grafana": GrafanaResource()},  # fmt: skip
        raise_on_error=False,
    )
    assert not result.success
    assert (
        f"Kafka topic '{kafka.market_topic}' was recreated since the Spark checkpoint {checkpoint} was written "
        f"(partition 0 resumes at 40 but ends at 0); reset with `stock-platform stream-reset spark --checkpoint {checkpoint}`, "
        "then recompute the affected daily_aggregates partitions"
    ) in _failure_message(result)


def test_checks_find_double_counts_and_the_impossible_vwap_they_cause(tmp_path):
    from stock_platform.defs.processing.checks import aggregate_mismatches, invalid_values

    store = EmbeddedStoreResource(data_dir=str(tmp_path), synchronous="OFF")
    _seed_store(store, date(2025, 10, 9))
    with store.open_store() as opened:
        assert aggregate_mismatches(opened, date(2025, 10, 9)) == ["AAPL: stored count/volume/close 99/99/14, trades give 5/5/14"]
        assert invalid_values(opened, date(2025, 10, 9)) == (["AAPL: VWAP 0.606061 outside [low 10, high 14]"], 5)
        assert aggregate_mismatches(opened, date(2025, 10, 10)) == []
        assert invalid_values(opened, date(2025, 10, 10)) == ([], 0)


def test_aggregates_of_trades_expired_in_whole_or_part_are_counted_not_mismatches(tmp_path):
    from stock_platform.defs.processing.checks import aggregate_mismatches, expired_symbols
    from stock_platform.processing.aggregation import daily_key, fold_trades, minute_key

    day = date(2025, 10, 9)
    streamed = [
        TradeRow(symbol, day, 1_760_000_000_000 + offset * 60_000, make_trade_id("market", 0, offset, 0), 10.0, 1.0, None, 0, 0, offset)
        for offset, symbol in enumerate(["GONE", "PART", "PART", "AAPL"])
    ]
    store = EmbeddedStoreResource(data_dir=str(tmp_path), synchronous="OFF")
    with store.open_store() as opened:
        opened.upsert_daily_aggregates(fold_trades(streamed, daily_key))
        opened.upsert_minute_bars(fold_trades(streamed, minute_key))
        opened.write_trades(streamed[2:])  # the TTL took the earliest trades: all of GONE's, PART's first
        assert (aggregate_mismatches(opened, day), expired_symbols(opened, day)) == ([], ["GONE", "PART"])


def test_trades_checks_job_evaluates_validity_and_market_hours_freshness(tmp_path):
    store = EmbeddedStoreResource(data_dir=str(tmp_path), synchronous="OFF")
    _seed_store(store, date(2025, 10, 9), double_count=False)
    result = _defs(market_store=store, stream_processor=StreamProcessorResource()).resolve_job_def("trades_checks").execute_in_process()
    evaluations = {
        (event.asset_check_evaluation_data.asset_key.to_user_string(), event.asset_check_evaluation_data.check_name): event.asset_check_evaluation_data
        for event in result.all_events
        if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
    }  # fmt: skip
    assert evaluations[("trades", "valid_prices_and_volumes")].passed
    # Freshness depends on the wall clock (NYSE open or not): test_freshness.py pins the clock.
    freshness = evaluations[("trades", "fresh_while_streaming")]
    assert freshness.metadata["stream_running"].value is False
    assert "market_us_equities" in freshness.metadata
    assert ("daily_aggregates", "fresh_while_market_open") in evaluations
