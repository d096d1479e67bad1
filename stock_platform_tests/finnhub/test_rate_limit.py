import subprocess
import sys
import textwrap
from unittest import mock

import pytest
import redis

from stock_platform.finnhub.rate_limit import RateLimitSettings, RateLimitTimeout, open_shared_limiter


def _settings(tmp_path, **overrides):
    values = {"calls_per_minute": 3, "calls_per_second": 3, "sqlite_dir": str(tmp_path), "max_wait_s": 0.2}
    return RateLimitSettings(**{**values, **overrides})


def test_two_limiters_on_one_file_share_one_budget(tmp_path):
    settings = _settings(tmp_path)
    with open_shared_limiter(settings) as first, open_shared_limiter(settings) as second:
        first.acquire()
        first.acquire()
        second.acquire()
        with pytest.raises(RateLimitTimeout, match="other runs are using the budget"):
            second.acquire()
        with pytest.raises(RateLimitTimeout):
            first.acquire()


def test_limiters_with_different_names_do_not_share(tmp_path):
    first_settings, second_settings = _settings(tmp_path, name="a"), _settings(tmp_path, name="b")
    with open_shared_limiter(first_settings) as first, open_shared_limiter(second_settings) as second:
        for _ in range(3):
            first.acquire()
        second.acquire()


def test_calls_made_by_another_process_count(tmp_path):
    script = textwrap.dedent(
        f"""
        from stock_platform.finnhub.rate_limit import RateLimitSettings, open_shared_limiter
        settings = RateLimitSettings(calls_per_minute=3, calls_per_second=3, sqlite_dir={str(tmp_path)!r}, max_wait_s=5)
        with open_shared_limiter(settings) as limiter:
            limiter.acquire()
            limiter.acquire()
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    with open_shared_limiter(_settings(tmp_path)) as limiter:
        limiter.acquire()
        with pytest.raises(RateLimitTimeout):
            limiter.acquire()


def test_redis_bucket_is_shared_between_limiters(tmp_path):
    pytest.importorskip("lupa", reason="fakeredis needs lupa (fakeredis[lua]) to run pyrate-limiter's Lua script")
    import fakeredis

    server = fakeredis.FakeServer()
    settings = _settings(tmp_path, redis_url="redis://redis.example:6379/0")
    with mock.patch.object(redis.Redis, "from_url", lambda url: fakeredis.FakeRedis(server=server)):
        with open_shared_limiter(settings) as first, open_shared_limiter(settings) as second:
            first.acquire()
            second.acquire()
            first.acquire()
            with pytest.raises(RateLimitTimeout, match="through redis"):
                second.acquire()
    assert not (tmp_path / "rate_limit_finnhub-rest.sqlite").exists()


def test_unreachable_redis_is_a_clear_error(tmp_path):
    broken = mock.MagicMock()
    broken.script_load.side_effect = redis.ConnectionError("Error 111 connecting to redis.example:6379")
    with mock.patch.object(redis.Redis, "from_url", return_value=broken):
        with pytest.raises(ConnectionError, match="REDIS_URL is unusable"):
            with open_shared_limiter(_settings(tmp_path, redis_url="redis://redis.example:6379/0")):
                pass
    broken.close.assert_called_once()


@pytest.mark.parametrize(
    ("per_second", "per_minute", "expected"),
    [(30, 60, [(30, 1000), (60, 60000)]), (60, 60, [(60, 60000)]), (100, 60, [(60, 60000)])],
)
def test_rates_put_the_burst_limit_first_when_it_binds(per_second, per_minute, expected):
    rates = RateLimitSettings(calls_per_minute=per_minute, calls_per_second=per_second).rates()
    assert [(rate.limit, rate.interval) for rate in rates] == expected


@pytest.mark.parametrize(("per_second", "per_minute"), [(0, 60), (30, 0)])
def test_limits_below_one_call_are_refused(per_second, per_minute):
    with pytest.raises(ValueError, match="at least 1 call"):
        RateLimitSettings(calls_per_minute=per_minute, calls_per_second=per_second)
