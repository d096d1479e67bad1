"""Stores for the storage tests: the SQLite store on a temp file and the Cassandra store on the session's real node
(a keyspace per module from cassandra/schema.cql, every table emptied before each test)."""

import uuid
from datetime import date

import pytest

from stock_platform.models import NewsArticle, TradeRow, make_trade_id
from stock_platform.storage.cassandra_store import CassandraMarketStore
from stock_platform.storage.settings import EmbeddedStoreSettings
from stock_platform.storage.sqlite_store import SqliteMarketStore
from stock_platform_tests.storage.cassandra_keyspaces import (
    admin_session,
    node_settings,
    schema_keyspace,
    truncate_tables,
)

DAY = date(2025, 10, 9)
T0 = 1_760_000_000_000  # 2025-10-09T08:53:20Z


def trade(offset, price=100.0, volume=1.0, event_time_ms=T0, symbol="AAPL", partition=0, position=0, day=DAY,
          conditions=None):  # fmt: skip
    return TradeRow(
        symbol=symbol, trading_day=day, event_time_ms=event_time_ms,
        trade_id=make_trade_id("market", partition, offset, position), price=price, volume=volume,
        conditions=conditions, received_at_ms=event_time_ms + 7, kafka_partition=partition, kafka_offset=offset,
    )  # fmt: skip


def article(article_id, published_at_ms, symbol="AAPL", headline="headline"):
    return NewsArticle(symbol, article_id, published_at_ms, headline, "summary", "source", "https://x/1",
                       related=("AAPL", "MSFT"))  # fmt: skip


@pytest.fixture
def sqlite_store(tmp_path):
    store = SqliteMarketStore(EmbeddedStoreSettings(str(tmp_path / "market.db"), synchronous="NORMAL"))
    yield store
    store.close()


@pytest.fixture(scope="session")
def cassandra_admin(cassandra_node):
    with admin_session(cassandra_node) as session:
        yield session


@pytest.fixture(scope="module")
def cassandra_keyspace(cassandra_admin):
    # One keyspace per module, emptied before each test: creating and dropping one per test costs seconds.
    with schema_keyspace(cassandra_admin, f"store_{uuid.uuid4().hex[:10]}") as keyspace:
        yield keyspace


@pytest.fixture(scope="module")
def cassandra_module_store(cassandra_node, cassandra_keyspace):
    # Small batches and few statements in flight, so a handful of rows already spans several of each.
    store = CassandraMarketStore(node_settings(cassandra_node, cassandra_keyspace, batch_max_rows=3, concurrency=4))
    yield store
    store.close()


@pytest.fixture
def cassandra_store(cassandra_admin, cassandra_keyspace, cassandra_module_store):
    truncate_tables(cassandra_admin, cassandra_keyspace)
    return cassandra_module_store


@pytest.fixture(params=["sqlite", "cassandra"])
def store(request):
    return request.getfixturevalue(f"{request.param}_store")
