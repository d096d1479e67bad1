from unittest.mock import MagicMock

import pytest
from cassandra.cluster import NoHostAvailable
from confluent_kafka.admin import AdminClient

from stock_platform.cli import admin
from stock_platform.cli.main import main
from stock_platform.embedded.broker import EmbeddedKafkaBroker


class FakeCluster:
    """Records the statements of the schema run and whether the cluster was shut down."""

    def __init__(self, fail_connect: bool = False) -> None:
        self.session = MagicMock()
        self.fail_connect = fail_connect
        self.shut_down = False

    def connect(self):
        if self.fail_connect:
            raise NoHostAvailable("Unable to connect to any servers", {"10.0.0.9:9042": ConnectionRefusedError(111)})
        return self.session

    def shutdown(self) -> None:
        self.shut_down = True


@pytest.fixture
def cluster(monkeypatch):
    fake = FakeCluster()
    monkeypatch.setattr(admin, "build_cluster", lambda settings: fake)
    return fake


def _statements(cluster: FakeCluster) -> list[str]:
    return [call.args[0] for call in cluster.session.execute.call_args_list]


def test_cassandra_apply_creates_the_keyspace_with_per_datacenter_replicas_then_every_table(cluster, monkeypatch, capsys):
    monkeypatch.setenv("CASSANDRA_KEYSPACE", "market_prod")
    assert main(["cassandra-apply", "--datacenters", "dc1:3,dc2:3", "--trades-ttl-days", "7"]) == 0
    statements = _statements(cluster)
    assert statements[0].startswith("CREATE KEYSPACE IF NOT EXISTS market_prod")
    assert "'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 3" in statements[0]
    assert any("market_prod.trades" in statement and "default_time_to_live = 604800" in statement for statement in statements)
    assert cluster.shut_down
    assert capsys.readouterr().out.strip() == f"applied {len(statements)} schema statements"


def test_cassandra_apply_connects_with_the_configured_credentials(monkeypatch):
    monkeypatch.setenv("CASSANDRA_CONTACT_POINTS", "c1,c2")
    monkeypatch.setenv("CASSANDRA_USERNAME", "migrator")
    monkeypatch.setenv("CASSANDRA_PASSWORD", "pw-from-secret")
    seen = {}

    def build(settings):
        seen["settings"] = settings
        return FakeCluster()

    monkeypatch.setattr(admin, "build_cluster", build)
    assert main(["cassandra-apply"]) == 0
    assert (seen["settings"].contact_points, seen["settings"].username, seen["settings"].password) == (
        ("c1", "c2"), "migrator", "pw-from-secret",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "fail_connect", "complaint"),
    [
        (["cassandra-apply"], True, "cannot reach Cassandra at 127.0.0.1:9042"),
        (["cassandra-apply", "--datacenters", "dc1"], False, "replication entry 'dc1' is not <datacenter>:<replicas>"),
        (["cassandra-apply", "--trades-ttl-days", "-1"], False, "trades_ttl_seconds=-86400 must be >= 0"),
    ],
)
def test_cassandra_apply_mistakes_are_one_line_and_exit_1(monkeypatch, capsys, argv, fail_connect, complaint):
    fake = FakeCluster(fail_connect=fail_connect)
    monkeypatch.setattr(admin, "build_cluster", lambda settings: fake)
    monkeypatch.delenv("CASSANDRA_CONTACT_POINTS", raising=False)
    monkeypatch.delenv("CASSANDRA_PORT", raising=False)
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert complaint in err and "\n" not in err


def test_kafka_topics_creates_both_topics_once_with_the_partitions_asked_for(monkeypatch, capsys):
    with EmbeddedKafkaBroker() as broker:
        monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap_servers)
        assert main(["kafka-topics", "--partitions", "4"]) == 0
        assert main(["kafka-topics", "--partitions", "4"]) == 0
        topics = AdminClient({"bootstrap.servers": broker.bootstrap_servers}).list_topics(timeout=10).topics
    assert len(topics["market"].partitions) == 4 and "market.dead_letter" in topics
    assert capsys.readouterr().out.splitlines() == [
        "created topics: market, market.dead_letter", "created topics: none (all exist)",
    ]  # fmt: skip


def test_kafka_topics_reports_an_unreachable_broker_in_one_line(monkeypatch, capsys):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    assert main(["kafka-topics"]) == 1
    assert capsys.readouterr().err.strip().startswith("stock-platform kafka-topics: cannot reach Kafka at 127.0.0.1:1")
