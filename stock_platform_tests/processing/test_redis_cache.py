from datetime import date

import fakeredis
import pytest

from stock_platform.models import TradeRow, make_trade_id
from stock_platform.processing.aggregation import BarState
from stock_platform.processing.redis_cache import CachedDailyStore, RedisDailyAggregateCache, invalidate_day
from stock_platform.storage.batch import write_trade_batch
from stock_platform.storage.settings import EmbeddedStoreSettings
from stock_platform.storage.sqlite_store import SqliteMarketStore

DAY = date(2025, 10, 9)


def _rows(offsets):
    return [
        TradeRow("AAPL", DAY, 1_760_000_000_000 + offset * 1000, make_trade_id("market", 0, offset, 0), 100.0 + offset, 2.0, None, 0, 0, offset)
        for offset in offsets
    ]


@pytest.fixture()
def store(tmp_path):
    with SqliteMarketStore(EmbeddedStoreSettings(str(tmp_path / "store.sqlite"), synchronous="OFF")) as opened:
        yield opened


def test_cached_aggregates_equal_the_stored_ones_and_spare_the_store_reads(store, monkeypatch):
    cache = RedisDailyAggregateCache(fakeredis.FakeRedis(), namespace="run-1")
    cached = CachedDailyStore(store, cache)
    write_trade_batch(cached, _rows([0, 1, 2]))
    reads = []
    original = store.daily_aggregates
    monkeypatch.setattr(store, "daily_aggregates", lambda keys: reads.append(keys) or original(keys))
    write_trade_batch(cached, _rows([3, 4]))
    write_trade_batch(cached, _rows([3, 4]))  # a replay: counted once
    assert reads == []
    stored = store.daily_aggregates_for_day(DAY)["AAPL"]
    assert cache.get_many([("AAPL", DAY)])[("AAPL", DAY)] == stored
    assert (stored.trade_count, stored.open, stored.close) == (5, 100.0, 104.0)


def test_a_batch_that_fails_in_the_store_leaves_the_cache_behind_not_ahead(store, monkeypatch):
    cache = RedisDailyAggregateCache(fakeredis.FakeRedis(), namespace="run-1")
    cached = CachedDailyStore(store, cache)
    write_trade_batch(cached, _rows([0]))

    def broken(states):
        raise ConnectionError("disk full")

    monkeypatch.setattr(store, "upsert_minute_bars", broken)
    with pytest.raises(ConnectionError):
        write_trade_batch(cached, _rows([1, 2]))
    monkeypatch.undo()
    write_trade_batch(cached, _rows([1, 2]))
    assert store.daily_aggregates_for_day(DAY)["AAPL"].trade_count == 3
    assert cache.get_many([("AAPL", DAY)])[("AAPL", DAY)].trade_count == 3


def test_invalidating_a_day_drops_it_from_every_run_namespace():
    client = fakeredis.FakeRedis()
    first, second = RedisDailyAggregateCache(client, "run-1"), RedisDailyAggregateCache(client, "run-2")
    bar = BarState(1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1, 0, 0, "a", "a")
    other_day = date(2025, 10, 10)
    first.put_many({("AAPL", DAY): bar, ("AAPL", other_day): bar})
    second.put_many({("MSFT", DAY): bar})
    assert invalidate_day(client, DAY) == 2
    assert first.get_many([("AAPL", DAY), ("AAPL", other_day)]) == {("AAPL", other_day): bar}
