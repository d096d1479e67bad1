"""Trading days: New York dates for equities (across DST), UTC for exchange-prefixed symbols, overrides."""

import pickle
import random
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from stock_platform.processing.trading_day import TradingCalendar


def ms(text: str) -> int:
    """Epoch ms of an ISO UTC time."""
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp() * 1000)


@pytest.mark.parametrize(
    ("symbol", "utc_time", "expected"),
    [
        # Winter (EST, UTC-5): New York midnight is 05:00 UTC.
        ("AAPL", "2025-01-15T04:59:59.999", date(2025, 1, 14)),
        ("AAPL", "2025-01-15T05:00:00.000", date(2025, 1, 15)),
        # Summer (EDT, UTC-4): midnight is 04:00 UTC.
        ("AAPL", "2025-07-01T03:59:59.999", date(2025, 6, 30)),
        ("AAPL", "2025-07-01T04:00:00.000", date(2025, 7, 1)),
        # The night clocks spring forward (2025-03-09 02:00 EST -> 03:00 EDT) and the next midnight.
        ("AAPL", "2025-03-09T04:59:59.999", date(2025, 3, 8)),
        ("AAPL", "2025-03-09T05:00:00.000", date(2025, 3, 9)),
        ("AAPL", "2025-03-10T03:59:59.999", date(2025, 3, 9)),
        ("AAPL", "2025-03-10T04:00:00.000", date(2025, 3, 10)),
        # The night clocks fall back (2025-11-02 02:00 EDT -> 01:00 EST).
        ("AAPL", "2025-11-02T03:59:59.999", date(2025, 11, 1)),
        ("AAPL", "2025-11-02T04:00:00.000", date(2025, 11, 2)),
        ("AAPL", "2025-11-03T04:59:59.999", date(2025, 11, 2)),
        ("AAPL", "2025-11-03T05:00:00.000", date(2025, 11, 3)),
        # A US trading session's after-hours trade at 19:59 New York is 23:59 UTC in summer: same NY day.
        ("MSFT", "2025-07-01T23:59:00.000", date(2025, 7, 1)),
        # Exchange-prefixed symbols use the UTC date.
        ("BINANCE:BTCUSDT", "2025-01-15T00:00:00.000", date(2025, 1, 15)),
        ("BINANCE:BTCUSDT", "2025-01-14T23:59:59.999", date(2025, 1, 14)),
        ("OANDA:EUR_USD", "2025-07-01T03:00:00.000", date(2025, 7, 1)),
    ],
)
def test_trading_day_is_the_local_date_of_the_symbols_zone(symbol, utc_time, expected):
    assert TradingCalendar().trading_day(symbol, ms(utc_time)) == expected


def test_prefix_overrides_and_default_zone_are_configurable():
    calendar = TradingCalendar(default_zone="Europe/London", prefix_zones={"tse": "Asia/Tokyo"})
    assert calendar.trading_day("TSE:7203", ms("2025-01-15T15:00:00")) == date(2025, 1, 16)
    assert calendar.trading_day("BINANCE:BTCUSDT", ms("2025-01-15T23:30:00")) == date(2025, 1, 15)
    assert calendar.trading_day("VOD", ms("2025-07-01T23:30:00")) == date(2025, 7, 2)
    assert calendar.zone_name("TSE:7203") == "Asia/Tokyo"


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Asia/Kathmandu", "UTC"])
def test_cached_offsets_agree_with_zoneinfo_everywhere_including_odd_transitions(zone):
    calendar = TradingCalendar(default_zone=zone)
    rng = random.Random(zone)
    # Dense around 2024 (both DST transitions of every zone) plus half-hour steps across a whole year.
    start = ms("2024-01-01T00:00:00")
    samples = [start + rng.randrange(366 * 86_400_000) for _ in range(3000)]
    samples += [start + step * 1_800_000 - 1 for step in range(366 * 48)]
    for event_time_ms in samples:
        expected = datetime.fromtimestamp(event_time_ms / 1000, ZoneInfo(zone)).date()
        assert calendar.trading_day("SYM", event_time_ms) == expected, event_time_ms


def test_calendar_pickles_with_its_configuration_and_is_callable():
    calendar = TradingCalendar(prefix_zones={"TSE": "Asia/Tokyo"})
    calendar.trading_day("AAPL", 0)
    restored = pickle.loads(pickle.dumps(calendar))
    assert restored == calendar
    assert restored("TSE:7203", ms("2025-01-15T15:00:00")) == date(2025, 1, 16)
    assert pickle.loads(pickle.dumps(calendar.trading_day))("AAPL", ms("2025-01-15T04:00:00")) == date(2025, 1, 14)


def test_unknown_zone_fails_with_an_actionable_message():
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'.*IANA"):
        TradingCalendar(prefix_zones={"X": "Mars/Olympus"})
