import logging
from datetime import date, datetime, timezone

import pytest
import requests
import responses

from stock_platform.finnhub.rest import (
    TOKEN_HEADER,
    FinnhubRequestError,
    FinnhubRestClient,
    RestSettings,
    parse_retry_after,
)
from stock_platform.finnhub.websocket import FinnhubAuthError

BASE = "https://finnhub.example/api/v1"
NEWS_URL = f"{BASE}/company-news"
TOKEN = "sekret-token-123"


class CountingLimiter:
    def __init__(self) -> None:
        self.acquired = 0

    def acquire(self) -> None:
        self.acquired += 1


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def limiter():
    return CountingLimiter()


@pytest.fixture
def client(sleeps, limiter):
    settings = RestSettings(base_url=BASE, token=TOKEN, max_attempts=3, backoff_initial_s=1.0, backoff_max_s=8.0)
    with FinnhubRestClient(settings, limiter, sleep=sleeps.append) as rest:
        yield rest


def _news(client):
    return client.company_news("AAPL", date(2024, 5, 1), date(2024, 5, 3))


@responses.activate
def test_company_news_sends_symbol_and_dates_and_the_token_only_as_a_header(client):
    responses.get(NEWS_URL, json=[{"id": 1}])
    assert _news(client) == [{"id": 1}]
    [call] = responses.calls
    assert call.request.headers[TOKEN_HEADER] == TOKEN
    assert TOKEN not in call.request.url
    assert call.request.url == f"{NEWS_URL}?symbol=AAPL&from=2024-05-01&to=2024-05-03"


@responses.activate
def test_no_token_means_no_token_header(limiter):
    responses.get(NEWS_URL, json=[])
    with FinnhubRestClient(RestSettings(base_url=BASE), limiter) as rest:
        _news(rest)
    assert TOKEN_HEADER not in responses.calls[0].request.headers


@responses.activate
@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retries_retryable_statuses_honouring_retry_after(client, sleeps, limiter, status):
    responses.get(NEWS_URL, status=status, headers={"Retry-After": "7"})
    responses.get(NEWS_URL, json=[])
    assert _news(client) == []
    assert sleeps == [7.0]
    assert client.calls == 2
    assert limiter.acquired == 2


@responses.activate
def test_backs_off_exponentially_without_retry_after(client, sleeps):
    responses.get(NEWS_URL, status=503)
    responses.get(NEWS_URL, status=503)
    responses.get(NEWS_URL, json=[])
    _news(client)
    assert len(sleeps) == 2
    assert 1.0 <= sleeps[0] <= 2.0
    assert 2.0 <= sleeps[1] <= 3.0


@responses.activate
def test_retry_after_is_capped(limiter, sleeps):
    responses.get(NEWS_URL, status=429, headers={"Retry-After": "100000"})
    responses.get(NEWS_URL, json=[])
    settings = RestSettings(base_url=BASE, max_retry_after_s=30.0)
    with FinnhubRestClient(settings, limiter, sleep=sleeps.append) as rest:
        _news(rest)
    assert sleeps == [30.0]


@responses.activate
def test_gives_up_after_max_attempts_with_a_one_line_error(client, sleeps):
    responses.get(NEWS_URL, status=429)
    with pytest.raises(FinnhubRequestError, match=r"^Finnhub GET /company-news still answered HTTP 429 after 3 attempts$"):
        _news(client)
    assert client.calls == 3
    assert len(sleeps) == 2


@responses.activate
def test_connection_errors_are_retried_then_reported_without_the_token(client):
    responses.get(NEWS_URL, body=requests.ConnectionError("connection refused"))
    with pytest.raises(FinnhubRequestError, match="unreachable after 3 attempts.*check FINNHUB_REST_URL") as error:
        _news(client)
    assert client.calls == 3
    assert TOKEN not in str(error.value)


@responses.activate
def test_recovers_from_a_timeout(client):
    responses.get(NEWS_URL, body=requests.Timeout("read timed out"))
    responses.get(NEWS_URL, json=[{"id": 2}])
    assert _news(client) == [{"id": 2}]


@responses.activate
@pytest.mark.parametrize("status", [401, 403])
def test_rejected_key_is_a_clear_error_and_not_retried(client, status):
    responses.get(NEWS_URL, status=status, json={"error": "Invalid API key"})
    with pytest.raises(FinnhubAuthError, match="check FINNHUB_API_KEY") as error:
        _news(client)
    assert client.calls == 1
    assert TOKEN not in str(error.value)


@responses.activate
@pytest.mark.parametrize("padding", [0, 170, 195], ids=["short", "token-across-the-cut", "token-past-the-cut"])
def test_other_client_errors_are_not_retried_and_never_echo_the_token(client, padding):
    responses.get(NEWS_URL, status=422, body="x" * padding + f"bad request for token {TOKEN}")
    with pytest.raises(FinnhubRequestError, match="HTTP 422") as error:
        _news(client)
    assert client.calls == 1
    assert TOKEN[:4] not in str(error.value)


@responses.activate
@pytest.mark.parametrize(("body", "message"), [("not json", "not JSON"), ('{"error": "x"}', "expected a list")])
def test_unexpected_bodies_are_clear_errors(client, body, message):
    responses.get(NEWS_URL, body=body)
    with pytest.raises(FinnhubRequestError, match=message):
        _news(client)


def test_reversed_date_range_is_refused(client):
    with pytest.raises(ValueError, match="starts after it ends"):
        client.company_news("AAPL", date(2024, 5, 3), date(2024, 5, 1))


@responses.activate
def test_retry_logs_never_contain_the_token(client, caplog):
    responses.get(NEWS_URL, status=500)
    responses.get(NEWS_URL, json=[])
    with caplog.at_level(logging.DEBUG):
        _news(client)
    assert "retrying" in caplog.text
    assert TOKEN not in caplog.text


def test_settings_repr_hides_the_token():
    assert TOKEN not in repr(RestSettings(base_url=BASE, token=TOKEN))


@pytest.mark.parametrize("url", ["finnhub.io/api/v1", "ftp://finnhub.io", ""])
def test_base_url_must_be_http(url):
    with pytest.raises(ValueError, match="FINNHUB_REST_URL"):
        RestSettings(base_url=url)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("12", 12.0),
        ("Wed, 01 May 2024 12:00:30 GMT", 30.0),
        ("Wed, 01 May 2024 11:00:00 GMT", 0.0),
        ("soon", None),
    ],
)
def test_parse_retry_after(header, expected):
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after(header, now) == expected
