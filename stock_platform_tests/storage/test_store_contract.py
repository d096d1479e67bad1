"""The MarketStore contract, run against both backends (SQLite file, Cassandra store on the real node)."""

from dataclasses import replace
from datetime import date

from stock_platform.processing.aggregation import BarState, fold_trades, minute_key
from stock_platform.storage.base import HealthSample
from stock_platform_tests.storage.conftest import DAY, T0, article, trade


def bar(price, volume=1.0, event_time_ms=T0, offset=1):
    return BarState.from_trade(trade(offset, price, volume, event_time_ms), updated_at_ms=T0 + 99)


def test_trades_round_trip_in_event_time_then_trade_id_order(store):
    rows = [
        trade(2, 101.5, 3.0, T0 + 10, conditions=("1", "12")),
        trade(1, 100.0, 0.5, T0 + 10, position=1),
        trade(1, 99.0, 2.0, T0, position=0),
        trade(3, 7.0, 1.0, T0, symbol="MSFT"),
    ]
    assert store.write_trades(rows) == 4
    assert store.trades_for_day("AAPL", DAY) == [rows[2], rows[1], rows[0]]
    assert store.trades_for_day("AAPL", date(2025, 10, 10)) == []


def test_a_trade_without_conditions_reads_back_as_none_whether_they_were_absent_or_empty(store):
    # Cassandra stores an empty collection as NULL, so no backend can tell the two apart.
    store.write_trades([trade(1, conditions=()), trade(2, conditions=None, event_time_ms=T0 + 1)])
    assert [row.conditions for row in store.trades_for_day("AAPL", DAY)] == [None, None]


def test_rewriting_a_trade_key_overwrites_instead_of_adding(store):
    first = trade(1, 100.0)
    store.write_trades([first])
    store.write_trades([first, first])
    store.write_trades([first._replace(price=100.5)])
    assert store.trades_for_day("AAPL", DAY) == [first._replace(price=100.5)]


def test_symbols_for_day_lists_only_symbols_with_trades_that_day(store):
    store.write_trades([trade(1), trade(2, symbol="MSFT"), trade(3, symbol="NVDA", day=date(2025, 10, 10))])
    assert store.symbols_for_day(DAY) == ["AAPL", "MSFT"]
    assert store.symbols_for_day(date(2025, 10, 10)) == ["NVDA"]
    assert store.symbols_for_day(date(2025, 1, 1)) == []


def test_daily_bars_upsert_and_read_back_by_key_and_by_day(store):
    aapl, msft = bar(10.0), bar(20.0, volume=0.0)
    other_day = date(2025, 10, 8)
    assert store.upsert_daily_aggregates({("AAPL", DAY): aapl, ("MSFT", DAY): msft, ("AAPL", other_day): aapl}) == 3
    assert store.daily_aggregates([("AAPL", DAY), ("MSFT", DAY), ("NVDA", DAY)]) == {("AAPL", DAY): aapl, ("MSFT", DAY): msft}
    assert store.daily_aggregates_for_day(DAY) == {"AAPL": aapl, "MSFT": msft}
    changed = replace(aapl, close=11.0, trade_count=2)
    store.upsert_daily_aggregates({("AAPL", DAY): changed})
    assert store.daily_aggregates([("AAPL", DAY)]) == {("AAPL", DAY): changed}


def test_minute_bars_upsert_and_read(store):
    rows = [trade(1, 10.0, 1.0, T0), trade(2, 11.0, 1.0, T0 + 60_000), trade(3, 12.0, 1.0, T0 + 120_000)]
    bars = fold_trades(rows, minute_key, now_ms=T0)
    assert store.upsert_minute_bars(bars) == 3
    wanted = [*bars, ("AAPL", DAY, 0)]
    assert store.minute_bars(wanted) == bars
    by_bucket = store.minute_bars_for_day("AAPL", DAY)
    assert list(by_bucket) == sorted(key[2] for key in bars)


def test_compare_and_set_writes_only_bars_still_as_read(store):
    read = bar(1.0)
    store.upsert_daily_aggregates({("AAPL", DAY): read, ("MSFT", DAY): read})
    store.upsert_minute_bars({("AAPL", DAY, T0): read})
    moved_on = replace(read, trade_count=2, volume=2.0)  # another writer folded a trade in meanwhile
    store.upsert_daily_aggregates({("MSFT", DAY): moved_on})
    conflicts = store.compare_and_set_bars(
        {("AAPL", DAY): (read, bar(5.0)), ("MSFT", DAY): (read, bar(6.0)), ("NVDA", DAY): (None, bar(7.0))},
        {("AAPL", DAY, T0): (read, bar(8.0)), ("AAPL", DAY, T0 + 60_000): (read, bar(9.0))},
    )
    assert sorted(conflicts) == [("AAPL", DAY, T0 + 60_000), ("MSFT", DAY)]
    assert store.daily_aggregates_for_day(DAY) == {"AAPL": bar(5.0), "MSFT": moved_on, "NVDA": bar(7.0)}
    assert store.minute_bars_for_day("AAPL", DAY) == {T0: bar(8.0)}
    assert store.compare_and_set_bars({("NVDA", DAY): (None, bar(1.0))}, {}) == [("NVDA", DAY)]
    assert store.compare_and_set_bars({}, {}) == []


def test_latest_trade_time_is_the_newest_folded_into_daily_bars(store):
    assert store.latest_trade_time_ms() is None
    store.upsert_daily_aggregates({("AAPL", DAY): bar(1.0, event_time_ms=T0 + 5), ("MSFT", DAY): bar(1.0, event_time_ms=T0 + 9)})
    assert store.latest_trade_time_ms() == T0 + 9


def test_news_is_stored_once_per_symbol_and_article_id(store):
    first = store.upsert_news([article(1, T0), article(2, T0 + 1000), article(1, T0), article(1, T0, symbol="MSFT")])
    assert (first.new, first.duplicates) == (3, 1)
    again = store.upsert_news([article(1, T0, headline="edited"), article(3, T0 + 500)])
    assert (again.new, again.duplicates) == (1, 1)
    assert [a.article_id for a in store.news_for_symbol("AAPL")] == [2, 3, 1]
    assert [a.article_id for a in store.news_for_symbol("AAPL", limit=1)] == [2]
    assert store.news_for_symbol("AAPL")[-1] == article(1, T0)
    assert store.latest_news_time_ms("AAPL") == T0 + 1000
    assert store.latest_news_time_ms("NVDA") is None
    assert store.duplicate_news() == []


def test_health_samples_upsert_by_component_day_and_time(store):
    sample = HealthSample("stream_processor", T0, "run-1", trades=10, messages=3, dead_letters=0, rate_per_s=2.5,
                          latency_p50_ms=12.0, latency_p99_ms=40.0)  # fmt: skip
    store.write_health(sample)
    store.write_health(replace(sample, trades=11))
    store.write_health(replace(sample, sampled_at_ms=T0 + 60_000, latency_p50_ms=None))
    samples = store.health_samples("stream_processor", DAY)
    assert [(s.sampled_at_ms, s.trades, s.latency_p50_ms) for s in samples] == [(T0 + 60_000, 10, None), (T0, 11, 12.0)]
    assert samples[1] == replace(sample, trades=11, day=DAY)
