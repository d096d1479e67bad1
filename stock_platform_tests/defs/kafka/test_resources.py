from unittest.mock import MagicMock

import pytest
from confluent_kafka import KafkaError, KafkaException

from stock_platform.defs.kafka import resources as kafka_module
from stock_platform.defs.kafka.resources import KafkaResource
from stock_platform.kafka.admin import KafkaUnavailableError
from stock_platform.kafka.settings import KafkaEnv, KafkaSettings, redact
from stock_platform_local.servers.process import free_port
from stock_platform_tests.kafka.topics import read_all


@pytest.fixture
def resource():
    return KafkaResource(
        bootstrap_servers="broker-1:9092,broker-2:9092",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="platform",
        sasl_password="hunter2",
        client_overrides={"client.id": "stock-platform"},
        partitions=12,
        replication_factor=3,
    )


def test_producer_config_is_durable_and_secured(resource):
    config = resource.settings().producer_config()
    assert config["acks"] == "all"
    assert config["enable.idempotence"] is True
    assert config["compression.type"] == "lz4"
    assert config["linger.ms"] > 0
    assert config["security.protocol"] == "SASL_SSL"
    assert config["sasl.mechanism"] == "SCRAM-SHA-512"
    assert config["sasl.password"] == "hunter2"
    assert config["client.id"] == "stock-platform"


def test_consumer_config_never_auto_commits(resource):
    config = resource.settings().consumer_config("processor")
    assert config["enable.auto.commit"] is False
    assert config["group.id"] == "processor"
    assert config["enable.partition.eof"] is True


def test_empty_optional_settings_from_env_are_omitted():
    settings = KafkaResource(bootstrap_servers="b:9092", security_protocol="", sasl_mechanism="", sasl_password="").settings()
    config = settings.common_config()
    assert config == {"bootstrap.servers": "b:9092", "security.protocol": "PLAINTEXT"}


def test_the_resource_defaults_to_the_models_settings():
    assert KafkaResource().settings() == KafkaSettings(KafkaEnv().bootstrap_servers)
    assert (KafkaResource().market_topic, KafkaResource().dead_letter_topic) == (KafkaEnv().market_topic, KafkaEnv().dead_letter_topic)


def test_password_is_hidden_from_repr_and_redacted_configs(resource):
    settings = resource.settings()
    assert "hunter2" not in repr(settings)
    assert redact(settings.producer_config())["sasl.password"] == "***"


def test_producer_context_flushes_then_closes_on_exit_even_after_an_error(resource, monkeypatch):
    client = MagicMock()
    client.flush.return_value = 0
    monkeypatch.setattr(kafka_module, "Producer", MagicMock(return_value=client))
    with pytest.raises(RuntimeError):
        with resource.producer():
            raise RuntimeError("interrupted")
    assert [call[0] for call in client.method_calls] == ["flush", "close"]


def test_consumer_context_closes(resource, monkeypatch):
    client = MagicMock()
    monkeypatch.setattr(kafka_module, "Consumer", MagicMock(return_value=client))
    with resource.consumer("g"):
        pass
    client.close.assert_called_once()


def _admin(existing=(), create_errors=None):
    admin = MagicMock()
    admin.list_topics.return_value.topics = {name: None for name in existing}

    def create_topics(new_topics, request_timeout):
        futures = {}
        for topic in new_topics:
            future = MagicMock()
            error = (create_errors or {}).get(topic.topic)
            if error is not None:
                future.result.side_effect = KafkaException(KafkaError(error))
            futures[topic.topic] = future
        return futures

    admin.create_topics.side_effect = create_topics
    return admin


def test_ensure_topics_creates_missing_topics_with_partitions_and_retention(resource, monkeypatch):
    admin = _admin(existing=["market.dead_letter"])
    monkeypatch.setattr(KafkaResource, "admin", lambda self: admin)
    assert resource.ensure_topics() == ["market"]
    [[new_topics], kwargs] = admin.create_topics.call_args
    [topic] = new_topics
    assert (topic.topic, topic.num_partitions, topic.replication_factor) == ("market", 12, 3)
    assert topic.config == {"retention.ms": str(7 * 24 * 3600 * 1000)}


def test_topic_created_concurrently_elsewhere_is_fine(resource, monkeypatch):
    admin = _admin(create_errors={"market": KafkaError.TOPIC_ALREADY_EXISTS})
    monkeypatch.setattr(KafkaResource, "admin", lambda self: admin)
    assert resource.ensure_topics() == ["market.dead_letter"]


def test_unreachable_broker_is_a_one_line_error():
    address = f"127.0.0.1:{free_port()}"
    with pytest.raises(KafkaUnavailableError, match=f"cannot reach Kafka at {address} .*KAFKA_BOOTSTRAP_SERVERS") as error:
        KafkaResource(bootstrap_servers=address, admin_timeout_s=1).ensure_topics()
    assert "\n" not in str(error.value)


@pytest.fixture
def real(kafka_broker, unique_name):
    return KafkaResource(
        bootstrap_servers=kafka_broker.bootstrap_servers,
        market_topic=unique_name("market"),
        dead_letter_topic=unique_name("dead_letter"),
        partitions=4,
        retention_ms=3_600_000,
    )


def test_ensure_topics_creates_them_on_a_real_broker_once(real):
    assert sorted(real.ensure_topics()) == sorted([real.market_topic, real.dead_letter_topic])
    assert real.ensure_topics() == []
    topics = real.admin().list_topics(timeout=10).topics
    assert (len(topics[real.market_topic].partitions), len(topics[real.dead_letter_topic].partitions)) == (4, 1)
    assert real.market_topic in real.check_reachable()


def test_producer_context_delivers_what_was_sent_before_an_error(real):
    real.ensure_topics()
    with pytest.raises(RuntimeError, match="interrupted"):
        with real.producer() as producer:
            for index in range(50):
                producer.send(real.market_topic, b"AAPL", str(index).encode(), [])
            raise RuntimeError("interrupted")
    assert producer.delivered == 50
    values = [record.value() for record in read_all(real.bootstrap_servers, real.market_topic)]
    assert values == [str(index).encode() for index in range(50)]
