"""Stores for the storage tests: the SQLite store on a temp file and the Cassandra store on a fake session."""

from datetime import date

import pytest

from stock_platform.core.models import NewsArticle, TradeRow, make_trade_id
from stock_platform.storage.cassandra_store import CassandraMarketStore
from stock_platform.storage.settings import CassandraStoreSettings, EmbeddedStoreSettings
from stock_platform.storage.sqlite_store import SqliteMarketStore
from stock_platform_tests.storage.fake_cassandra import FakeCluster

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


@pytest.fixture
def fake_cluster():
    return FakeCluster()


@pytest.fixture
def cassandra_store(fake_cluster):
    store = CassandraMarketStore(
        CassandraStoreSettings(batch_max_rows=3, concurrency=4), cluster_factory=lambda settings: fake_cluster,
        sleep=lambda seconds: None,
    )  # fmt: skip
    yield store
    store.close()


@pytest.fixture(params=["sqlite", "cassandra"])
def store(request):
    return request.getfixturevalue(f"{request.param}_store")
