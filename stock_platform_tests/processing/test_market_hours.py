from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from stock_platform.processing.market_hours import (
    CRYPTO,
    FOREX,
    US_EQUITIES,
    age_cutoffs,
    assess_freshness,
    format_age,
    fresh_after,
    is_open,
    last_close,
    last_open,
    market_of,
    next_open,
    previous_session_open,
)

NY = ZoneInfo("America/New_York")


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("symbol", "market"),
    [("AAPL", US_EQUITIES), ("BRK.B", US_EQUITIES), ("BINANCE:BTCUSDT", CRYPTO), ("COINBASE:ETH-USD", CRYPTO),
     ("OANDA:EUR_USD", FOREX), ("fxcm:EUR/USD", FOREX)],
)  # fmt: skip
def test_market_of_a_symbol_follows_its_exchange_prefix(symbol, market):
    assert market_of(symbol) is market


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (ny(2026, 12, 1, 9, 29), False),  # Tuesday, before the bell
        (ny(2026, 12, 1, 9, 30), True),
        (ny(2026, 12, 1, 15, 59), True),
        (ny(2026, 12, 1, 16, 0), False),  # the close is exclusive
        (ny(2026, 12, 5, 12, 0), False),  # Saturday
        (ny(2026, 12, 6, 12, 0), False),  # Sunday
        (ny(2026, 11, 26, 12, 0), False),  # Thanksgiving
        (ny(2026, 12, 25, 12, 0), False),  # Christmas
        (ny(2026, 7, 3, 12, 0), False),  # Independence Day observed (July 4 is a Saturday)
        (ny(2026, 11, 27, 12, 59), True),  # early close at 13:00 the day after Thanksgiving
        (ny(2026, 11, 27, 13, 0), False),
        (ny(2026, 12, 24, 13, 30), False),  # Christmas Eve closes at 13:00 too
        (ny(2025, 1, 9, 12, 0), False),  # ad-hoc closure: national day of mourning
    ],
)
def test_nyse_is_open_in_regular_hours_of_trading_days_only(at, expected):
    assert is_open("AAPL", at) is expected


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        # The session stays 09:30-16:00 New York time while the UTC offset moves.
        (utc(2026, 3, 6, 14, 29), False),  # Friday before DST starts: EST, opens 14:30 UTC
        (utc(2026, 3, 6, 14, 30), True),
        (utc(2026, 3, 9, 13, 30), True),  # Monday after DST started (Sunday 2026-03-08): EDT, opens 13:30 UTC
        (utc(2026, 3, 9, 20, 0), False),  # 16:00 EDT
        (utc(2026, 10, 30, 19, 59), True),  # Friday before DST ends (Sunday 2026-11-01): closes 20:00 UTC
        (utc(2026, 11, 2, 20, 59), True),  # Monday after: EST, closes 21:00 UTC
        (utc(2026, 11, 2, 21, 0), False),
    ],
)
def test_nyse_hours_follow_new_york_time_across_dst_changes(at, expected):
    assert US_EQUITIES.is_open(at) is expected


@pytest.mark.parametrize(
    ("at", "closed_since", "opens"),
    [
        (ny(2026, 12, 5, 12, 0), ny(2026, 12, 4, 16, 0), ny(2026, 12, 7, 9, 30)),  # weekend
        (ny(2026, 11, 26, 12, 0), ny(2026, 11, 25, 16, 0), ny(2026, 11, 27, 9, 30)),  # Thanksgiving
        (ny(2026, 11, 27, 18, 0), ny(2026, 11, 27, 13, 0), ny(2026, 11, 30, 9, 30)),  # after the early close
        (ny(2026, 12, 25, 8, 0), ny(2026, 12, 24, 13, 0), ny(2026, 12, 28, 9, 30)),  # Christmas: Thursday early close
        (ny(2026, 3, 7, 12, 0), ny(2026, 3, 6, 16, 0), ny(2026, 3, 9, 9, 30)),  # across the DST start
        (ny(2026, 12, 31, 17, 0), ny(2026, 12, 31, 16, 0), ny(2027, 1, 4, 9, 30)),  # New Year's Day, then a weekend
    ],
)
def test_a_closed_nyse_knows_since_when_and_its_next_open(at, closed_since, opens):
    assert not is_open("MSFT", at)
    assert last_close("MSFT", at) == closed_since
    assert next_open("MSFT", at) == opens


def test_last_open_is_the_start_of_the_current_or_latest_session():
    assert last_open("AAPL", ny(2026, 12, 1, 11, 0)) == ny(2026, 12, 1, 9, 30)
    assert last_open("AAPL", ny(2026, 11, 28, 11, 0)) == ny(2026, 11, 27, 9, 30)


@pytest.mark.parametrize("at", [utc(2026, 12, 6, 3, 0), ny(2026, 12, 25, 12, 0), utc(2026, 3, 8, 7, 0)])
def test_crypto_is_open_around_the_clock(at):
    assert is_open("BINANCE:BTCUSDT", at)
    assert (last_close(CRYPTO, at), next_open(CRYPTO, at), last_open(CRYPTO, at)) == (None, None, None)
    assert CRYPTO.describe(at) == "open 24/7"


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (ny(2026, 12, 4, 16, 59), True),  # Friday before 17:00 New York
        (ny(2026, 12, 4, 17, 0), False),
        (ny(2026, 12, 6, 3, 0), False),  # Sunday night in Asia, still the weekend in New York
        (ny(2026, 12, 6, 17, 0), True),  # Sunday 17:00 New York opens the week
        (ny(2026, 12, 9, 3, 0), True),
    ],
)
def test_forex_trades_24_5(at, expected):
    assert is_open("OANDA:EUR_USD", at) is expected


def test_describe_says_since_when_closed_and_when_next_open():
    assert US_EQUITIES.describe(ny(2026, 11, 26, 12, 0)) == (
        "market closed since Wed 2026-11-25 16:00 EST, next open Fri 2026-11-27 09:30 EST"
    )
    assert US_EQUITIES.describe(ny(2026, 11, 27, 10, 0)) == "open since Fri 2026-11-27 09:30 EST, closes Fri 2026-11-27 13:00 EST"


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="no time zone"):
        is_open("AAPL", datetime(2026, 12, 1, 12, 0))


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (ny(2026, 12, 1, 9, 33), None),  # the first minutes of a session expect nothing yet
        (ny(2026, 12, 1, 9, 40), ny(2026, 12, 1, 9, 35)),
        (ny(2026, 12, 1, 16, 30), None),  # closed
    ],
)
def test_fresh_after_leaves_a_grace_period_after_the_open(at, expected):
    assert fresh_after(US_EQUITIES, at, timedelta(minutes=5)) == expected


def test_crypto_expects_data_even_at_sunday_3am():
    at = utc(2026, 12, 6, 3, 0)
    assert fresh_after(CRYPTO, at, timedelta(minutes=5)) == at - timedelta(minutes=5)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (ny(2026, 11, 30, 10, 0), ny(2026, 11, 27, 9, 30)),  # Monday: since Friday's (early-close) session
        (ny(2026, 12, 1, 10, 0), ny(2026, 11, 30, 9, 30)),
        (ny(2026, 12, 5, 10, 0), None),  # Saturday: no news expected
    ],
)
def test_previous_session_open_is_the_news_horizon(at, expected):
    assert previous_session_open(US_EQUITIES, at) == expected


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def test_assessment_flags_stale_symbols_of_open_markets_only():
    at = utc(2026, 12, 5, 15, 0)  # Saturday: NYSE closed, crypto open
    newest = {"AAPL": _ms(at - timedelta(days=1)), "BINANCE:BTCUSDT": _ms(at - timedelta(minutes=20))}
    report = assess_freshness(["AAPL", "BINANCE:BTCUSDT", "BINANCE:ETHUSDT"], newest, at, age_cutoffs(timedelta(minutes=5), timedelta(minutes=15)), "trade")

    assert report.markets["us_equities"].startswith("market closed since Fri 2026-12-04 16:00 EST, next open Mon 2026-12-07 09:30 EST")
    assert report.expected == 2
    assert report.stale == ["BINANCE:BTCUSDT (crypto): newest trade Sat 2026-12-05 14:40 UTC, 20m ago", "BINANCE:ETHUSDT (crypto): no trade stored"]
    assert report.failing
    assert report.max_age == timedelta(minutes=20)


@pytest.mark.parametrize(("age_minutes", "stale", "failing"), [(4, False, False), (6, True, False), (16, True, True)])
def test_assessment_warns_then_fails_as_data_ages(age_minutes, stale, failing):
    at = ny(2026, 12, 1, 11, 0)
    newest = {"AAPL": _ms(at - timedelta(minutes=age_minutes))}
    report = assess_freshness(["AAPL"], newest, at, age_cutoffs(timedelta(minutes=5), timedelta(minutes=15)), "trade")
    assert (bool(report.stale), report.failing) == (stale, failing)


@pytest.mark.parametrize(("age", "text"), [(timedelta(minutes=7), "7m"), (timedelta(minutes=65), "1h 05m"), (timedelta(hours=51), "2d 3h")])
def test_ages_read_easily(age, text):
    assert format_age(age) == text
