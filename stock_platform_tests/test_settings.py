"""The settings models: one declaration per setting, read from a given mapping, bound to dg.EnvVar for Dagster."""

import subprocess
import sys

import dagster as dg
import pytest
from pydantic import Field

from stock_platform.env_defaults import ENV_DEFAULTS, SECRET_ENV_VARS, SETTINGS_MODELS
from stock_platform.kafka.settings import KafkaEnv
from stock_platform.settings import EnvSettings, EnvVariable, env_defaults, env_field, env_text, secret_field
from stock_platform.storage.settings import CassandraEnv, StoreEnv


def test_each_variable_is_declared_once_with_one_default():
    declared = [variable for model in SETTINGS_MODELS for variable in model.env_variables()]
    # Shared variables (STOCK_PLATFORM_DATA_DIR, REDIS_URL, CASSANDRA_KEYSPACE) are one EnvVariable used twice.
    for name in {variable.name for variable in declared}:
        assert len({variable for variable in declared if variable.name == name}) == 1, name
    assert ENV_DEFAULTS == {variable.name: variable.default_text for variable in declared}


def test_two_fields_on_one_variable_with_different_defaults_are_refused():
    class First(EnvSettings):
        folder: str = env_field("TEST_FOLDER", "a", "a folder")

    class Second(EnvSettings):
        folder: str = env_field("TEST_FOLDER", "b", "the same folder")

    with pytest.raises(ValueError, match="TEST_FOLDER is declared twice, differently"):
        env_defaults([First, Second])


def test_a_secret_has_no_default():
    with pytest.raises(ValueError, match="TEST_TOKEN is a secret: it comes from the environment only and has no default"):
        EnvVariable("TEST_TOKEN", "s3cret", secret=True)
    assert SECRET_ENV_VARS == {"FINNHUB_API_KEY", "KAFKA_SASL_PASSWORD", "CASSANDRA_PASSWORD", "GRAFANA_API_TOKEN"}
    assert all(ENV_DEFAULTS[name] == "" for name in SECRET_ENV_VARS)


def test_a_variable_can_set_only_what_dg_envvar_feeds():
    with pytest.raises(TypeError, match="TEST_RATIO can set only a str, str | None or int field"):

        class Ratios(EnvSettings):
            ratio: float = env_field("TEST_RATIO", 0.5, "a ratio")


def test_from_environ_reads_the_mapping_it_is_given_and_defaults_the_rest(monkeypatch):
    monkeypatch.setenv("KAFKA_TOPIC_DEAD_LETTER", "from-os-environ")
    kafka = KafkaEnv.from_environ({"KAFKA_TOPIC_MARKET": "trades_in", "KAFKA_SASL_MECHANISM": ""})
    assert (kafka.market_topic, kafka.sasl_mechanism) == ("trades_in", "")
    assert kafka.dead_letter_topic == KafkaEnv().dead_letter_topic


def test_from_environ_reads_nested_models_and_whole_numbers():
    store = StoreEnv.from_environ({"STOCK_PLATFORM_STORE": "cassandra", "CASSANDRA_PORT": "9142", "STOCK_PLATFORM_DATA_DIR": "/d"})
    assert (store.backend, store.cassandra.port, store.embedded.data_dir) == ("cassandra", 9142, "/d")
    assert CassandraEnv.from_environ({}, port=1).port == 1


def test_a_variable_its_field_cannot_hold_is_one_line_naming_it():
    with pytest.raises(ValueError, match=r"^CASSANDRA_PORT='nine' is not a whole number$"):
        CassandraEnv.from_environ({"CASSANDRA_PORT": "nine"})


def test_env_bound_binds_every_variable_for_dagster(monkeypatch):
    class Probe(dg.ConfigurableResource, CassandraEnv):
        extra: int = Field(default=3)

    bound = Probe.env_bound(extra=4)
    # dg.EnvVar for the str fields, dg.EnvVar.int (an int until resolved) for the port: both carry the name.
    assert {name: getattr(value, "env_var_name", None) for name, value in dict(bound).items()} == {
        **{name: variable.name for name, variable in CassandraEnv.env_fields().items()}, "extra": None
    }
    assert not isinstance(bound.port, dg.EnvVar) and isinstance(bound.keyspace, dg.EnvVar)
    monkeypatch.setenv("CASSANDRA_PORT", "9142")
    for name, variable in CassandraEnv.env_fields().items():
        if name != "port":
            monkeypatch.setenv(variable.name, f"{name}-value")
    with bound.process_config_and_initialize_cm() as resource:
        assert (resource.port, resource.keyspace, resource.extra) == (9142, "keyspace-value", 4)


def test_secret_and_redacted_values_stay_out_of_repr():
    class Holder(EnvSettings):
        token: str | None = secret_field("TEST_TOKEN", "a token")
        url: str | None = EnvVariable("TEST_URL", redacted=True).field("a URL that may embed a password")

    holder = Holder(token="tok-123", url="redis://:pw-456@host")
    assert "tok-123" not in repr(holder) and "pw-456" not in repr(holder)
    assert Holder.model_fields["token"].description == "a token (secret, from the environment only: TEST_TOKEN)."


def test_env_text_is_what_the_launcher_fills():
    assert (env_text(None), env_text(9042), env_text("x")) == ("", "9042", "x")


def test_the_defaults_load_without_dagster_or_any_client_library():
    """The launcher and the dry run learn the defaults without importing Dagster, Kafka, Spark or Cassandra."""
    probe = (
        "import sys, stock_platform.env_defaults; "
        "print(sorted(m for m in ('dagster', 'confluent_kafka', 'pyspark', 'cassandra') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"
