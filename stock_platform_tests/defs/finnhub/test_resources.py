from datetime import date

import pytest
import responses

from stock_platform.defs.finnhub.resources import FinnhubConfigError, FinnhubResource
from stock_platform.finnhub.rest import TOKEN_HEADER

SIM_REST = "http://127.0.0.1:8766/api/v1"


def test_real_finnhub_rest_without_a_token_is_a_clear_error():
    with pytest.raises(FinnhubConfigError, match="FINNHUB_API_KEY is not set"):
        FinnhubResource(api_key="").rest_settings()


def test_simulator_rest_needs_no_token():
    settings = FinnhubResource(rest_url=SIM_REST, api_key="").rest_settings()
    assert (settings.base_url, settings.token) == (SIM_REST, None)


def test_rest_settings_carry_timeouts_and_attempts_and_hide_the_token():
    resource = FinnhubResource(api_key="tok123", rest_connect_timeout_s=2.0, rest_read_timeout_s=9.0, rest_max_attempts=3)
    settings = resource.rest_settings()
    assert (settings.token, settings.connect_timeout_s, settings.read_timeout_s, settings.max_attempts) == ("tok123", 2.0, 9.0, 3)
    assert "tok123" not in repr(settings)


@pytest.mark.parametrize(("redis_url", "expected"), [(None, None), ("", None), ("redis://r:6379/0", "redis://r:6379/0")])
def test_rate_limit_settings_use_redis_only_when_configured(redis_url, expected, tmp_path):
    resource = FinnhubResource(
        rate_limit_redis_url=redis_url, rate_limit_dir=str(tmp_path), rest_calls_per_minute=300, rest_calls_per_second=25
    )
    settings = resource.rate_limit_settings()
    assert settings.redis_url == expected
    assert (settings.sqlite_dir, settings.calls_per_minute, settings.calls_per_second) == (str(tmp_path), 300, 25)


@responses.activate
def test_rest_client_calls_the_configured_url_through_the_shared_limiter(tmp_path):
    responses.get(f"{SIM_REST}/company-news", json=[])
    resource = FinnhubResource(rest_url=SIM_REST, api_key="tok123", rate_limit_dir=str(tmp_path))
    with resource.rest_client() as client:
        assert client.company_news("AAPL", date(2024, 5, 1), date(2024, 5, 1)) == []
    assert responses.calls[0].request.headers[TOKEN_HEADER] == "tok123"
    assert (tmp_path / "rate_limit_finnhub-rest.sqlite").exists()


def test_rest_client_refuses_real_finnhub_without_a_token_before_any_call(tmp_path):
    with pytest.raises(FinnhubConfigError):
        with FinnhubResource(api_key=None, rate_limit_dir=str(tmp_path)).rest_client():
            pass
    assert not (tmp_path / "rate_limit_finnhub-rest.sqlite").exists()
