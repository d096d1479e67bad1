import json
from datetime import datetime, timezone

import dagster as dg
import pytest

from stock_platform.defs.finnhub.resources import FinnhubResource
from stock_platform.defs.news.news import (
    NEWS_JOB_NAME,
    NEWS_KEY,
    build_news_poller,
    news_assets,
    news_checks,
    news_job,
    news_jobs,
    news_poller,
    news_sensors,
)
from stock_platform.news.schedule import NewsCursor, NewsPollSettings

SETTINGS = NewsPollSettings(symbol_interval_s=600, max_symbols_per_run=2, initial_lookback_days=7)
START = datetime(2024, 5, 10, 12, 0, tzinfo=timezone.utc).timestamp()


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def poller(clock):
    return build_news_poller(settings=SETTINGS, clock=clock)


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


def _defs(poller, symbols="AAPL,MSFT,NVDA"):
    return dg.Definitions(
        assets=news_assets,
        asset_checks=news_checks,
        jobs=news_jobs,
        sensors=[poller],
        resources={"finnhub": FinnhubResource(symbols=symbols), "market_store": dg.ResourceDefinition.none_resource()},
    )


def _tick(poller, instance, cursor=None, symbols="AAPL,MSFT,NVDA"):
    definitions = _defs(poller, symbols)
    context = dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        definitions=definitions,
        resources={"finnhub": FinnhubResource(symbols=symbols)},
    )
    return poller.evaluate_tick(context)


def _windows(result):
    [request] = result.run_requests
    return [
        (window["symbol"], window["start"], window["end"])
        for window in request.run_config["ops"]["news"]["config"]["windows"]
    ]


def _record_materialization(instance, newest_by_symbol):
    symbols = {symbol: {"newest_article_ms": newest} for symbol, newest in newest_by_symbol.items()}
    instance.report_runless_asset_event(
        dg.AssetMaterialization(NEWS_KEY, metadata={"symbols": dg.MetadataValue.json(symbols)})
    )


def test_first_tick_requests_the_first_symbols_with_the_initial_lookback(poller, instance):
    result = _tick(poller, instance)
    assert _windows(result) == [("AAPL", "2024-05-03", "2024-05-10"), ("MSFT", "2024-05-03", "2024-05-10")]
    cursor = NewsCursor.from_json(result.cursor)
    assert cursor.get("AAPL").polled_at_s == START
    assert cursor.get("NVDA").polled_at_s is None


def test_next_tick_polls_the_symbols_left_out(poller, instance, clock):
    first = _tick(poller, instance)
    clock.now += 60
    second = _tick(poller, instance, cursor=first.cursor)
    assert [symbol for symbol, _, _ in _windows(second)] == ["NVDA"]


def test_nothing_is_requested_before_the_interval_passes(poller, instance, clock):
    cursor = _tick(poller, instance).cursor
    cursor = _tick(poller, instance, cursor=cursor).cursor
    clock.now += 300
    result = _tick(poller, instance, cursor=cursor)
    assert result.run_requests == []
    assert result.skip_message == "no symbol is due for a news poll"
    clock.now += 300
    assert [symbol for symbol, _, _ in _windows(_tick(poller, instance, cursor=cursor))] == ["AAPL", "MSFT"]


def test_no_request_while_a_news_run_is_in_progress(poller, instance):
    job = _defs(poller).resolve_job_def(NEWS_JOB_NAME)
    run = instance.create_run_for_job(job, status=dg.DagsterRunStatus.STARTED)
    result = _tick(poller, instance)
    assert result.run_requests == []
    assert run.run_id in result.skip_message


def test_newest_article_times_from_materializations_narrow_the_range(poller, instance):
    newest = int(datetime(2024, 5, 9, 23, 50, tzinfo=timezone.utc).timestamp() * 1000)
    _record_materialization(instance, {"AAPL": newest, "UNKNOWN": newest})
    result = _tick(poller, instance)
    assert _windows(result)[0] == ("AAPL", "2024-05-08", "2024-05-10")
    cursor = NewsCursor.from_json(result.cursor)
    assert cursor.get("AAPL").newest_article_ms == newest
    assert "UNKNOWN" not in cursor.symbols
    assert cursor.last_event_id is not None


def test_materializations_are_folded_in_once(poller, instance, clock):
    _record_materialization(instance, {"AAPL": 1_000})
    first = json.loads(_tick(poller, instance).cursor)
    clock.now += 60
    second = json.loads(_tick(poller, instance, cursor=json.dumps(first)).cursor)
    assert second["last_event_id"] == first["last_event_id"]


def test_an_unreadable_cursor_starts_fresh(poller, instance):
    result = _tick(poller, instance, cursor="{broken")
    assert len(_windows(result)) == 2


def test_no_symbols_is_a_clear_skip(poller, instance):
    result = _tick(poller, instance, symbols=" , ")
    assert result.run_requests == []
    assert "FINNHUB_SYMBOLS" in result.skip_message


def test_run_keys_differ_between_ticks(poller, instance, clock):
    first = _tick(poller, instance)
    clock.now += 3600
    second = _tick(poller, instance, cursor=first.cursor)
    assert first.run_requests[0].run_key != second.run_requests[0].run_key


def test_exports_match_the_contract():
    assert news_poller.name == "news_poller"
    assert news_poller.default_status == dg.DefaultSensorStatus.RUNNING
    assert news_sensors == [news_poller]
    assert news_job.name == "news_job"
    assert [asset.key for asset in news_assets] == [NEWS_KEY]
    assert {"finnhub", "market_store"} <= news_assets[0].required_resource_keys


def test_news_job_runs_the_duplicate_and_freshness_checks_with_the_asset(poller):
    job = _defs(poller).resolve_job_def(NEWS_JOB_NAME)
    assert job.asset_layer.asset_graph.asset_check_keys == {
        dg.AssetCheckKey(NEWS_KEY, "news_has_no_duplicate_articles"), dg.AssetCheckKey(NEWS_KEY, "fresh_while_market_open"),
    }  # fmt: skip


def test_news_has_a_freshness_policy():
    spec = next(iter(news_assets[0].specs))
    assert spec.freshness_policy is not None


def test_requested_run_config_is_valid_for_the_news_job(poller, instance):
    job = _defs(poller).resolve_job_def(NEWS_JOB_NAME)
    [request] = _tick(poller, instance).run_requests
    assert dg.validate_run_config(job, request.run_config)["ops"]["news"]["config"]["windows"][0]["symbol"] == "AAPL"
