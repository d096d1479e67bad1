"""The launcher's local servers: what it starts, where it points the runs, and that data survives a restart."""

import socket
from contextlib import ExitStack

import pytest
from cassandra.cluster import Cluster
from confluent_kafka.admin import AdminClient

from stock_platform.defs.resources import build_resources
from stock_platform.env_defaults import ENV_DEFAULTS, SETTINGS_MODELS
from stock_platform.settings import EnvSettings, env_text
from stock_platform_local.dev import local_environment, preferred_port, start_local_servers
from stock_platform_local.servers.process import free_port


def _environment(tmp_path, **overrides):
    return {**ENV_DEFAULTS, "STOCK_PLATFORM_DATA_DIR": str(tmp_path / "data"), **overrides}


def _tables(env):
    cluster = Cluster([env["CASSANDRA_CONTACT_POINTS"]], port=int(env["CASSANDRA_PORT"]), protocol_version=5)
    try:
        rows = cluster.connect().execute(
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s", (env["CASSANDRA_KEYSPACE"],)
        )
        return {row.table_name for row in rows}
    finally:
        cluster.shutdown()


@pytest.mark.e2e
def test_cassandra_store_starts_kafka_and_cassandra_with_the_schema_and_keeps_it_across_restarts(tmp_path):
    env = _environment(tmp_path, STOCK_PLATFORM_STORE="cassandra")
    for _ in range(2):
        with ExitStack() as stack:
            start_local_servers(stack, env, explicit=set())
            assert AdminClient({"bootstrap.servers": env["KAFKA_BOOTSTRAP_SERVERS"]}).list_topics(timeout=10).brokers
            assert {"trades", "daily_aggregates", "minute_bars", "news"} <= _tables(env)
    assert (tmp_path / "data" / "kafka" / "logs" / "meta.properties").exists()
    assert (tmp_path / "data" / "cassandra" / "data").is_dir()


def test_servers_configured_externally_are_not_started(tmp_path):
    env = _environment(tmp_path, STOCK_PLATFORM_STORE="cassandra", KAFKA_BOOTSTRAP_SERVERS="kafka.example:9092",
                       CASSANDRA_CONTACT_POINTS="cassandra.example")  # fmt: skip
    with ExitStack() as stack:
        start_local_servers(stack, env, explicit={"KAFKA_BOOTSTRAP_SERVERS", "CASSANDRA_CONTACT_POINTS"})
    assert (env["KAFKA_BOOTSTRAP_SERVERS"], env["CASSANDRA_CONTACT_POINTS"]) == ("kafka.example:9092", "cassandra.example")
    assert not (tmp_path / "data" / "kafka").exists()


def test_the_usual_port_is_taken_when_free_and_another_when_not():
    port = free_port()
    assert preferred_port(port) == port
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        assert preferred_port(port) != port


@pytest.mark.parametrize(
    ("environ", "checkpoints"),
    [
        ({}, ".stock_platform/checkpoints"),
        ({"STOCK_PLATFORM_DATA_DIR": "/srv/stock"}, "/srv/stock/checkpoints"),
        ({"STOCK_PLATFORM_DATA_DIR": "/srv/stock", "SPARK_CHECKPOINT_DIR": "/ckpt"}, "/ckpt"),
    ],
)
def test_the_spark_checkpoint_follows_the_data_folder_unless_set(environ, checkpoints):
    env = local_environment(environ)
    assert env["SPARK_CHECKPOINT_DIR"] == checkpoints
    assert env["STOCK_PLATFORM_DATA_DIR"] == environ.get("STOCK_PLATFORM_DATA_DIR", ".stock_platform")


def _by_variable(settings: EnvSettings) -> dict[str, str]:
    """A model's (or resource's) settings by environment variable, as the variables' text."""
    values = {variable.name: env_text(getattr(settings, name)) for name, variable in type(settings).env_fields().items()}
    for name in type(settings).nested_models():
        values.update(_by_variable(getattr(settings, name)))
    return values


def test_the_launcher_fills_each_unset_variable_with_its_models_default():
    assert local_environment({}) == {name: value for model in SETTINGS_MODELS for name, value in _by_variable(model()).items()}


@pytest.mark.parametrize("key", ["finnhub", "kafka", "market_store", "grafana", "spark", "stream_processor"])
def test_dagster_resources_on_the_launchers_environment_hold_the_models_defaults(monkeypatch, key):
    """Defaults in one place: the model's default is what the launcher fills is what the run's resource holds."""
    for name, value in local_environment({}).items():
        monkeypatch.setenv(name, value)
    unresolved = build_resources()[key]
    [model] = [model for model in SETTINGS_MODELS if isinstance(unresolved, model)]

    with unresolved.process_config_and_initialize_cm() as resource:
        assert _by_variable(resource) == _by_variable(model())
