"""The Cassandra store at the session boundary: cluster options, prepared statements, batching, retries."""

import ssl
from datetime import datetime
from unittest.mock import MagicMock

import pytest
from cassandra import ConsistencyLevel, InvalidRequest, Unavailable, WriteTimeout
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, NoHostAvailable
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
from cassandra.query import BatchStatement, BatchType, BoundStatement
from cassandra.util import Date

from stock_platform.storage import cassandra_session
from stock_platform.storage.base import StoreError
from stock_platform.storage.cassandra_session import StoreUnavailableError, build_cluster
from stock_platform.storage.cassandra_statements import statement_texts
from stock_platform.storage.cassandra_store import CassandraMarketStore
from stock_platform.storage.factory import open_store
from stock_platform.storage.settings import CassandraStoreSettings
from stock_platform_tests.storage.conftest import DAY, T0, article, trade
from stock_platform_tests.storage.fake_cassandra import FakeCluster, FakeSession, bound_rows


def _cluster_options(monkeypatch, **settings):
    cluster_class = MagicMock()
    monkeypatch.setattr(cassandra_session, "Cluster", cluster_class)
    build_cluster(CassandraStoreSettings(**settings))
    return cluster_class.call_args.kwargs


def test_cluster_routes_token_aware_in_the_local_dc_with_the_configured_consistency(monkeypatch):
    options = _cluster_options(monkeypatch, contact_points="c1, c2", port=9142, local_datacenter="eu-west",
                               consistency="quorum", request_timeout_s=3.5)  # fmt: skip
    assert (options["contact_points"], options["port"]) == (["c1", "c2"], 9142)
    profile = options["execution_profiles"][EXEC_PROFILE_DEFAULT]
    assert isinstance(profile.load_balancing_policy, TokenAwarePolicy)
    child = profile.load_balancing_policy._child_policy
    assert isinstance(child, DCAwareRoundRobinPolicy) and child.local_dc == "eu-west"
    assert (profile.consistency_level, profile.request_timeout) == (ConsistencyLevel.QUORUM, 3.5)
    assert profile.retry_policy is not None
    assert "auth_provider" not in options and "ssl_context" not in options


def test_credentials_and_tls_are_passed_to_the_cluster(monkeypatch, tmp_path):
    options = _cluster_options(monkeypatch, username="svc", password="s3cret", tls=True, tls_check_hostname=False)
    auth = options["auth_provider"]
    assert isinstance(auth, PlainTextAuthProvider) and (auth.username, auth.password) == ("svc", "s3cret")
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext) and context.check_hostname is False
    assert options["execution_profiles"][EXEC_PROFILE_DEFAULT].consistency_level == ConsistencyLevel.LOCAL_QUORUM


def test_the_default_factory_builds_the_cluster_and_close_shuts_it_down(monkeypatch):
    fake = FakeCluster()
    monkeypatch.setattr(cassandra_session, "Cluster", MagicMock(return_value=fake))
    with open_store(CassandraStoreSettings(fetch_size=77)) as store:
        assert isinstance(store, CassandraMarketStore)
        assert fake.session.default_fetch_size == 77
    assert fake.shutdown_calls == 1


def test_every_statement_is_prepared_once_and_reused(cassandra_store, fake_cluster):
    session = fake_cluster.session
    assert sorted(session.prepare_calls) == sorted(statement_texts("market").values())
    for offset in range(1, 4):
        cassandra_store.write_trades([trade(offset)])
        cassandra_store.daily_aggregates([("AAPL", DAY)])
    assert len(session.prepare_calls) == len(statement_texts("market"))
    assert all(statement.is_idempotent for statement in session.prepared.values())


def test_trades_are_batched_per_partition_key_in_bounded_unlogged_batches(cassandra_store, fake_cluster):
    session = fake_cluster.session
    rows = [trade(offset, event_time_ms=T0 + offset) for offset in range(1, 6)] + [trade(9, symbol="MSFT", conditions=("1", "12"))]
    cassandra_store.write_trades(rows)
    batches = [s for s in session.executed if isinstance(s, BatchStatement)]
    singles = [s for s in session.executed if isinstance(s, BoundStatement)]
    assert sorted(len(batch) for batch in batches) == [2, 3]
    assert all(batch.batch_type == BatchType.UNLOGGED for batch in batches)
    for batch in batches:
        assert {(row["symbol"], row["trading_day"]) for row in bound_rows(session, batch)} == {("AAPL", Date(DAY))}
    [single] = singles
    [values] = bound_rows(session, single)
    assert values == {
        "symbol": "MSFT", "trading_day": Date(DAY), "event_time": datetime(2025, 10, 9, 8, 53, 20),
        "trade_id": rows[-1].trade_id, "price": 100.0, "volume": 1.0, "conditions": ["1", "12"],
        "received_at": datetime(2025, 10, 9, 8, 53, 20, 7000), "kafka_partition": 0, "kafka_offset": 9,
    }  # fmt: skip
    assert single.routing_key is not None and batches[0].routing_key is not None


def test_a_write_timeout_is_retried_and_then_succeeds(cassandra_store, fake_cluster):
    fake_cluster.session.failures = [WriteTimeout("timed out", write_type=1, consistency=ConsistencyLevel.LOCAL_QUORUM)]
    assert cassandra_store.write_trades([trade(1)]) == 1
    assert cassandra_store.trades_for_day("AAPL", DAY) == [trade(1)]


@pytest.mark.parametrize(
    "error",
    [
        Unavailable("not enough replicas", consistency=ConsistencyLevel.LOCAL_QUORUM, required_replicas=2, alive_replicas=1),
        WriteTimeout("timed out", write_type=1),
    ],
)
def test_persistent_unavailability_fails_with_a_clear_error_after_the_retries(fake_cluster, error):
    sleeps = []
    store = CassandraMarketStore(
        CassandraStoreSettings(attempts=3, local_datacenter="dc1"), cluster_factory=lambda s: fake_cluster, sleep=sleeps.append
    )
    fake_cluster.session.failures = [error] * 3
    with pytest.raises(StoreUnavailableError) as raised:
        store.write_trades([trade(1)])
    message = str(raised.value)
    assert f"write of 1 rows to market.trades failed for 1 of 1 statements after 3 attempts ({type(error).__name__}" in message
    assert "replicas in datacenter dc1 are up for consistency LOCAL_QUORUM" in message
    assert len(sleeps) == 2


def test_a_non_transient_error_is_not_retried(cassandra_store, fake_cluster):
    fake_cluster.session.failures = [InvalidRequest("unconfigured table trades")]
    with pytest.raises(StoreError, match=r"Cassandra write of 1 rows to market.trades failed \(InvalidRequest"):
        cassandra_store.write_trades([trade(1)])
    assert len(fake_cluster.session.executed) == 1


def test_unreachable_cluster_fails_clearly_and_is_shut_down():
    cluster = FakeCluster()
    cluster.connect = MagicMock(side_effect=NoHostAvailable("Unable to connect", {"10.0.0.1:9042": OSError("refused")}))
    with pytest.raises(StoreError, match="cannot connect to Cassandra at 10.0.0.1:9042 .*check CASSANDRA_CONTACT_POINTS"):
        CassandraMarketStore(CassandraStoreSettings(contact_points="10.0.0.1"), cluster_factory=lambda s: cluster)
    assert cluster.shutdown_calls == 1


def test_a_missing_schema_names_the_fix_and_shuts_the_cluster_down():
    cluster = FakeCluster(FakeSession(keyspace="market"))
    with pytest.raises(StoreError, match="Keyspace other does not exist.*apply cassandra/schema.cql to keyspace other"):
        CassandraMarketStore(CassandraStoreSettings(keyspace="other"), cluster_factory=lambda s: cluster)
    assert cluster.shutdown_calls == 1


def test_news_already_stored_within_the_window_is_skipped_even_if_republished(cassandra_store):
    cassandra_store.upsert_news([article(1, T0)])
    result = cassandra_store.upsert_news([article(1, T0 + 3_600_000), article(2, T0 + 3_600_000)])
    assert (result.new, result.duplicates) == (1, 1)
    assert cassandra_store.duplicate_news() == []


def test_minute_bars_are_read_with_one_range_query_per_partition(cassandra_store, fake_cluster):
    session = fake_cluster.session
    session.executed.clear()
    keys = [("AAPL", DAY, T0), ("AAPL", DAY, T0 + 120_000), ("MSFT", DAY, T0)]
    assert cassandra_store.minute_bars(keys) == {}
    ranges = sorted(tuple(session.decode(s.prepared_statement, s.values)) for s in session.executed)
    assert ranges == [
        ("AAPL", Date(DAY), datetime(2025, 10, 9, 8, 53, 20), datetime(2025, 10, 9, 8, 55, 20)),
        ("MSFT", Date(DAY), datetime(2025, 10, 9, 8, 53, 20), datetime(2025, 10, 9, 8, 53, 20)),
    ]
