"""The Cassandra store on the real node: cluster options, prepared statements, batching, errors; injected
driver errors only for what a healthy node cannot be made to show (timeouts, unavailable replicas)."""

import logging
import ssl
from datetime import datetime

import pytest
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
from cassandra.query import BatchStatement, BatchType, BoundStatement
from cassandra.util import Date

from cassandra import ConsistencyLevel, Unavailable, WriteTimeout
from stock_platform.storage.base import StoreError
from stock_platform.storage.batch import write_trade_batch
from stock_platform.storage.cassandra_session import StoreUnavailableError, build_cluster
from stock_platform.storage.cassandra_statements import CONDITIONAL_STATEMENTS, statement_texts
from stock_platform.storage.cassandra_store import CassandraMarketStore
from stock_platform.storage.factory import open_store
from stock_platform.storage.schema import SchemaSettings
from stock_platform.storage.settings import CassandraStoreSettings
from stock_platform_local.servers.process import free_port
from stock_platform_tests.storage.cassandra_keyspaces import node_settings
from stock_platform_tests.storage.conftest import DAY, T0, article, trade


class _Sent(list):
    failures: list


class _FailingFuture:
    def __init__(self, error):
        self._error = error

    def result(self):
        raise self._error


@pytest.fixture
def executed(cassandra_store, monkeypatch):
    """Every statement the store sends; `executed.failures` are raised by the next ones instead of sending them."""
    session = cassandra_store._session
    send = session.execute_async
    sent = _Sent()
    sent.failures = []

    def execute_async(statement, *args, **kwargs):
        sent.append(statement)
        if sent.failures:
            return _FailingFuture(sent.failures.pop(0))
        return send(statement, *args, **kwargs)

    monkeypatch.setattr(session, "execute_async", execute_async)
    return sent


def _decoded(statement: BoundStatement) -> tuple:
    prepared = statement.prepared_statement
    return tuple(
        None if value is None else column.type.deserialize(value, prepared.protocol_version)
        for column, value in zip(prepared.column_metadata, statement.values)
    )


def _timeout():
    return WriteTimeout("timed out", write_type=1, consistency=ConsistencyLevel.LOCAL_QUORUM)


def test_cluster_routes_token_aware_in_the_local_dc_with_the_configured_consistency():
    cluster = build_cluster(CassandraStoreSettings(contact_points="10.0.0.1, 10.0.0.2", port=9142, local_datacenter="eu-west",
                                                   consistency="quorum", request_timeout_s=3.5))  # fmt: skip
    assert (cluster.contact_points, cluster.port, cluster.protocol_version) == (["10.0.0.1", "10.0.0.2"], 9142, 5)
    profile = cluster.profile_manager.profiles[EXEC_PROFILE_DEFAULT]
    assert isinstance(profile.load_balancing_policy, TokenAwarePolicy)
    child = profile.load_balancing_policy._child_policy
    assert isinstance(child, DCAwareRoundRobinPolicy) and child.local_dc == "eu-west"
    assert (profile.consistency_level, profile.request_timeout) == (ConsistencyLevel.QUORUM, 3.5)
    assert profile.retry_policy is not None
    assert cluster.auth_provider is None and cluster.ssl_context is None


def test_credentials_and_tls_are_passed_to_the_cluster():
    cluster = build_cluster(CassandraStoreSettings(username="svc", password="s3cret", tls=True, tls_check_hostname=False))
    auth = cluster.auth_provider
    assert isinstance(auth, PlainTextAuthProvider) and (auth.username, auth.password) == ("svc", "s3cret")
    assert isinstance(cluster.ssl_context, ssl.SSLContext) and cluster.ssl_context.check_hostname is False
    assert cluster.profile_manager.profiles[EXEC_PROFILE_DEFAULT].consistency_level == ConsistencyLevel.LOCAL_QUORUM


def test_the_store_speaks_protocol_v5_without_downgrade_warnings_and_close_shuts_it_down(
    cassandra_node, cassandra_keyspace, caplog
):
    with caplog.at_level(logging.WARNING, logger="cassandra"):
        with open_store(node_settings(cassandra_node, cassandra_keyspace, fetch_size=77)) as store:
            assert isinstance(store, CassandraMarketStore)
            assert (store._cluster.protocol_version, store._session.default_fetch_size) == (5, 77)
    assert store._cluster.is_shutdown
    assert [record.getMessage() for record in caplog.records] == []


def test_every_statement_is_prepared_idempotent_unless_conditional_and_routable_once(
    cassandra_store, cassandra_keyspace, monkeypatch
):
    statements = vars(cassandra_store._statements)
    assert sorted(s.query_string for s in statements.values()) == sorted(statement_texts(cassandra_keyspace).values())
    assert {name for name, statement in statements.items() if not statement.is_idempotent} == CONDITIONAL_STATEMENTS
    assert all(" IF " in statements[name].query_string for name in CONDITIONAL_STATEMENTS)
    # The node tells the driver where the partition key is, so token-aware routing finds the replica.
    full_partition_key = [name for name in statements if not name.endswith(("_partitions", "_symbols"))]
    assert all(statements[name].routing_key_indexes for name in full_partition_key)
    prepared_again = []
    monkeypatch.setattr(cassandra_store._session, "prepare", prepared_again.append)
    for offset in range(1, 4):
        cassandra_store.write_trades([trade(offset)])
        cassandra_store.daily_aggregates([("AAPL", DAY)])
    assert prepared_again == []


def test_trades_are_batched_per_partition_key_in_bounded_unlogged_batches(cassandra_store, executed):
    rows = [trade(offset, event_time_ms=T0 + offset) for offset in range(1, 6)] + [trade(9, symbol="MSFT")]
    cassandra_store.write_trades(rows)
    batches = [s for s in executed if isinstance(s, BatchStatement)]
    [single] = [s for s in executed if isinstance(s, BoundStatement)]
    assert sorted(len(batch) for batch in batches) == [2, 3]
    assert all(batch.batch_type == BatchType.UNLOGGED for batch in batches)
    aapl_key = cassandra_store._statements.insert_trade.bind(
        ("AAPL", DAY, T0, "t", 1.0, 1.0, None, T0, 0, 0)
    ).routing_key  # fmt: skip
    assert all(batch.routing_key == aapl_key for batch in batches)
    assert _decoded(single)[:2] == ("MSFT", Date(DAY)) and single.routing_key != aapl_key
    assert len(cassandra_store.trades_for_day("AAPL", DAY)) == 5


def test_a_write_timeout_is_retried_and_then_succeeds(cassandra_store, executed):
    executed.failures = [_timeout()]
    assert cassandra_store.write_trades([trade(1)]) == 1
    assert cassandra_store.trades_for_day("AAPL", DAY) == [trade(1)]
    assert len(executed) == 3  # the failed write, its retry, the read


@pytest.mark.parametrize(
    "error",
    [
        Unavailable("not enough replicas", consistency=ConsistencyLevel.LOCAL_QUORUM, required_replicas=2, alive_replicas=1),
        WriteTimeout("timed out", write_type=1),
    ],
)
def test_persistent_unavailability_fails_with_a_clear_error_after_the_retries(
    cassandra_node, cassandra_keyspace, monkeypatch, error
):
    sleeps = []
    with CassandraMarketStore(node_settings(cassandra_node, cassandra_keyspace, attempts=3), sleep=sleeps.append) as store:
        monkeypatch.setattr(store._session, "execute_async", lambda statement: _FailingFuture(error))
        with pytest.raises(StoreUnavailableError) as raised:
            store.write_trades([trade(1)])
    message = str(raised.value)
    what = f"write of 1 rows to {cassandra_keyspace}.trades failed for 1 of 1 statements"
    assert f"{what} after 3 attempts ({type(error).__name__}" in message
    assert "replicas in datacenter datacenter1 are up for consistency LOCAL_QUORUM" in message
    assert len(sleeps) == 2


@pytest.mark.parametrize(
    ("symbol_length", "rejected_by"),
    [(65_530, "InvalidRequest"), (70_000, "error")],  # the whole key, or the symbol alone, over 64 KiB
    ids=["by-the-node", "by-the-driver"],
)
def test_a_write_that_cannot_succeed_is_not_retried(cassandra_store, executed, symbol_length, rejected_by):
    with pytest.raises(StoreError, match=rf"Cassandra write of 1 rows to \w+\.trades failed \({rejected_by}.*65535"):
        cassandra_store.write_trades([trade(1, symbol="X" * symbol_length)])
    assert len(executed) == 1


def test_unreachable_cluster_fails_clearly_and_is_shut_down():
    clusters = []

    def factory(settings):
        clusters.append(build_cluster(settings))
        return clusters[-1]

    port = free_port()
    with pytest.raises(StoreError, match=f"cannot connect to Cassandra at 127.0.0.1:{port} .*check CASSANDRA_CONTACT_POINTS"):
        CassandraMarketStore(CassandraStoreSettings(port=port, connect_timeout_s=2), cluster_factory=factory)
    assert clusters[0].is_shutdown


def test_a_missing_schema_names_the_fix_and_shuts_the_cluster_down(cassandra_node):
    clusters = []

    def factory(settings):
        clusters.append(build_cluster(settings))
        return clusters[-1]

    with pytest.raises(StoreError, match="keyspace_missing.*apply cassandra/schema.cql to keyspace keyspace_missing"):
        CassandraMarketStore(node_settings(cassandra_node, "keyspace_missing"), cluster_factory=factory)
    assert clusters[0].is_shutdown


def test_rows_expire_with_their_tables_ttl_and_daily_bars_are_kept(cassandra_store, cassandra_admin, cassandra_keyspace):
    write_trade_batch(cassandra_store, [trade(1)])
    schema = SchemaSettings()
    expected = {("trades", "price"): schema.trades_ttl_seconds, ("minute_bars", "open"): schema.bars_ttl_seconds,
                ("daily_aggregates", "open"): None}  # fmt: skip
    for (table, column), ttl in expected.items():
        [(remaining,)] = cassandra_admin.execute(f"SELECT TTL({column}) FROM {cassandra_keyspace}.{table}")
        assert remaining is None if ttl is None else ttl - 60 < remaining <= ttl, table


def test_news_already_stored_within_the_window_is_skipped_even_if_republished(cassandra_store):
    cassandra_store.upsert_news([article(1, T0)])
    result = cassandra_store.upsert_news([article(1, T0 + 3_600_000), article(2, T0 + 3_600_000)])
    assert (result.new, result.duplicates) == (1, 1)
    assert cassandra_store.duplicate_news() == []


def test_minute_bars_are_read_with_one_range_query_per_partition(cassandra_store, executed):
    keys = [("AAPL", DAY, T0), ("AAPL", DAY, T0 + 120_000), ("MSFT", DAY, T0)]
    assert cassandra_store.minute_bars(keys) == {}
    assert sorted(_decoded(statement) for statement in executed) == [
        ("AAPL", Date(DAY), datetime(2025, 10, 9, 8, 53, 20), datetime(2025, 10, 9, 8, 55, 20)),
        ("MSFT", Date(DAY), datetime(2025, 10, 9, 8, 53, 20), datetime(2025, 10, 9, 8, 53, 20)),
    ]
