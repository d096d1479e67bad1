import dagster as dg
import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from stock_platform.defs.finnhub.resources import FinnhubResource
from stock_platform.defs.ingest.finnhub_ingest import finnhub_ingest
from stock_platform.defs.kafka.resources import KafkaResource
from stock_platform.kafka.avro_codec import TradeBatchCodec
from stock_platform_local.servers.process import free_port
from stock_platform_local.simulator import SimulatorConfig, SimulatorServer
from stock_platform_tests.kafka.topics import read_all


def _run(finnhub, kafka):
    return finnhub_ingest.execute_in_process(resources={"finnhub": finnhub, "kafka": kafka}, raise_on_error=False)


def _failure_message(result):
    [failure] = [event for event in result.all_events if event.event_type == dg.DagsterEventType.STEP_FAILURE]
    return failure.step_failure_data.error.message


@pytest.mark.parametrize(
    ("finnhub", "expected"),
    [
        (FinnhubResource(api_key=""), "FINNHUB_API_KEY is not set"),
        (FinnhubResource(ws_url="ws://127.0.0.1:1/", symbols=""), "set FINNHUB_SYMBOLS"),
    ],
)
def test_configuration_mistakes_fail_the_run_with_one_clear_line(finnhub, expected):
    result = _run(finnhub, KafkaResource(bootstrap_servers="127.0.0.1:1", admin_timeout_s=1))
    assert not result.success
    assert expected in _failure_message(result)


def test_unreachable_broker_fails_the_run_with_one_clear_line():
    kafka = KafkaResource(bootstrap_servers=f"127.0.0.1:{free_port()}", admin_timeout_s=1)
    result = _run(FinnhubResource(ws_url="ws://127.0.0.1:1/"), kafka)
    assert not result.success
    assert "cannot reach Kafka at 127.0.0.1" in _failure_message(result)


def test_token_is_not_part_of_run_config_or_logs(capsys):
    result = _run(FinnhubResource(api_key="tok-secret-123", symbols=""), KafkaResource(bootstrap_servers="127.0.0.1:1"))
    assert "tok-secret-123" not in str(result.dagster_run.run_config)
    assert "tok-secret-123" not in str([event.message for event in result.all_events])
    assert "tok-secret-123" not in capsys.readouterr().err


def _partitions_and_retention(bootstrap_servers, topic):
    admin = AdminClient({"bootstrap.servers": bootstrap_servers})  # must outlive the future
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    retention = admin.describe_configs([resource])[resource].result(30)["retention.ms"].value
    return len(admin.list_topics(topic, timeout=30).topics[topic].partitions), int(retention)


def test_a_window_against_the_simulator_lands_every_reported_trade_in_kafka(kafka_broker, unique_name):
    kafka = KafkaResource(
        bootstrap_servers=kafka_broker.bootstrap_servers,
        market_topic=unique_name("market"),
        dead_letter_topic=unique_name("dead_letter"),
        partitions=3,
    )
    config = {"ops": {"ingest_trades": {"config": {"window_minutes": 0.1, "report_interval_seconds": 2}}}}
    with SimulatorServer(SimulatorConfig(seed=3, rate=500, ping_interval_s=1.0)) as simulator:
        finnhub = FinnhubResource(ws_url=simulator.ws_url, symbols="AAPL,MSFT,BINANCE:BTCUSDT")
        result = finnhub_ingest.execute_in_process(run_config=config, resources={"finnhub": finnhub, "kafka": kafka})
    assert result.success
    reports = [materialization.metadata for materialization in result.asset_materializations_for_node("ingest_trades")]
    final = reports[-1]
    codec = TradeBatchCodec()
    records = read_all(kafka_broker.bootstrap_servers, kafka.market_topic)
    assert final["total_trades"].value == sum(len(codec.decode(record.value()).trades) for record in records) > 0
    assert final["total_messages"].value == final["acknowledged_messages"].value == len(records)
    assert final["delivery_failures"].value == 0
    assert sum(report["trades"].value for report in reports) == final["total_trades"].value
    symbols = {record.key() for record in records}
    assert symbols == {b"AAPL", b"MSFT", b"BINANCE:BTCUSDT"}
    assert len({(record.key(), record.partition()) for record in records}) == len(symbols)  # per-symbol order holds
    assert _partitions_and_retention(kafka_broker.bootstrap_servers, kafka.market_topic) == (3, kafka.retention_ms)
    dead_letter = _partitions_and_retention(kafka_broker.bootstrap_servers, kafka.dead_letter_topic)
    assert dead_letter == (1, kafka.dead_letter_retention_ms)
