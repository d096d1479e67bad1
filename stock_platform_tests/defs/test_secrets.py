"""No resource of the code location shows a secret in repr()/str(): Dagster and tracebacks print resources."""

import pytest

from stock_platform.defs.resources import build_resources
from stock_platform.env_defaults import ENV_DEFAULTS, SECRET_ENV_VARS
from stock_platform.finnhub.rate_limit import RateLimitSettings
from stock_platform.defs.finnhub.resources import FinnhubResource
from stock_platform.defs.processing.resources import StreamProcessorResource

MARKER = "leak-marker-7f3a9c"


@pytest.fixture
def secret_env(monkeypatch, tmp_path):
    """Every documented variable set, and every secret set to the marker."""
    for name, value in ENV_DEFAULTS.items():
        monkeypatch.setenv(name, MARKER if name in SECRET_ENV_VARS else value)
    monkeypatch.setenv("STOCK_PLATFORM_DATA_DIR", str(tmp_path))


@pytest.mark.parametrize("name", sorted(build_resources()))
def test_resource_repr_hides_secrets(secret_env, name):
    unresolved = build_resources()[name]
    # Dagster records the unresolved config (EnvVar names) with the run: the value must not be in it.
    assert MARKER not in repr(unresolved)

    with unresolved.process_config_and_initialize_cm() as resource:
        assert MARKER not in repr(resource)
        assert MARKER not in str(resource)


def test_secrets_reach_the_resources(secret_env):
    """The repr test above only means something if the marker really is inside the resources."""
    resources = build_resources()

    with (
        resources["finnhub"].process_config_and_initialize_cm() as finnhub,
        resources["kafka"].process_config_and_initialize_cm() as kafka,
        resources["grafana"].process_config_and_initialize_cm() as grafana,
        resources["market_store"].process_config_and_initialize_cm() as market_store,
    ):
        assert finnhub.api_key == MARKER
        assert kafka.sasl_password == MARKER
        assert grafana.api_token == MARKER
        assert market_store.cassandra.password == MARKER


@pytest.mark.parametrize(
    "holder",
    [
        lambda url: FinnhubResource(rate_limit_redis_url=url),
        lambda url: StreamProcessorResource(redis_url=url),
        lambda url: RateLimitSettings(redis_url=url),
    ],
    ids=["finnhub", "stream_processor", "rate_limit_settings"],
)
def test_redis_urls_with_a_password_stay_out_of_repr(holder):
    holding = holder(f"redis://:{MARKER}@redis.internal:6379/0")

    assert MARKER not in repr(holding)
    assert MARKER not in str(holding)
