from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import requests

from stock_platform_local.simulator.news import NewsGenerator

NOW = datetime(2024, 3, 15, 12, 0, tzinfo=UTC).timestamp()
ARTICLE_FIELDS = {"category", "datetime", "headline", "id", "image", "related", "source", "summary", "url"}


def _news(clock_s: float = NOW, per_day: int = 8) -> NewsGenerator:
    return NewsGenerator(per_day, clock=lambda: clock_s)


def _day_bounds(start: date, end: date) -> tuple[int, int]:
    first = datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp()
    last = datetime(end.year, end.month, end.day, 23, 59, 59, tzinfo=UTC).timestamp()
    return int(first), int(last)


@pytest.mark.parametrize("symbol", ["AAPL", "BINANCE:BTCUSDT", "ZZZQ"])
def test_articles_fall_inside_the_range_newest_first(symbol):
    start, end = date(2024, 3, 1), date(2024, 3, 5)
    articles = _news().company_news(symbol, start, end)
    first, last = _day_bounds(start, end)

    assert len(articles) >= 5 * 8
    assert all(set(article) == ARTICLE_FIELDS and first <= article["datetime"] <= last for article in articles)
    assert [a["datetime"] for a in articles] == sorted((a["datetime"] for a in articles), reverse=True)
    assert all(symbol in article["related"].split(",") and article["category"] == "company" for article in articles)


def test_same_question_gets_the_same_articles():
    assert _news().company_news("MSFT", date(2024, 3, 1), date(2024, 3, 10)) == _news().company_news(
        "MSFT", date(2024, 3, 1), date(2024, 3, 10)
    )


def test_a_narrower_range_is_a_subset_of_a_wider_one():
    wide = _news().company_news("NVDA", date(2024, 3, 1), date(2024, 3, 10))
    narrow = _news().company_news("NVDA", date(2024, 3, 4), date(2024, 3, 4))

    assert narrow and all(article in wide for article in narrow)


def test_ids_are_unique_across_symbols_and_days_except_shared_articles():
    by_id: dict[int, dict] = {}
    for symbol in ("AAPL", "MSFT", "GOOGL", "NVDA", "AMD", "BINANCE:BTCUSDT", "ZZZQ"):
        for article in _news().company_news(symbol, date(2024, 1, 1), date(2024, 3, 15)):
            assert by_id.setdefault(article["id"], article) == article


def test_some_articles_concern_several_symbols_and_appear_for_each():
    apple = _news().company_news("AAPL", date(2024, 2, 1), date(2024, 3, 1))
    shared = [article for article in apple if "," in article["related"]]

    assert shared
    for article in shared:
        for symbol in article["related"].split(","):
            assert article in _news().company_news(symbol, date(2024, 2, 1), date(2024, 3, 1))


def test_new_articles_appear_as_time_passes_and_none_from_the_future():
    today = date(2024, 3, 15)
    morning = _news(datetime(2024, 3, 15, 6, tzinfo=UTC).timestamp()).company_news("AAPL", today, today)
    evening = _news(datetime(2024, 3, 15, 22, tzinfo=UTC).timestamp()).company_news("AAPL", today, today)
    evening_s = datetime(2024, 3, 15, 22, tzinfo=UTC).timestamp()

    assert len(evening) > len(morning) >= 1
    assert all(article in evening for article in morning)
    assert all(article["datetime"] <= evening_s for article in evening)
    assert _news().company_news("AAPL", date(2024, 3, 16), date(2024, 3, 20)) == []


def test_rest_endpoint_serves_company_news(start_simulator):
    sim = start_simulator()
    today = datetime.now(UTC).date().isoformat()

    response = requests.get(
        f"{sim.rest_url}/company-news", params={"symbol": "AAPL", "from": "2020-01-01", "to": today}, timeout=5
    )

    assert response.status_code == 200
    articles = response.json()
    assert articles and set(articles[0]) == ARTICLE_FIELDS


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2024-01-01", "to": "2024-01-31"},
        {"symbol": "AAPL", "to": "2024-01-31"},
        {"symbol": "AAPL", "from": "2024-01-01"},
        {"symbol": "AAPL", "from": "01/01/2024", "to": "2024-01-31"},
        {"symbol": "AAPL", "from": "2024-02-30", "to": "2024-03-01"},
        {"symbol": "AAPL", "from": "2024-02-01", "to": "2024-01-01"},
    ],
)
def test_missing_or_invalid_params_get_422(start_simulator, params):
    sim = start_simulator()

    response = requests.get(f"{sim.rest_url}/company-news", params=params, timeout=5)

    assert response.status_code == 422
    assert response.json()["error"]


@pytest.mark.parametrize(
    ("headers", "query", "status"),
    [
        ({}, {}, 401),
        ({"X-Finnhub-Token": "wrong"}, {}, 401),
        ({"X-Finnhub-Token": "secret"}, {}, 200),
        ({}, {"token": "secret"}, 200),
    ],
)
def test_rest_token_in_header_or_query(start_simulator, headers, query, status):
    sim = start_simulator(token="secret")
    params = {"symbol": "AAPL", "from": "2024-01-01", "to": "2024-01-02", **query}

    response = requests.get(f"{sim.rest_url}/company-news", params=params, headers=headers, timeout=5)

    assert response.status_code == status


def test_rate_limit_answers_429_with_retry_after(start_simulator):
    sim = start_simulator(rest_calls_per_minute=3)
    params = {"symbol": "AAPL", "from": "2024-01-01", "to": "2024-01-02"}

    statuses = [requests.get(f"{sim.rest_url}/company-news", params=params, timeout=5) for _ in range(4)]

    assert [response.status_code for response in statuses] == [200, 200, 200, 429]
    assert 1 <= int(statuses[-1].headers["Retry-After"]) <= 60
    assert "API limit reached" in statuses[-1].json()["error"]


@pytest.mark.parametrize(
    ("plan", "expected_retry_after"),
    [
        ({"status": 500, "count": 2}, None),
        ({"status": 429, "count": 2, "retry_after_s": 3}, "3"),
    ],
)
def test_injected_failures_hit_the_next_calls_only(start_simulator, plan, expected_retry_after):
    sim = start_simulator()
    params = {"symbol": "AAPL", "from": "2024-01-01", "to": "2024-01-02"}
    assert requests.post(f"{sim.admin_url}/rest-failures", json=plan, timeout=5).status_code == 200

    responses = [requests.get(f"{sim.rest_url}/company-news", params=params, timeout=5) for _ in range(3)]

    assert [response.status_code for response in responses] == [plan["status"], plan["status"], 200]
    assert [response.headers.get("Retry-After") for response in responses[:2]] == [expected_retry_after] * 2
    rest = requests.get(f"{sim.admin_url}/stats", timeout=5).json()["rest"]
    assert rest["refused"] == {str(plan["status"]): 2} and rest["injected_failures_pending"] == 0


def test_injected_failures_can_be_cleared(start_simulator):
    sim = start_simulator()
    requests.post(f"{sim.admin_url}/rest-failures", json={"status": 503, "count": 5}, timeout=5)
    requests.delete(f"{sim.admin_url}/rest-failures", timeout=5)

    response = requests.get(
        f"{sim.rest_url}/company-news", params={"symbol": "AAPL", "from": "2024-01-01", "to": "2024-01-02"}, timeout=5
    )

    assert response.status_code == 200
