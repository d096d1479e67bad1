"""The `news` asset and its duplicate check, with Finnhub mocked at the HTTP boundary and an in-memory store."""

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import dagster as dg
import pytest
import responses

from stock_platform.defs.finnhub.resources import FinnhubResource
from stock_platform.defs.news.news import NEWS_KEY, news_assets, news_checks
from stock_platform.models import NewsArticle

REST = "http://sim.example/api/v1"
NEWS_URL = f"{REST}/company-news"
TOKEN = "tok-secret-123"
_STORES: dict[str, "FakeMarketStore"] = {}


@dataclass(frozen=True)
class WriteCounts:
    new: int
    duplicates: int


class FakeMarketStore:
    """The news part of the store interface, one row per (symbol, article id) unless told to double rows."""

    def __init__(self) -> None:
        self.rows = []

    def upsert_news(self, articles):
        existing = {(row.symbol, row.article_id) for row in self.rows}
        new = [article for article in articles if (article.symbol, article.article_id) not in existing]
        self.rows.extend(new)
        return WriteCounts(new=len(new), duplicates=len(articles) - len(new))

    def latest_news_time_ms(self, symbol):
        return max((row.published_at_ms for row in self.rows if row.symbol == symbol), default=None)

    def duplicate_news(self):
        keys = [(row.symbol, row.article_id) for row in self.rows]
        return sorted({key for key in keys if keys.count(key) > 1})


class FakeStoreResource(dg.ConfigurableResource):
    name: str

    @contextmanager
    def open_store(self):
        yield _STORES[self.name]


@pytest.fixture
def store(request):
    _STORES[request.node.name] = FakeMarketStore()
    yield _STORES[request.node.name]
    del _STORES[request.node.name]


def _finnhub(tmp_path, **overrides):
    return FinnhubResource(rest_url=REST, api_key=TOKEN, symbols="AAPL,MSFT", rate_limit_dir=str(tmp_path), **overrides)


@pytest.fixture
def resources(store, request, tmp_path):
    return {"finnhub": _finnhub(tmp_path), "market_store": FakeStoreResource(name=request.node.name)}


def _item(article_id, seconds, related="AAPL"):
    return {"id": article_id, "datetime": seconds, "headline": f"story {article_id}", "related": related}


def _materialize(resources, windows=None, instance=None):
    config = {"ops": {"news": {"config": {"windows": windows or []}}}}
    return dg.materialize(
        [*news_assets, *news_checks], resources=resources, run_config=config, raise_on_error=False, instance=instance
    )


def _log_messages(instance, result):
    return [entry.user_message for entry in instance.all_logs(result.run_id)]


def _metadata(result):
    [materialization] = result.asset_materializations_for_node("news")
    return {key: value.value for key, value in materialization.metadata.items()}


def _duplicate_checks(result):
    # The market-hours freshness check runs too; it is tested with a fixed clock in test_freshness.py.
    return [check for check in result.get_asset_check_evaluations() if check.check_name == "news_has_no_duplicate_articles"]


def _failure(result):
    [failure] = [event for event in result.all_events if event.event_type == dg.DagsterEventType.STEP_FAILURE]
    return failure.step_failure_data.error.message


WINDOWS = [
    {"symbol": "AAPL", "start": "2024-05-01", "end": "2024-05-02"},
    {"symbol": "MSFT", "start": "2024-05-01", "end": "2024-05-02"},
]


@responses.activate
def test_materialization_reports_new_articles_duplicates_calls_and_newest_time(resources, store):
    responses.get(NEWS_URL, json=[_item(1, 1714564800, "AAPL,MSFT"), _item(2, 1714568400)])
    responses.get(NEWS_URL, json=[_item(1, 1714564800, "AAPL,MSFT")])
    result = _materialize(resources, WINDOWS)
    assert result.success
    metadata = _metadata(result)
    assert (metadata["new_articles"], metadata["duplicates_skipped"], metadata["api_calls"]) == (3, 0, 2)
    assert metadata["newest_article_time"] == 1714568400.0
    assert metadata["symbols"]["MSFT"] == {
        "from": "2024-05-01", "to": "2024-05-02", "api_calls": 1, "fetched": 1, "new": 1, "duplicates": 0,
        "rejected": 0, "newest_article_ms": 1714564800000, "error": None,
    }
    assert {(row.symbol, row.article_id, row.related) for row in store.rows} == {
        ("AAPL", 1, ("AAPL", "MSFT")), ("AAPL", 2, ("AAPL",)), ("MSFT", 1, ("AAPL", "MSFT"))
    }
    [check] = _duplicate_checks(result)
    assert check.passed


@responses.activate
def test_polling_again_skips_what_is_already_stored(resources, store):
    responses.get(NEWS_URL, json=[_item(1, 1714564800), _item(2, 1714568400)])
    _materialize(resources, WINDOWS[:1])
    metadata = _metadata(_materialize(resources, WINDOWS[:1]))
    assert (metadata["new_articles"], metadata["duplicates_skipped"]) == (0, 2)
    assert len(store.rows) == 2


@responses.activate
def test_without_windows_each_symbol_starts_a_day_before_its_newest_stored_article(resources, store):
    today = datetime.now(timezone.utc).date()
    newest = datetime.combine(today - timedelta(days=2), datetime.min.time(), tzinfo=timezone.utc)
    store.upsert_news([_article("AAPL", 5, int(newest.timestamp() * 1000))])
    responses.get(NEWS_URL, json=[])
    assert _materialize(resources).success
    asked = {
        query["symbol"][0]: (query["from"][0], query["to"][0])
        for query in (parse_qs(urlsplit(call.request.url).query) for call in responses.calls)
    }
    assert asked["AAPL"] == ((today - timedelta(days=3)).isoformat(), today.isoformat())
    assert asked["MSFT"] == ((today - timedelta(days=7)).isoformat(), today.isoformat())


def _article(symbol, article_id, published_at_ms):
    return NewsArticle(symbol, article_id, published_at_ms, "headline", "", "", "")


@responses.activate
def test_a_rejected_key_fails_the_run_with_one_clear_line_and_no_token(resources):
    responses.get(NEWS_URL, status=401)
    result = _materialize(resources, WINDOWS)
    assert not result.success
    assert "check FINNHUB_API_KEY" in _failure(result)
    assert TOKEN not in str([event.message for event in result.all_events])
    assert TOKEN not in str(result.dagster_run.run_config)


@responses.activate
def test_one_failing_symbol_is_reported_and_the_rest_materialized(resources, tmp_path):
    responses.get(NEWS_URL, status=500)
    responses.get(NEWS_URL, json=[_item(3, 1714564800)])
    resources["finnhub"] = _finnhub(tmp_path, rest_max_attempts=1)
    result = _materialize(resources, WINDOWS)
    assert result.success
    metadata = _metadata(result)
    assert (metadata["symbols_failed"], metadata["symbols_polled"], metadata["new_articles"]) == (1, 1, 1)
    assert "HTTP 500" in metadata["symbols"]["AAPL"]["error"]


@responses.activate
def test_every_symbol_failing_fails_the_run(resources, tmp_path):
    responses.get(NEWS_URL, status=503)
    resources["finnhub"] = _finnhub(tmp_path, rest_max_attempts=1)
    result = _materialize(resources, WINDOWS)
    assert not result.success
    assert "news poll failed for all 2 symbols" in _failure(result)


def test_bad_window_dates_fail_the_run_with_one_clear_line(resources):
    result = _materialize(resources, [{"symbol": "AAPL", "start": "05/01/2024", "end": "2024-05-02"}])
    assert not result.success
    assert "use YYYY-MM-DD" in _failure(result)


def test_duplicate_rows_fail_the_check(resources, store):
    store.rows.extend([_article("AAPL", 9, 1), _article("AAPL", 9, 2)])
    result = dg.materialize(
        news_checks, resources=resources, selection=dg.AssetSelection.checks_for_assets(NEWS_KEY), raise_on_error=False
    )
    [check] = _duplicate_checks(result)
    assert not check.passed
    assert check.metadata["duplicate_articles"].value == 1


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param({"related": 5}, id="related-number"),
        pytest.param({"related": [None]}, id="related-list-with-null"),
        pytest.param({"id": 2**64}, id="id-beyond-64-bits"),
        pytest.param({"id": -1}, id="id-negative"),
    ],
)
@responses.activate
def test_a_bad_item_is_counted_logged_and_the_rest_materialized(resources, store, bad):
    responses.get(NEWS_URL, json=[_item(1, 1714564800), {**_item(2, 1714564800), **bad}, _item(3, 1714568400)])
    with dg.DagsterInstance.ephemeral() as instance:
        result = _materialize(resources, WINDOWS[:1], instance)
        warnings = [message for message in _log_messages(instance, result) if "skipped a Finnhub news item" in message]
    assert result.success
    metadata = _metadata(result)
    assert (metadata["new_articles"], metadata["rejected_items"]) == (2, 1)
    assert {row.article_id for row in store.rows} == {1, 3}
    assert len(warnings) == 1
    assert "AAPL item 1" in warnings[0]


@responses.activate
def test_many_bad_items_log_a_sample_and_count_them_all(resources, store):
    responses.get(NEWS_URL, json=[{**_item(article_id, 1714564800), "related": 5} for article_id in range(1, 21)])
    with dg.DagsterInstance.ephemeral() as instance:
        result = _materialize(resources, WINDOWS[:1], instance)
        messages = _log_messages(instance, result)
    assert _metadata(result)["rejected_items"] == 20
    assert sum("skipped a Finnhub news item" in message for message in messages) == 5
    assert any("skipped 20 Finnhub news items in all" in message for message in messages)
