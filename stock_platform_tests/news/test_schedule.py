from datetime import date, datetime, timezone

import pytest

from stock_platform.news.schedule import (
    NewsCursor,
    NewsPollSettings,
    SymbolCursor,
    SymbolWindow,
    due_symbols,
    news_window,
    plan_poll,
)

SETTINGS = NewsPollSettings(symbol_interval_s=600, max_symbols_per_run=2, initial_lookback_days=7, max_lookback_days=30)
TODAY = date(2024, 5, 10)


def _ms(*args):
    return int(datetime(*args, tzinfo=timezone.utc).timestamp() * 1000)


def _now_s(*args):
    return datetime(*args, tzinfo=timezone.utc).timestamp()


@pytest.mark.parametrize(
    ("newest_ms", "start"),
    [
        (None, date(2024, 5, 3)),  # never seen: initial lookback
        (_ms(2024, 5, 9, 23, 59), date(2024, 5, 8)),  # one day before the newest article's UTC date
        (_ms(2024, 5, 10, 0, 1), date(2024, 5, 9)),  # just after midnight UTC still reaches back a day
        (_ms(2024, 1, 1), date(2024, 4, 10)),  # capped at max_lookback_days
        (_ms(2024, 5, 12), TODAY),  # clock skew: never starts after today
    ],
)
def test_window_starts_a_day_before_the_newest_article(newest_ms, start):
    assert news_window("AAPL", newest_ms, TODAY, SETTINGS) == SymbolWindow("AAPL", start, TODAY)


def test_never_polled_symbols_are_due_first_then_the_least_recently_polled():
    cursor = NewsCursor({"A": SymbolCursor(polled_at_s=100.0), "B": SymbolCursor(polled_at_s=50.0)})
    assert due_symbols(["A", "B", "C"], cursor, now_s=10_000, settings=SETTINGS) == ["C", "B"]


def test_symbols_polled_within_the_interval_are_not_due():
    cursor = NewsCursor({"A": SymbolCursor(polled_at_s=9_500.0), "B": SymbolCursor(polled_at_s=9_400.0)})
    assert due_symbols(["A", "B"], cursor, now_s=10_000, settings=SETTINGS) == ["B"]


def test_round_robin_reaches_every_symbol():
    cursor = NewsCursor()
    symbols = ["A", "B", "C", "D", "E"]
    seen = []
    for tick in range(3):
        now = 1_000.0 + tick
        batch = due_symbols(symbols, cursor, now, SETTINGS)
        cursor.mark_polled(batch, now)
        seen.extend(batch)
    assert seen == symbols


def test_plan_uses_each_symbols_newest_article_and_todays_utc_date():
    cursor = NewsCursor({"AAPL": SymbolCursor(newest_article_ms=_ms(2024, 5, 9, 15))})
    windows = plan_poll(["AAPL", "MSFT"], cursor, _now_s(2024, 5, 10, 23, 30), SETTINGS)
    assert windows == [SymbolWindow("AAPL", date(2024, 5, 8), TODAY), SymbolWindow("MSFT", date(2024, 5, 3), TODAY)]


def test_newest_article_time_never_moves_back():
    cursor = NewsCursor()
    cursor.record_newest("AAPL", 2_000)
    cursor.record_newest("AAPL", 1_000)
    assert cursor.get("AAPL").newest_article_ms == 2_000


def test_mark_polled_keeps_the_newest_article_time():
    cursor = NewsCursor({"AAPL": SymbolCursor(newest_article_ms=5)})
    cursor.mark_polled(["AAPL"], 99.0)
    assert cursor.get("AAPL") == SymbolCursor(polled_at_s=99.0, newest_article_ms=5)


def test_symbols_no_longer_configured_are_forgotten():
    cursor = NewsCursor({"OLD": SymbolCursor(polled_at_s=1.0), "AAPL": SymbolCursor(polled_at_s=2.0)})
    cursor.keep_only(["AAPL"])
    assert list(cursor.symbols) == ["AAPL"]


def test_cursor_round_trips_through_json():
    cursor = NewsCursor({"AAPL": SymbolCursor(1.5, 2), "MSFT": SymbolCursor(None, None)}, last_event_id=17)
    assert NewsCursor.from_json(cursor.to_json()) == cursor


@pytest.mark.parametrize("text", [None, ""])
def test_empty_cursor_starts_fresh(text):
    assert NewsCursor.from_json(text) == NewsCursor()


@pytest.mark.parametrize("text", ["not json", "[]", '{"version": 99}', '{"version": 1, "symbols": {"A": {}}}'])
def test_unreadable_cursor_is_a_clear_error(text):
    with pytest.raises(ValueError, match="unreadable news cursor"):
        NewsCursor.from_json(text)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [({"max_symbols_per_run": 0}, "max_symbols_per_run"), ({"initial_lookback_days": 40}, "initial_lookback_days")],
)
def test_bad_settings_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        NewsPollSettings(**overrides)
