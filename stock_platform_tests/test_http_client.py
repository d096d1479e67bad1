"""The shared HTTP client behind the Finnhub REST and Grafana clients: retries, Retry-After, auth header, redaction."""

import logging
import subprocess
import sys

import pytest
import requests
import responses

from stock_platform.http_client import HttpClient, HttpRequestError, HttpSettings

BASE = "https://api.example/v1"
URL = f"{BASE}/thing"
TOKEN = "sekret-token-123"


class ServiceError(RuntimeError):
    """Stands for a system's own error type (FinnhubRequestError, GrafanaError)."""


def _settings(**overrides) -> HttpSettings:
    values = {
        "service": "Example",
        "base_url": BASE,
        "url_setting": "EXAMPLE_URL",
        "token": TOKEN,
        "max_attempts": 3,
        "backoff_initial_s": 1.0,
        "backoff_max_s": 8.0,
        **overrides,
    }
    return HttpSettings(**values)


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def attempts():
    return []


@pytest.fixture
def client(sleeps, attempts):
    with HttpClient(_settings(), sleep=sleeps.append, before_attempt=lambda: attempts.append(1)) as http:
        yield http


@responses.activate
@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried_honouring_retry_after(client, sleeps, attempts, status):
    responses.get(URL, status=status, headers={"Retry-After": "7"})
    responses.get(URL, json={"ok": True})
    assert client.request("GET", "/thing").json() == {"ok": True}
    assert sleeps == [7.0]
    assert len(responses.calls) == len(attempts) == 2


@responses.activate
@pytest.mark.parametrize(
    ("settings", "expected"),
    [({"max_retry_after_s": 30.0}, [30.0]), ({"max_retry_after_s": None}, None)],
    ids=["capped", "ignored"],
)
def test_retry_after_is_capped_or_ignored(sleeps, settings, expected):
    responses.get(URL, status=429, headers={"Retry-After": "100000"})
    responses.get(URL, json={})
    with HttpClient(_settings(**settings), sleep=sleeps.append) as http:
        http.request("GET", "/thing")
    if expected is None:  # exponential backoff with jitter instead: initial 1 s plus up to 1 s
        assert len(sleeps) == 1 and 1.0 <= sleeps[0] <= 2.0
    else:
        assert sleeps == expected


@responses.activate
@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_without_retry_after_back_off_exponentially_with_jitter(client, sleeps, status):
    responses.get(URL, status=status)
    responses.get(URL, status=status)
    responses.get(URL, json={})
    client.request("GET", "/thing")
    assert len(sleeps) == 2
    assert 1.0 <= sleeps[0] <= 2.0
    assert 2.0 <= sleeps[1] <= 3.0


@responses.activate
@pytest.mark.parametrize("failure", [requests.ConnectionError("connection refused"), requests.Timeout("read timed out")])
def test_connection_errors_and_timeouts_are_retried(client, sleeps, failure):
    responses.get(URL, body=failure)
    responses.get(URL, json={"ok": True})
    assert client.request("GET", "/thing").json() == {"ok": True}
    assert len(sleeps) == 1


@responses.activate
@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_client_errors_are_returned_at_once_for_the_caller_to_interpret(client, sleeps, attempts, status):
    responses.get(URL, status=status)
    assert client.request("GET", "/thing").status_code == status
    assert len(responses.calls) == len(attempts) == 1
    assert sleeps == []


@responses.activate
def test_only_the_configured_statuses_are_retried(sleeps):
    responses.get(URL, status=429, headers={"Retry-After": "1"})
    with HttpClient(_settings(retry_statuses=frozenset({503})), sleep=sleeps.append) as http:
        assert http.request("GET", "/thing").status_code == 429
    assert sleeps == []


@responses.activate
@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        ({"status": 429}, r"^Example GET /thing still answered HTTP 429 after 3 attempts$"),
        ({"status": 503}, r"^Example GET /thing still answered HTTP 503 after 3 attempts$"),
        (
            {"body": requests.ConnectionError("refused")},
            rf"^Example at {BASE} unreachable after 3 attempts \(ConnectionError\); check EXAMPLE_URL and the network$",
        ),
        ({"body": requests.Timeout("slow")}, r"unreachable after 3 attempts \(Timeout\)"),
    ],
    ids=["429", "503", "connection", "timeout"],
)
def test_gives_up_after_max_attempts_with_a_one_line_error_of_the_callers_type(sleeps, attempts, failure, expected):
    responses.get(URL, **failure)
    http = HttpClient(_settings(), sleep=sleeps.append, error_type=ServiceError, before_attempt=lambda: attempts.append(1))
    with http, pytest.raises(ServiceError, match=expected) as raised:
        http.request("GET", "/thing")
    assert len(attempts) == 3 and len(sleeps) == 2
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


@responses.activate
@pytest.mark.parametrize(
    ("base_url", "path", "failure"),
    [
        (BASE, f"/thing/{TOKEN}", {"status": 500}),
        (BASE, f"/thing/{TOKEN}", {"body": "<html>not json</html>"}),
        (f"https://api.example/{TOKEN}", "/thing", {"body": requests.ConnectionError(f"refused {TOKEN}")}),
        (f"https://api.example/{TOKEN}", "/thing", {"body": requests.Timeout(f"slow {TOKEN}")}),
    ],
    ids=["status", "not-json", "connection", "timeout"],
)
def test_the_token_is_never_in_an_error_or_a_retry_log(sleeps, caplog, base_url, path, failure):
    responses.get(base_url + path, **failure)
    with HttpClient(_settings(base_url=base_url), sleep=sleeps.append) as http, caplog.at_level(logging.DEBUG):
        with pytest.raises(HttpRequestError) as raised:
            http.json("GET", path, http.request("GET", path))
    assert "***" in str(raised.value)
    assert TOKEN not in str(raised.value)
    assert TOKEN not in caplog.text


@responses.activate
def test_the_token_travels_only_in_the_auth_header_with_its_prefix(client):
    responses.post(URL, json={})
    client.request("POST", "/thing", params={"symbol": "AAPL"}, json={"a": 1})
    [call] = responses.calls
    assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert call.request.url == f"{URL}?symbol=AAPL"
    assert call.request.body == b'{"a": 1}'
    assert TOKEN not in call.request.url


@responses.activate
@pytest.mark.parametrize(
    ("settings", "header", "expected"),
    [
        ({"auth_header": "X-Api-Token", "auth_prefix": ""}, "X-Api-Token", TOKEN),
        ({"token": None}, "Authorization", None),
        ({"token": ""}, "Authorization", None),
    ],
    ids=["raw-token-header", "no-token", "empty-token"],
)
def test_auth_header_is_configurable_and_absent_without_a_token(settings, header, expected):
    responses.get(URL, json={})
    with HttpClient(_settings(**settings)) as http:
        http.request("GET", "/thing")
    assert responses.calls[0].request.headers.get(header) == expected


@responses.activate
@pytest.mark.parametrize("timeout", [10.0, (5.0, 20.0)])
def test_every_attempt_carries_the_timeout(timeout, sleeps):
    responses.get(URL, status=502)
    responses.get(URL, json={})
    with HttpClient(_settings(timeout_s=timeout), sleep=sleeps.append) as http:
        http.request("GET", "/thing")
    assert [call.request.req_kwargs["timeout"] for call in responses.calls] == [timeout, timeout]


@responses.activate
def test_an_error_from_before_attempt_ends_the_call_unretried(sleeps):
    class SlotTimeout(Exception):
        pass

    def no_slot():
        raise SlotTimeout("rate limit wait exceeded")

    with HttpClient(_settings(), sleep=sleeps.append, before_attempt=no_slot) as http, pytest.raises(SlotTimeout):
        http.request("GET", "/thing")
    assert len(responses.calls) == 0 and sleeps == []


@responses.activate
def test_retries_are_logged_on_the_callers_logger(sleeps, caplog):
    responses.get(URL, status=503)
    responses.get(URL, json={})
    log = logging.getLogger("stock_platform.example")
    with HttpClient(_settings(), sleep=sleeps.append, log=log) as http, caplog.at_level(logging.WARNING):
        http.request("GET", "/thing")
    [record] = caplog.records
    assert record.name == "stock_platform.example"
    assert record.getMessage().startswith("Example GET /thing failed (HTTP 503); attempt 1 of 3, retrying in ")


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"base_url": "api.example"}, "must start with http:// or https://.*check EXAMPLE_URL"),
        ({"max_attempts": 0}, "at least 1"),
    ],
)
def test_settings_reject_unusable_configuration(overrides, expected):
    with pytest.raises(ValueError, match=expected):
        _settings(**overrides)


def test_settings_repr_hides_the_token():
    assert TOKEN not in repr(_settings())


def test_the_shared_client_is_plain_python():
    code = "import sys, stock_platform.http_client; sys.exit('dagster' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
