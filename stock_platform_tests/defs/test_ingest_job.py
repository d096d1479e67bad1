import dagster as dg
import pytest

from stock_platform.defs.ingest import finnhub_ingest
from stock_platform.embedded.process import free_port
from stock_platform.resources.finnhub import FinnhubResource
from stock_platform.resources.kafka import KafkaResource


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
