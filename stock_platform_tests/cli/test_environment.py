"""The platform's commands read their settings from the environment through the settings models and never write it.

The clusters are replaced at their client boundary: these tests are about which settings reach them.
"""

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from cassandra.cluster import NoHostAvailable

from stock_platform.cli import admin
from stock_platform.cli.main import configure_logging, main
from stock_platform.defs.kafka.resources import KafkaResource
from stock_platform.defs.processing.resources import StreamProcessorResource
from stock_platform.env_defaults import ENV_DEFAULTS
from stock_platform.processing import stream_reset
from stock_platform.storage.settings import CassandraStoreSettings

CONFIGURED = {"KAFKA_BOOTSTRAP_SERVERS": "k1:9092", "KAFKA_TOPIC_MARKET": "cli_market", "SPARK_CHECKPOINT_DIR": "/ckpt",
              "CASSANDRA_KEYSPACE": "cli_keyspace"}  # fmt: skip


class _Unreachable:
    def connect(self):
        raise NoHostAvailable("no host answered", {})

    def shutdown(self):
        pass


@pytest.fixture
def reached(monkeypatch):
    """What each command hands its cluster (or the reset): the settings that reached it."""
    seen = {}

    def ensure_topics(kafka):
        seen["kafka"] = kafka
        return []

    def build_cluster(settings):
        seen["cassandra"] = settings
        return _Unreachable()

    def reset_spark_checkpoint(path):
        seen["checkpoint"] = path
        return f"deleted {path}"

    def reset_consumer_group(kafka, topic, group):
        seen["group"] = (kafka.bootstrap_servers, topic, group)
        return {0: 0}

    monkeypatch.setattr(KafkaResource, "ensure_topics", ensure_topics)
    monkeypatch.setattr(admin, "build_cluster", build_cluster)
    monkeypatch.setattr(stream_reset, "reset_spark_checkpoint", reset_spark_checkpoint)
    monkeypatch.setattr(stream_reset, "reset_consumer_group", reset_consumer_group)
    return seen


@pytest.fixture
def configured(monkeypatch, reached):
    """os.environ holding CONFIGURED and no other platform variable."""
    for name in ENV_DEFAULTS:
        monkeypatch.delenv(name, raising=False)
    for name, value in CONFIGURED.items():
        monkeypatch.setenv(name, value)


@contextmanager
def environ_writes() -> Iterator[list[str]]:
    """Every write to os.environ within the block (set or delete), by name; update(), pop(), clear() included."""
    writes: list[str] = []
    environ_type = type(os.environ)
    set_item, del_item = environ_type.__setitem__, environ_type.__delitem__

    def recording_set(environ, name, value):
        writes.append(name)
        set_item(environ, name, value)

    def recording_del(environ, name):
        writes.append(name)
        del_item(environ, name)

    environ_type.__setitem__, environ_type.__delitem__ = recording_set, recording_del
    try:
        yield writes
    finally:
        environ_type.__setitem__, environ_type.__delitem__ = set_item, del_item


@pytest.mark.parametrize(
    ("argv", "exit_code"),
    [(["kafka-topics"], 0), (["cassandra-apply"], 1), (["stream-reset", "spark"], 0), (["stream-reset", "light"], 0)],
)
def test_commands_read_the_environment_without_writing_it(configured, argv, exit_code):
    before = dict(os.environ)
    with environ_writes() as writes:
        assert main(argv) == exit_code  # cassandra-apply: the fake cluster is unreachable
    assert writes == []
    assert dict(os.environ) == before


def test_unset_variables_take_the_models_defaults_and_set_ones_are_read(configured, reached):
    for argv in (["kafka-topics"], ["cassandra-apply"], ["stream-reset", "spark"], ["stream-reset", "light"]):
        main(argv)
    kafka = reached["kafka"]
    assert (kafka.bootstrap_servers, kafka.market_topic) == ("k1:9092", "cli_market")
    assert (kafka.security_protocol, kafka.dead_letter_topic, kafka.partitions) == (
        KafkaResource().security_protocol, KafkaResource().dead_letter_topic, KafkaResource().partitions,
    )  # fmt: skip
    assert reached["cassandra"] == CassandraStoreSettings(keyspace="cli_keyspace")
    assert reached["checkpoint"] == "/ckpt/cli_market"
    assert reached["group"] == ("k1:9092", "cli_market", StreamProcessorResource().consumer_group)


def test_commands_read_the_mapping_they_are_given(configured, reached):
    given = {"KAFKA_BOOTSTRAP_SERVERS": "given:9092", "CASSANDRA_CONTACT_POINTS": "c1,c2", "CASSANDRA_PORT": "9142"}
    with environ_writes() as writes:
        assert main(["kafka-topics", "--partitions", "4"], environ=given) == 0
        assert main(["cassandra-apply"], environ=given) == 1
    assert (reached["kafka"].bootstrap_servers, reached["kafka"].market_topic, reached["kafka"].partitions) == (
        "given:9092", KafkaResource().market_topic, 4,
    )  # fmt: skip
    assert (reached["cassandra"].contact_points, reached["cassandra"].port) == (("c1", "c2"), 9142)
    assert writes == []


def test_a_variable_that_does_not_parse_is_one_line(capsys):
    assert main(["cassandra-apply"], environ={"CASSANDRA_PORT": "nine"}) == 1
    assert capsys.readouterr().err.strip() == "stock-platform cassandra-apply: CASSANDRA_PORT='nine' is not a whole number"



def test_the_command_line_keeps_the_platforms_info_lines_and_drops_py4js():
    root, py4j = logging.getLogger(), logging.getLogger("py4j")
    root_level, py4j_level = root.level, py4j.level
    root.setLevel(logging.INFO)  # what basicConfig sets when no other handler (pytest's) came first
    try:
        configure_logging()
        assert logging.getLogger("stock_platform.processing.light_engine").isEnabledFor(logging.INFO)
        assert not logging.getLogger("py4j.clientserver").isEnabledFor(logging.INFO)
        assert logging.getLogger("py4j.clientserver").isEnabledFor(logging.WARNING)
    finally:
        root.setLevel(root_level)
        py4j.setLevel(py4j_level)
