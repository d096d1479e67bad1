"""The data-quality rules behind the asset checks of `trades` and `daily_aggregates`, on a real embedded store."""

import math
import subprocess
import sys
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest

from stock_platform.models import TradeRow, make_trade_id
from stock_platform.processing.aggregation import BarState, daily_key, fold_trades, minute_key
from stock_platform.processing.data_quality import (
    aggregate_mismatches,
    aggregates_updated_ms,
    bar_problem,
    expired_symbols,
    invalid_values,
    latest_trading_days,
    newest_trades_ms,
    trade_problem,
)
from stock_platform.processing.trading_day import TradingCalendar
from stock_platform.storage.settings import EmbeddedStoreSettings
from stock_platform.storage.sqlite_store import SqliteMarketStore

DAY = date(2025, 10, 9)
T0 = 1_760_000_000_000  # 2025-10-09 08:53:20 UTC
BAR = BarState(10.0, 14.0, 9.0, 12.0, 4.0, 44.0, 4, T0, T0 + 3_000, "t1", "t4")  # VWAP 11


@pytest.fixture
def store(tmp_path):
    with SqliteMarketStore(EmbeddedStoreSettings(str(tmp_path / "market.db"), synchronous="OFF")) as opened:
        yield opened


def _trades(symbol: str, prices: list[float], day: date = DAY, first_offset: int = 0, volume: float = 1.0) -> list[TradeRow]:
    return [
        TradeRow(symbol, day, T0 + offset * 60_000, make_trade_id("market", 0, offset, 0), price, volume, None, 0, 0, offset)
        for offset, price in enumerate(prices, start=first_offset)
    ]


def _stream(store: SqliteMarketStore, rows: list[TradeRow]) -> None:
    """What the stream writes: the trades, their daily and their minute bars."""
    store.write_trades(rows)
    store.upsert_daily_aggregates(fold_trades(rows, daily_key))
    store.upsert_minute_bars(fold_trades(rows, minute_key))


# -- aggregates consistent with trades
def test_aggregates_equal_to_their_trades_have_no_mismatch(store):
    _stream(store, _trades("AAPL", [10.0, 11.0, 12.0]) + _trades("MSFT", [20.0], first_offset=3))
    assert aggregate_mismatches(store, DAY) == []
    assert expired_symbols(store, DAY) == []


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        (lambda bar: replace(bar, trade_count=99, volume=99.0), "AAPL: stored count/volume/close 99/99/12, trades give 3/3/12"),
        (lambda bar: replace(bar, close=13.5), "AAPL: stored count/volume/close 3/3/13.5, trades give 3/3/12"),
        (None, "AAPL: 3 trades but no daily aggregate"),
    ],
    ids=["double-count", "wrong-close", "missing"],
)
def test_an_aggregate_that_differs_from_its_trades_is_one_line(store, stored, expected):
    rows = _trades("AAPL", [10.0, 11.0, 12.0])
    store.write_trades(rows)
    store.upsert_minute_bars(fold_trades(rows, minute_key))
    if stored is not None:
        store.upsert_daily_aggregates({("AAPL", DAY): stored(fold_trades(rows, daily_key)[("AAPL", DAY)])})
    assert aggregate_mismatches(store, DAY) == [expected]


def test_symbols_whose_trades_expired_in_whole_or_part_are_listed_not_compared(store):
    streamed = _trades("GONE", [10.0]) + _trades("PART", [10.0, 11.0], first_offset=1) + _trades("AAPL", [12.0], first_offset=3)
    store.upsert_daily_aggregates(fold_trades(streamed, daily_key))
    store.upsert_minute_bars(fold_trades(streamed, minute_key))
    store.write_trades(streamed[2:])  # the TTL took the earliest trades: all of GONE's, PART's first
    assert expired_symbols(store, DAY) == ["GONE", "PART"]
    assert aggregate_mismatches(store, DAY) == []


# -- valid prices, volumes and bars
@pytest.mark.parametrize(
    ("price", "volume", "valid"),
    [
        (10.0, 1.0, True),
        (10.0, 0.0, True),  # Finnhub sends zero-volume trades
        (0.0, 1.0, False),
        (-1.0, 1.0, False),
        (math.nan, 1.0, False),
        (math.inf, 1.0, False),
        (10.0, -1.0, False),
        (10.0, math.nan, False),
        (10.0, math.inf, False),
    ],
)
def test_trade_problem(price, volume, valid):
    [row] = _trades("AAPL", [price], volume=volume)
    problem = trade_problem(row)
    if valid:
        assert problem is None
    else:
        assert problem == f"{row.trade_id}: price {price!r} / volume {volume!r} invalid"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, None),
        ({"volume": 0.0, "notional": 0.0}, None),  # only zero-volume trades: no VWAP to check
        ({"notional": 4.0 * 14.0 * (1 + 1e-12)}, None),  # VWAP at high, off by a rounding error
        ({"trade_count": 0}, "AAPL: trade count 0 / volume 4 impossible"),
        ({"volume": -1.0}, "AAPL: trade count 4 / volume -1 impossible"),
        ({"open": 15.0}, "AAPL: open 15 / close 12 outside [low 9, high 14]"),
        ({"close": 8.5}, "AAPL: open 10 / close 8.5 outside [low 9, high 14]"),
        ({"low": 11.0}, "AAPL: open 10 / close 12 outside [low 11, high 14]"),
        ({"notional": 4.0 * 15.0}, "AAPL: VWAP 15 outside [low 9, high 14]"),
        ({"notional": 4.0 * 8.0}, "AAPL: VWAP 8 outside [low 9, high 14]"),
    ],
)
def test_bar_problem(changes, expected):
    assert bar_problem("AAPL", replace(BAR, **changes)) == expected


def test_invalid_values_lists_bad_trades_and_impossible_bars_of_the_day_and_counts_its_trades(store):
    rows = _trades("AAPL", [10.0, -1.0, 12.0]) + _trades("MSFT", [20.0], first_offset=3)
    store.write_trades(rows + _trades("AAPL", [-5.0], day=DAY + timedelta(days=1), first_offset=4))
    store.upsert_daily_aggregates({("AAPL", DAY): replace(BAR, notional=4.0 * 20.0), ("MSFT", DAY): replace(BAR, trade_count=1)})
    problems, trades = invalid_values(store, DAY)
    assert problems == [f"{rows[1].trade_id}: price -1.0 / volume 1.0 invalid", "AAPL: VWAP 20 outside [low 9, high 14]"]
    assert trades == 4
    assert invalid_values(store, DAY - timedelta(days=1)) == ([], 0)


@pytest.mark.parametrize(
    ("latest", "expected"),
    [
        (datetime(2025, 10, 9, 13, 30, tzinfo=timezone.utc), (date(2025, 10, 8), date(2025, 10, 9))),
        (datetime(2025, 10, 10, 0, 0, tzinfo=timezone.utc), (date(2025, 10, 9), date(2025, 10, 10))),
        (datetime(2025, 10, 9, 23, 59, 59, 999_000, tzinfo=timezone.utc), (date(2025, 10, 8), date(2025, 10, 9))),
        (datetime(1970, 1, 1, tzinfo=timezone.utc), (date(1969, 12, 31), date(1970, 1, 1))),
    ],
)
def test_latest_trading_days_are_the_utc_date_of_the_newest_trade_and_the_day_before(latest, expected):
    assert latest_trading_days(int(latest.timestamp() * 1000)) == expected


# -- freshness inputs
def _bar(last_trade_ms: int, updated_at_ms: int = 0) -> BarState:
    return replace(BAR, last_trade_time_ms=last_trade_ms, updated_at_ms=updated_at_ms)


def test_newest_trades_come_from_the_bars_around_todays_utc_date(store):
    now = datetime(2025, 10, 9, 12, 0, tzinfo=timezone.utc)
    store.upsert_daily_aggregates({
        ("AAPL", date(2025, 10, 8)): _bar(1_000),
        ("AAPL", date(2025, 10, 9)): _bar(3_000),
        ("AAPL", date(2025, 10, 10)): _bar(2_000),
        ("MSFT", date(2025, 10, 8)): _bar(4_000),  # a trading day behind the UTC date (New York after 20:00)
        ("BINANCE:BTCUSDT", date(2025, 10, 10)): _bar(6_000),  # a trading day ahead of the UTC date
        ("NVDA", date(2025, 10, 7)): _bar(9_000),  # two days old: not looked at
        ("TSLA", date(2025, 10, 9)): _bar(5_000),  # not a configured symbol
    })  # fmt: skip
    newest = newest_trades_ms(store, ["AAPL", "MSFT", "BINANCE:BTCUSDT", "NVDA"], now)
    assert newest == {"AAPL": 3_000, "MSFT": 4_000, "BINANCE:BTCUSDT": 6_000}


@pytest.mark.parametrize(
    ("minutes_into_day", "expected"),
    [(2, {"BINANCE:BTCUSDT": 7_000}), (45, {})],
    ids=["yesterday-counts-early", "yesterday-ignored-later"],
)
def test_aggregates_updated_counts_yesterdays_bar_only_in_the_first_minutes_of_a_day(store, minutes_into_day, expected):
    store.upsert_daily_aggregates({("BINANCE:BTCUSDT", date(2025, 10, 8)): _bar(1_000, updated_at_ms=7_000)})
    now = datetime(2025, 10, 9, tzinfo=timezone.utc) + timedelta(minutes=minutes_into_day)
    updated = aggregates_updated_ms(store, TradingCalendar(), ["BINANCE:BTCUSDT"], now, timedelta(minutes=30))
    assert updated == expected


def test_aggregates_updated_falls_back_to_the_last_trade_time_of_bars_without_an_update_time(store):
    now = datetime(2025, 10, 9, 18, 0, tzinfo=timezone.utc)  # 14:00 in New York
    store.upsert_daily_aggregates({
        ("AAPL", date(2025, 10, 9)): _bar(4_000),
        ("MSFT", date(2025, 10, 9)): _bar(4_000, updated_at_ms=6_000),
    })  # fmt: skip
    updated = aggregates_updated_ms(store, TradingCalendar(), ["AAPL", "MSFT"], now, timedelta(minutes=30))
    assert updated == {"AAPL": 4_000, "MSFT": 6_000}


def test_aggregates_updated_takes_the_latest_update_of_both_days_early_in_a_day(store):
    store.upsert_daily_aggregates({
        ("BINANCE:BTCUSDT", date(2025, 10, 8)): _bar(1_000, updated_at_ms=9_000),  # e.g. rewritten by a reconciliation
        ("BINANCE:BTCUSDT", date(2025, 10, 9)): _bar(2_000, updated_at_ms=8_000),
    })  # fmt: skip
    now = datetime(2025, 10, 9, 0, 5, tzinfo=timezone.utc)
    updated = aggregates_updated_ms(store, TradingCalendar(), ["BINANCE:BTCUSDT"], now, timedelta(minutes=30))
    assert updated == {"BINANCE:BTCUSDT": 9_000}


def test_the_rules_are_plain_python():
    code = "import sys, stock_platform.processing.data_quality; sys.exit('dagster' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
