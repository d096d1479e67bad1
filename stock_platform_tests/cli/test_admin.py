"""`stock-platform cassandra-apply` and `kafka-topics` against the session's real Cassandra node and Kafka broker."""

import pytest
from confluent_kafka.admin import AdminClient

from stock_platform.cli import admin
from stock_platform.cli.main import main
from stock_platform_local.servers.process import free_port
from stock_platform_tests.storage.cassandra_keyspaces import admin_session


@pytest.fixture
def cassandra_env(cassandra_node, unique_name, monkeypatch):
    """CASSANDRA_* variables pointing at the node and a keyspace of this test's own, dropped afterwards."""
    keyspace = unique_name("cli")
    for name, value in {
        "CASSANDRA_CONTACT_POINTS": cassandra_node.contact_point, "CASSANDRA_PORT": str(cassandra_node.port),
        "CASSANDRA_LOCAL_DC": cassandra_node.local_dc, "CASSANDRA_KEYSPACE": keyspace,
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    with admin_session(cassandra_node) as session:
        yield session, keyspace
        session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=60)


def _keyspace(session, keyspace):
    session.cluster.refresh_schema_metadata()
    [(replication,)] = session.execute("SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s", (keyspace,))
    return replication, session.cluster.metadata.keyspaces[keyspace].tables


def test_cassandra_apply_creates_the_keyspace_per_datacenter_then_every_table_and_can_run_again(cassandra_env, capsys):
    session, keyspace = cassandra_env
    argv = ["cassandra-apply", "--datacenters", "datacenter1:1", "--trades-ttl-days", "7"]
    assert main(argv) == 0
    assert main(argv) == 0
    assert capsys.readouterr().out.splitlines() == ["applied 6 schema statements"] * 2
    replication, tables = _keyspace(session, keyspace)
    assert replication == {"class": "org.apache.cassandra.locator.NetworkTopologyStrategy", "datacenter1": "1"}
    assert set(tables) == {"trades", "daily_aggregates", "minute_bars", "news", "pipeline_health"}
    assert tables["trades"].options["default_time_to_live"] == 7 * 86_400


def test_cassandra_apply_defaults_to_one_replica_and_connects_with_the_configured_credentials(cassandra_env, monkeypatch):
    session, keyspace = cassandra_env
    # The local node accepts any client, so the credentials reach the cluster options without being checked.
    monkeypatch.setenv("CASSANDRA_USERNAME", "migrator")
    monkeypatch.setenv("CASSANDRA_PASSWORD", "pw-from-secret")
    seen, build_cluster = [], admin.build_cluster

    def build(settings):
        seen.append(settings)
        return build_cluster(settings)

    monkeypatch.setattr(admin, "build_cluster", build)
    assert main(["cassandra-apply"]) == 0
    [settings] = seen
    assert (settings.keyspace, settings.username, settings.password) == (keyspace, "migrator", "pw-from-secret")
    replication, _ = _keyspace(session, keyspace)
    assert replication == {"class": "org.apache.cassandra.locator.SimpleStrategy", "replication_factor": "1"}


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["cassandra-apply", "--datacenters", "dc9:3"], "Unrecognized strategy option {dc9}"),
        (["cassandra-apply", "--datacenters", "dc1"], "replication entry 'dc1' is not <datacenter>:<replicas>"),
        (["cassandra-apply", "--trades-ttl-days", "-1"], "trades_ttl_seconds=-86400 must be >= 0"),
    ],
)
def test_cassandra_apply_mistakes_are_one_line_and_exit_1(cassandra_env, capsys, argv, complaint):
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("stock-platform cassandra-apply: ") and complaint in err and "\n" not in err


def test_cassandra_apply_reports_an_unreachable_cluster_in_one_line(cassandra_env, monkeypatch, capsys):
    port = free_port()
    monkeypatch.setenv("CASSANDRA_PORT", str(port))
    assert main(["cassandra-apply"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"stock-platform cassandra-apply: cannot reach Cassandra at 127.0.0.1:{port}") and "\n" not in err


def test_kafka_topics_creates_both_topics_once_with_the_partitions_asked_for(kafka_broker, unique_name, monkeypatch, capsys):
    market, dead_letter = unique_name("market"), unique_name("market.dead_letter")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_broker.bootstrap_servers)
    monkeypatch.setenv("KAFKA_TOPIC_MARKET", market)
    monkeypatch.setenv("KAFKA_TOPIC_DEAD_LETTER", dead_letter)
    assert main(["kafka-topics", "--partitions", "4"]) == 0
    assert main(["kafka-topics", "--partitions", "4"]) == 0
    topics = AdminClient({"bootstrap.servers": kafka_broker.bootstrap_servers}).list_topics(timeout=10).topics
    assert len(topics[market].partitions) == 4 and dead_letter in topics
    assert capsys.readouterr().out.splitlines() == [
        f"created topics: {market}, {dead_letter}", "created topics: none (all exist)",
    ]  # fmt: skip


def test_kafka_topics_reports_an_unreachable_broker_in_one_line(monkeypatch, capsys):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    assert main(["kafka-topics"]) == 1
    assert capsys.readouterr().err.strip().startswith("stock-platform kafka-topics: cannot reach Kafka at 127.0.0.1:1")
