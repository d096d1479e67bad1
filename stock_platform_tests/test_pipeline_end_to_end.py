"""The whole pipeline, run through the real code location once per store, then its data and audit trail.

Finnhub simulator -> finnhub_ingest -> Apache Kafka -> stream_processor (Spark) -> the embedded SQLite store, and
again into a real Apache Cassandra node; news polls from a news_poller tick; the trades checks and one
reconciliation. The simulator's sent log is the ground truth.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import requests
from cassandra.cluster import Cluster

from stock_platform.definitions import defs
from stock_platform.env_defaults import ENV_DEFAULTS
from stock_platform.kafka.avro_codec import DeadLetterCodec, TradeBatchCodec, schema_name_from_headers
from stock_platform.storage.schema import SchemaSettings, apply_schema, render_schema
from stock_platform_local.servers.broker import LocalKafkaBroker
from stock_platform_local.simulator import SimulatorConfig, SimulatorServer
from stock_platform_tests.cassandra_tables import read_cassandra_news_ids, read_cassandra_tables
from stock_platform_tests.pipeline_helpers import (
    PICKED_FIELDS,
    SUM_FIELDS,
    InjectedFrame,
    SentTrade,
    Tables,
    TopicMessage,
    Trade,
    bar_values,
    daily_key,
    disturb_ingest,
    expected_bars,
    injected_frames,
    minute_key,
    offset_spans,
    read_news_ids,
    read_tables,
    read_topic,
    sent_valid_trades,
    trading_day,
)

pytestmark = pytest.mark.e2e

SYMBOLS = ("AAPL", "MSFT", "NVDA", "BINANCE:BTCUSDT")
MARKET, DEAD_LETTER = ENV_DEFAULTS["KAFKA_TOPIC_MARKET"], ENV_DEFAULTS["KAFKA_TOPIC_DEAD_LETTER"]
INGEST_WINDOW_MINUTES = 0.15
INGEST_REPORT_S = 2.0
# The window cannot end early, so it must outlast Spark's start-up and first micro-batch: the backlog is written
# ~12 s after the run starts on an idle 2-core machine and ~25 s with both cores busy elsewhere.
STREAM_WINDOW_MINUTES = 0.75
STREAM_REPORT_S = 5.0
TRADES_BETWEEN_STEPS = 300
CODE_VERSION = version("stock-platform")


@dataclass(frozen=True)
class Pipeline:
    """Everything one run of the pipeline left behind."""

    instance: dg.DagsterInstance
    runs: dict[str, list[str]]
    injected: list[InjectedFrame]
    sent: list[SentTrade]
    simulator_stats: dict[str, Any]
    market: list[TopicMessage]
    dead_letters: list[TopicMessage]
    after_stream: Tables
    after_reconcile: Tables
    reconciled_day: str
    published_news: dict[str, dict[int, int]]
    news_rows: list[tuple[str, int]]

    @property
    def sent_trades(self) -> list[Trade]:
        return [sent.trade for sent in self.sent]

    def materializations(self, asset: str) -> list[dg.EventLogRecord]:
        records_filter = dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset))
        return list(self.instance.fetch_materializations(records_filter, limit=200, ascending=True).records)

    def run_window_ms(self, job: str) -> tuple[int, int]:
        [run_id] = self.runs[job]
        record = self.instance.get_run_record_by_id(run_id)
        return int(record.start_time * 1000), int(record.end_time * 1000)


def _execute(instance: dg.DagsterInstance, job_name: str, run_config: Any = None, **options: Any) -> str:
    result = defs.resolve_job_def(job_name).execute_in_process(run_config=run_config or {}, instance=instance, **options)
    assert result.success, f"{job_name} failed"
    return result.run_id


def _published_news(rest_url: str, run_config: dict[str, Any]) -> dict[str, dict[int, int]]:
    """Article id -> publication time (s) of what the simulator publishes for each window the news run asks for."""
    published = {}
    for window in run_config["ops"]["news"]["config"]["windows"]:
        answer = requests.get(
            f"{rest_url}/company-news",
            params={"symbol": window["symbol"], "from": window["start"], "to": window["end"]},
            timeout=10,
        )
        answer.raise_for_status()
        published[window["symbol"]] = {item["id"]: item["datetime"] for item in answer.json()}
    return published


class StoreReader:
    """Reads the tables of whichever store the pipeline wrote: the embedded SQLite file or a Cassandra keyspace."""

    def __init__(self, backend: str, data_dir: Path, session: Any = None, keyspace: str = "") -> None:
        self.backend, self.data_dir, self.session, self.keyspace = backend, data_dir, session, keyspace

    def tables(self) -> Tables:
        if self.backend == "cassandra":
            return read_cassandra_tables(self.session, self.keyspace)
        return read_tables(self.data_dir / "market.db")

    def news_ids(self) -> list[tuple[str, int]]:
        if self.backend == "cassandra":
            return read_cassandra_news_ids(self.session, self.keyspace)
        return read_news_ids(self.data_dir / "market.db")


def _store_environment(request: pytest.FixtureRequest, stack: ExitStack, data_dir: Path) -> tuple[dict[str, str], StoreReader]:
    """STOCK_PLATFORM_STORE and its settings for this parameter; Cassandra gets a fresh keyspace on the session's node."""
    if request.param == "embedded":
        return {"STOCK_PLATFORM_STORE": "embedded"}, StoreReader("embedded", data_dir)
    node = request.getfixturevalue("cassandra_node")
    keyspace = f"e2e_{uuid.uuid4().hex[:12]}"
    cluster = Cluster([node.contact_point], port=node.port, protocol_version=5)
    stack.callback(cluster.shutdown)
    session = cluster.connect()
    apply_schema(session, render_schema(SchemaSettings(keyspace=keyspace)))
    environment = {
        "STOCK_PLATFORM_STORE": "cassandra",
        "CASSANDRA_CONTACT_POINTS": node.contact_point,
        "CASSANDRA_PORT": str(node.port),
        "CASSANDRA_LOCAL_DC": node.local_dc,
        "CASSANDRA_KEYSPACE": keyspace,
    }
    return environment, StoreReader("cassandra", data_dir, session, keyspace)


@pytest.fixture(scope="module", params=["embedded", "cassandra"])
def pipeline(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    root = tmp_path_factory.mktemp("pipeline")
    data_dir, sent_log, dagster_home = root / "data", root / "sent.jsonl", root / "dagster_home"
    dagster_home.mkdir()
    # The simulator publishes news as its clock passes article times; a fixed clock makes both polls see the same set.
    news_clock = time.time()
    config = SimulatorConfig(seed=11, rate=300, ping_interval_s=1.0, sent_log_path=sent_log)
    with ExitStack() as stack:
        broker = stack.enter_context(LocalKafkaBroker(root / "kafka"))
        store_environment, store = _store_environment(request, stack, data_dir)
        sim = stack.enter_context(SimulatorServer(config, clock=lambda: news_clock))
        env = stack.enter_context(pytest.MonkeyPatch.context())
        environment = {
            **ENV_DEFAULTS,
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "FINNHUB_WS_URL": sim.ws_url,
            "FINNHUB_REST_URL": sim.rest_url,
            "FINNHUB_SYMBOLS": ",".join(SYMBOLS),
            "STOCK_PLATFORM_DATA_DIR": str(data_dir),
            "SPARK_CHECKPOINT_DIR": str(root / "checkpoints"),
            "STREAM_ENGINE": "spark",
            "SPARK_MASTER": "local[2]",
            # The Spark resource would otherwise set this in os.environ for good; here it is undone after the module.
            "PYSPARK_PYTHON": sys.executable,
            **store_environment,
        }
        for name, value in environment.items():
            env.setenv(name, value)
        instance = stack.enter_context(dg.instance_for_test(temp_dir=str(dagster_home)))
        runs: dict[str, list[str]] = {}

        frames = injected_frames(int(time.time() * 1000))
        ingest_config = {"window_minutes": INGEST_WINDOW_MINUTES, "report_interval_seconds": INGEST_REPORT_S}
        with ThreadPoolExecutor(max_workers=1) as pool:
            disturbance = pool.submit(disturb_ingest, sim, SYMBOLS, frames, TRADES_BETWEEN_STEPS)
            runs["finnhub_ingest"] = [
                _execute(instance, "finnhub_ingest", {"ops": {"ingest_trades": {"config": ingest_config}}})
            ]
            disturbance.result()
        sent = sent_valid_trades(sent_log, frames)
        market = read_topic(broker.bootstrap_servers, MARKET)
        dead_letters = read_topic(broker.bootstrap_servers, DEAD_LETTER)

        stream_config = {"window_minutes": STREAM_WINDOW_MINUTES, "report_interval_seconds": STREAM_REPORT_S}
        runs["stream_processor"] = [
            _execute(instance, "stream_processor", {"ops": {"process_market_stream": {"config": stream_config}}})
        ]
        after_stream = store.tables()

        with dg.build_sensor_context(instance=instance, resources=defs.resources) as context:
            [request] = defs.resolve_sensor_def("news_poller")(context).run_requests
        runs["news_job"] = [_execute(instance, "news_job", request.run_config) for _ in range(2)]

        runs["trades_checks"] = [_execute(instance, "trades_checks")]
        [(reconciled_day, _)] = Counter(daily_key(sent_trade.trade)[1] for sent_trade in sent).most_common(1)
        runs["daily_aggregates_reconcile"] = [
            _execute(instance, "daily_aggregates_reconcile", partition_key=reconciled_day)
        ]

        yield Pipeline(
            instance=instance,
            runs=runs,
            injected=frames,
            sent=sent,
            simulator_stats=sim.stats(),
            market=market,
            dead_letters=dead_letters,
            after_stream=after_stream,
            after_reconcile=store.tables(),
            reconciled_day=reconciled_day,
            published_news=_published_news(sim.rest_url, request.run_config),
            news_rows=store.news_ids(),
        )


def _decoded(message: TopicMessage) -> list[Trade]:
    batch = TradeBatchCodec().decode(message.value, schema_name_from_headers(message.headers))
    return [Trade.from_finnhub(item) for item in batch.trades]


def _metadata(record: dg.EventLogRecord) -> dict[str, Any]:
    return {name: value.value for name, value in record.asset_materialization.metadata.items()}


# -- ingest


def test_every_valid_trade_sent_arrives_in_market_exactly_once_with_identical_content(pipeline):
    arrived = [trade for message in pipeline.market for trade in _decoded(message)]

    assert len(pipeline.sent) > 3 * TRADES_BETWEEN_STEPS
    assert Counter(arrived) == Counter(pipeline.sent_trades)


def test_market_messages_are_keyed_by_symbol_and_keep_each_symbols_send_order(pipeline):
    by_partition = sorted(pipeline.market, key=lambda message: (message.partition, message.offset))
    arrived: dict[str, list[Trade]] = {}
    for message in by_partition:
        trades = _decoded(message)
        assert {trade.symbol.encode() for trade in trades} == {message.key}
        arrived.setdefault(message.key.decode(), []).extend(trades)
    sent: dict[str, list[Trade]] = {}
    for trade in pipeline.sent_trades:
        sent.setdefault(trade.symbol, []).append(trade)

    assert arrived == sent
    assert set(arrived) == set(SYMBOLS)


def test_a_dropped_connection_reconnects_resubscribes_and_resumes(pipeline):
    trades_per_connection = Counter(sent.connection for sent in pipeline.sent)

    assert pipeline.simulator_stats["connections_dropped"] == 1
    assert pipeline.simulator_stats["connections_accepted"] == 2
    assert trades_per_connection.keys() == {1, 2}
    assert trades_per_connection[2] >= TRADES_BETWEEN_STEPS
    assert {sent.trade.symbol for sent in pipeline.sent if sent.connection == 2} == set(SYMBOLS)


@pytest.mark.parametrize("name", [frame.name for frame in injected_frames(0)])
def test_each_malformed_frame_is_dead_lettered_with_its_original_bytes_and_reason(pipeline, name):
    [frame] = [frame for frame in pipeline.injected if frame.name == name]
    letters = [DeadLetterCodec().decode(message.value) for message in pipeline.dead_letters]

    ingest_started_ms, ingest_ended_ms = pipeline.run_window_ms("finnhub_ingest")

    [letter] = [letter for letter in letters if letter["payload"] == frame.payload]
    assert frame.reason in letter["reason"]
    assert letter["source"] == "simulator"
    assert ingest_started_ms <= letter["received_at"] <= ingest_ended_ms


def test_dead_letter_topic_holds_exactly_the_injected_frames_and_no_pings(pipeline):
    payloads = [DeadLetterCodec().decode(message.value)["payload"] for message in pipeline.dead_letters]

    assert pipeline.simulator_stats["pings_sent"] > 0
    assert Counter(payloads) == Counter(frame.payload for frame in pipeline.injected)


# -- processing


def test_trades_table_holds_every_sent_trade_exactly_once_on_its_trading_day(pipeline):
    stored = pipeline.after_stream.trades

    assert Counter(row.trade for row in stored) == Counter(pipeline.sent_trades)
    assert len({row.trade_id for row in stored}) == len(stored)
    assert [row.trading_day for row in stored] == [trading_day(row.trade.symbol, row.trade.time_ms) for row in stored]


@pytest.mark.parametrize("stage", ["after_stream", "after_reconcile"])
@pytest.mark.parametrize(("table", "key"), [("daily_aggregates", daily_key), ("minute_bars", minute_key)])
def test_aggregates_equal_an_independent_computation_from_the_sent_trades(pipeline, stage, table, key):
    stored = getattr(getattr(pipeline, stage), table)
    expected = expected_bars(pipeline.sent_trades, key)

    assert bar_values(stored, PICKED_FIELDS) == bar_values(expected, PICKED_FIELDS)
    assert bar_values(stored, SUM_FIELDS) == pytest.approx(bar_values(expected, SUM_FIELDS), rel=1e-12)


def test_a_late_trade_arriving_mid_stream_opens_its_day_by_event_time(pipeline):
    [late] = [Trade.from_finnhub(item) for frame in pipeline.injected for item in frame.valid_trades]
    bar = pipeline.after_stream.daily_aggregates[daily_key(late)]

    assert (bar["open"], bar["first_trade_time"]) == (late.price, late.time_ms)


# -- news


def test_news_rows_are_unique_and_exactly_what_the_simulator_published(pipeline):
    assert len(pipeline.news_rows) == len(set(pipeline.news_rows))
    assert set(pipeline.news_rows) == {
        (symbol, article_id) for symbol, ids in pipeline.published_news.items() for article_id in ids
    }
    assert set(pipeline.published_news) == set(SYMBOLS)


def test_a_repeated_news_poll_writes_nothing_new_and_counts_every_article_as_a_duplicate(pipeline):
    first, second = (_metadata(record) for record in pipeline.materializations("news"))
    published = sum(len(ids) for ids in pipeline.published_news.values())

    assert (first["new_articles"], first["duplicates_skipped"]) == (published, 0)
    assert (second["new_articles"], second["duplicates_skipped"]) == (0, published)


# -- audit trail


WRITERS = {
    "market": {"finnhub_ingest"},
    "trades": {"stream_processor"},
    "daily_aggregates": {"stream_processor", "daily_aggregates_reconcile"},
    "minute_bars": {"stream_processor", "daily_aggregates_reconcile"},
    "news": {"news_job"},
}


@pytest.mark.parametrize(("asset", "jobs"), WRITERS.items(), ids=WRITERS.keys())
def test_every_materialization_names_the_run_job_and_code_version_that_wrote_it(pipeline, asset, jobs):
    records = pipeline.materializations(asset)
    claimed = [tuple(_metadata(record)[name] for name in ("run_id", "job", "code_version")) for record in records]
    actual = [(record.run_id, pipeline.instance.get_run_by_id(record.run_id).job_name, CODE_VERSION) for record in records]

    assert records
    assert claimed == actual
    assert {record.run_id for record in records} == {run_id for job in jobs for run_id in pipeline.runs[job]}


def test_market_materializations_report_trades_dead_letters_reconnects_and_offset_ranges(pipeline):
    reports = [_metadata(record) for record in pipeline.materializations("market")]
    final = reports[-1]
    times = [trade.time_ms for trade in pipeline.sent_trades]
    offsets = {f"{MARKET}[{partition}]": span for partition, span in offset_spans(pipeline.market).items()}
    offsets |= {f"{DEAD_LETTER}[{partition}]": span for partition, span in offset_spans(pipeline.dead_letters).items()}

    # Bounded rate: one event per report interval plus the final one, not one per frame.
    assert 3 <= len(reports) <= INGEST_WINDOW_MINUTES * 60 / INGEST_REPORT_S + 2
    assert sum(report["trades"] for report in reports) == final["total_trades"] == len(pipeline.sent)
    assert sum(report["messages"] for report in reports) == len(pipeline.market)
    assert sum(report["dead_letters"] for report in reports) == len(pipeline.injected)
    assert final["reconnects"] == pipeline.simulator_stats["connections_accepted"] - 1 == 1
    assert final["delivery_failures"] == 0
    assert final["offset_ranges"] == offsets
    assert (final["first_event_time"], final["last_event_time"]) == (min(times) / 1000, max(times) / 1000)


def test_trades_materializations_report_rows_offsets_latency_and_event_times(pipeline):
    reports = [_metadata(record) for record in pipeline.materializations("trades")]
    times = [trade.time_ms for trade in pipeline.sent_trades]
    first_offsets: dict[str, int] = {}
    last_offsets: dict[str, int] = {}
    for report in reports:
        for partition, (first, last) in report["offset_ranges"].items():
            first_offsets[partition] = min(first, first_offsets.get(partition, first))
            last_offsets[partition] = max(last, last_offsets.get(partition, last))

    assert sum(report["rows_written"] for report in reports) == len(pipeline.sent)
    assert {report["engine"] for report in reports} == {"spark"}
    assert sum(report["duplicate_trades"] + report["dead_letters"] for report in reports) == 0
    assert {partition: [first_offsets[partition], last_offsets[partition]] for partition in first_offsets} == {
        f"partition {partition}": span for partition, span in offset_spans(pipeline.market).items()
    }
    assert all(report["latency_p99_ms"] >= report["latency_p50_ms"] >= 0 for report in reports if report["rows_written"])
    assert min(report["first_event_time"] for report in reports) == min(times) / 1000
    assert max(report["last_event_time"] for report in reports) == max(times) / 1000


def test_daily_aggregates_materializations_name_each_trading_day_partition_they_changed(pipeline):
    records = pipeline.materializations("daily_aggregates")
    stream = [record for record in records if _metadata(record)["source"] == "stream"]
    [reconcile] = [record for record in records if _metadata(record)["source"] == "reconcile"]
    folded: Counter[str] = Counter()
    for record in stream:
        folded[record.asset_materialization.partition] += _metadata(record)["trades_folded"]

    assert folded == Counter(trading_day(trade.symbol, trade.time_ms) for trade in pipeline.sent_trades)
    assert reconcile.asset_materialization.partition == pipeline.reconciled_day


def test_news_materializations_report_new_articles_api_calls_and_newest_article_time(pipeline):
    reports = [_metadata(record) for record in pipeline.materializations("news")]
    newest = max(published for articles in pipeline.published_news.values() for published in articles.values())

    assert [
        (report["api_calls"], report["symbols_polled"], report["symbols_failed"], report["newest_article_time"])
        for report in reports
    ] == [(len(SYMBOLS), len(SYMBOLS), 0, newest)] * 2


@pytest.mark.parametrize(
    ("asset", "check", "job", "partitioned"),
    [
        ("trades", "valid_prices_and_volumes", "trades_checks", False),
        ("trades", "fresh_while_streaming", "trades_checks", False),
        ("daily_aggregates", "aggregates_match_trades", "daily_aggregates_reconcile", True),
        ("news", "news_has_no_duplicate_articles", "news_job", False),
    ],
)
def test_asset_checks_were_evaluated_and_passed(pipeline, asset, check, job, partitioned):
    history = pipeline.instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(dg.AssetKey(asset), check), limit=10
    )

    assert {record.run_id for record in history} == set(pipeline.runs[job])
    assert all(record.evaluation is not None and record.evaluation.passed for record in history)
    assert {record.partition for record in history} == {pipeline.reconciled_day if partitioned else None}



def test_the_trades_check_looked_at_every_stored_trade(pipeline):
    record = pipeline.instance.get_latest_asset_check_evaluation_record(
        dg.AssetCheckKey(dg.AssetKey("trades"), "valid_prices_and_volumes")
    )

    assert record.evaluation.metadata["trades"].value == len(pipeline.sent)
