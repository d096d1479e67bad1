import dagster as dg
import pytest

from stock_platform.definitions import defs
from stock_platform.env_defaults import ENV_DEFAULTS


def test_definitions_load_with_every_resource_bound():
    dg.Definitions.validate_loadable(defs)


def test_every_job_of_the_platform_is_in_the_code_location():
    assert set(defs.get_repository_def().job_names) >= {
        "finnhub_ingest", "stream_processor", "daily_aggregates_reconcile", "trades_checks", "news_job", "grafana_provision",
    }  # fmt: skip


@pytest.mark.parametrize("name", ["finnhub_ingest_keeper", "stream_processor_keeper", "news_poller"])
def test_sensors_are_on_by_default(name):
    assert defs.resolve_sensor_def(name).default_status == dg.DefaultSensorStatus.RUNNING


@pytest.mark.parametrize("job", ["finnhub_ingest", "stream_processor"])
def test_long_running_jobs_carry_the_concurrency_tag(job):
    assert defs.resolve_job_def(job).tags["stock_platform/long_run"] == job


def test_lineage_is_market_then_trades_then_aggregates_with_news_apart():
    graph = defs.resolve_asset_graph()
    parents = {key.to_user_string(): {parent.to_user_string() for parent in graph.get(key).parent_keys} for key in graph.get_all_asset_keys()}
    assert parents == {
        "market": set(), "trades": {"market"}, "daily_aggregates": {"trades"}, "minute_bars": {"trades"}, "news": set(),
    }  # fmt: skip


def test_every_asset_has_checks():
    checked = {key.asset_key.to_user_string() for key in defs.resolve_asset_graph().asset_check_keys}
    assert checked >= {"trades", "daily_aggregates", "news"}


def test_every_environment_variable_the_resources_read_has_a_documented_default():
    # A variable read through dg.EnvVar without a default in env_defaults would break `make dev`.
    read = set()
    for resource in defs.resources.values():
        read |= _env_vars(resource)
    assert read <= set(ENV_DEFAULTS)
    assert {"FINNHUB_API_KEY", "KAFKA_BOOTSTRAP_SERVERS", "STOCK_PLATFORM_STORE", "CASSANDRA_PASSWORD", "GRAFANA_API_TOKEN"} <= read


def _env_vars(resource) -> set[str]:
    names = set()
    for value in dict(resource).values() if isinstance(resource, dg.ConfigurableResource) else []:
        if isinstance(value, dg.EnvVar):
            names.add(value.env_var_name)
        elif isinstance(value, dg.ConfigurableResource):
            names |= _env_vars(value)
    return names
