import re

import dagster as dg
import pytest

from stock_platform.definitions import defs
from stock_platform.defs.resources import build_resources
from stock_platform.env_defaults import ENV_DEFAULTS, SETTINGS_MODELS
from stock_platform.paths import project_root


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
    # A variable read through dg.EnvVar without a default in env_defaults would break `make dev`; one with a
    # default that no resource reads would be a setting that does nothing.
    read = set()
    for resource in defs.resources.values():
        read |= _env_vars(resource)
    assert read == set(ENV_DEFAULTS)
    assert {"FINNHUB_API_KEY", "KAFKA_BOOTSTRAP_SERVERS", "STOCK_PLATFORM_STORE", "CASSANDRA_PASSWORD", "GRAFANA_API_TOKEN"} <= read


@pytest.mark.parametrize("key", ["finnhub", "kafka", "market_store", "grafana", "spark", "stream_processor"])
def test_each_resource_is_its_systems_settings_model_bound_to_its_variables(key):
    resource = build_resources()[key]
    [model] = [model for model in SETTINGS_MODELS if isinstance(resource, model)]
    assert _env_vars(resource) == {variable.name for variable in model.env_variables()}


def test_the_readme_documents_every_variable_with_its_default():
    """README's Configuration table: the models' variables and, where it quotes one, their default."""
    readme = (project_root() / "README.md").read_text()
    section = readme.split("\n## Configuration\n", 1)[1].split("\n### ", 1)[0]
    documented = {}
    for row in re.findall(r"^\| (`[A-Z_]+`.*?) \| (.*?) \| .* \|$", section, re.MULTILINE):
        names = re.findall(r"`([A-Z_]+)`", row[0])
        pieces = re.split(r" / |, ", row[1])
        for name, piece in zip(names, pieces if len(pieces) == len(names) else pieces * len(names)):
            quoted = re.fullmatch(r"`([^`$]*)`", piece)
            documented[name] = "" if piece == "*(empty)*" else quoted.group(1) if quoted else None
    documented.pop("DAGSTER_HOME")  # Dagster's own variable
    assert set(documented) == set(ENV_DEFAULTS)
    assert {name: value for name, value in documented.items() if value is not None} == {
        name: ENV_DEFAULTS[name] for name, value in documented.items() if value is not None
    }


def _env_vars(resource) -> set[str]:
    names = set()
    for value in dict(resource).values() if isinstance(resource, dg.ConfigurableResource) else []:
        if isinstance(value, dg.EnvVar) or hasattr(value, "env_var_name"):  # dg.EnvVar.int is an int carrying the name
            names.add(value.env_var_name)
        elif isinstance(value, dg.ConfigurableResource):
            names |= _env_vars(value)
    return names
