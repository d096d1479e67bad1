"""No resource of the code location shows a secret in repr()/str(): Dagster and tracebacks print resources."""

import dagster as dg
import pytest

from stock_platform.defs.finnhub.resources import FinnhubResource
from stock_platform.defs.grafana.resources import GrafanaResource
from stock_platform.defs.kafka.resources import KafkaResource
from stock_platform.defs.processing.resources import StreamProcessorResource
from stock_platform.defs.resources import build_resources
from stock_platform.defs.storage.resources import SelectedStoreResource
from stock_platform.env_defaults import ENV_DEFAULTS, SECRET_ENV_VARS, SETTINGS_MODELS
from stock_platform.finnhub.rate_limit import RateLimitSettings

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


def test_secrets_stay_out_of_run_config_and_events(secret_env):
    @dg.op
    def use(finnhub: FinnhubResource, kafka: KafkaResource, grafana: GrafanaResource, market_store: SelectedStoreResource) -> bool:
        return {finnhub.api_key, kafka.sasl_password, grafana.api_token, market_store.cassandra.password} == {MARKER}

    @dg.job
    def job() -> None:
        use()

    result = job.execute_in_process(resources=build_resources())
    assert result.success and result.output_for_node("use") is True
    assert MARKER not in str(result.dagster_run.run_config)
    assert all(MARKER not in str(event) for event in result.all_events)


def test_the_models_secrets_have_no_default_and_no_repr():
    secrets = {}
    for model in SETTINGS_MODELS:
        models = [model, *model.nested_models().values()]
        for holder in models:
            for name, variable in holder.env_fields().items():
                if variable.secret:
                    field = holder.model_fields[name]
                    secrets[variable.name] = (field.default, field.repr)
    assert secrets == {name: (None, False) for name in SECRET_ENV_VARS}


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
