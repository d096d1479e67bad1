"""The market-hours freshness checks of `trades`, `daily_aggregates` and `news`, on a real embedded store and a fixed clock."""

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from stock_platform.defs.finnhub.resources import FinnhubResource
from stock_platform.defs.news.news import NEWS_KEY, build_news_freshness_check
from stock_platform.defs.processing.assets import DAILY_AGGREGATES_KEY, TRADES_KEY
from stock_platform.defs.processing.checks import build_freshness_checks
from stock_platform.defs.processing.resources import StreamProcessorResource
from stock_platform.defs.storage.resources import EmbeddedStoreResource
from stock_platform.models import NewsArticle
from stock_platform.processing.aggregation import BarState
from stock_platform.processing.trading_day import TradingCalendar

NY = ZoneInfo("America/New_York")
SYMBOLS = "AAPL,MSFT,BINANCE:BTCUSDT"
TUESDAY_11AM = datetime(2026, 12, 1, 11, 0, tzinfo=NY)
THANKSGIVING_NOON = datetime(2026, 11, 26, 12, 0, tzinfo=NY)
SUNDAY_3AM_UTC = datetime(2026, 12, 6, 3, 0, tzinfo=timezone.utc)


@pytest.fixture
def store(tmp_path):
    return EmbeddedStoreResource(data_dir=str(tmp_path), synchronous="OFF")


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _trade_at(store: EmbeddedStoreResource, symbol: str, at: datetime) -> None:
    """A daily bar whose newest trade is at `at`, written then (as the stream does)."""
    ms = _ms(at)
    bar = BarState(10.0, 10.0, 10.0, 10.0, 1.0, 10.0, 1, ms, ms, "t1", "t1", updated_at_ms=ms)
    with store.open_store() as opened:
        opened.upsert_daily_aggregates({(symbol, TradingCalendar().trading_day(symbol, ms)): bar})


def _evaluate(store, now: datetime, symbols: str = SYMBOLS) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    checks = [*build_freshness_checks(clock=now.timestamp), build_news_freshness_check(clock=now.timestamp)]
    defs = dg.Definitions(
        assets=[dg.AssetSpec(key) for key in (TRADES_KEY, DAILY_AGGREGATES_KEY, NEWS_KEY)],
        asset_checks=checks,
        jobs=[dg.define_asset_job("freshness", selection=dg.AssetSelection.checks(*checks))],
        resources={"market_store": store, "finnhub": FinnhubResource(symbols=symbols), "stream_processor": StreamProcessorResource()},
    )
    result = defs.resolve_job_def("freshness").execute_in_process()
    evaluations = [event.asset_check_evaluation_data for event in result.all_events if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION]
    return {(evaluation.asset_key.to_user_string(), evaluation.check_name): evaluation for evaluation in evaluations}


def test_open_market_with_stale_trades_fails_listing_the_stale_symbols_and_since_when(store):
    _trade_at(store, "AAPL", TUESDAY_11AM - timedelta(minutes=40))
    _trade_at(store, "MSFT", TUESDAY_11AM - timedelta(seconds=30))
    _trade_at(store, "BINANCE:BTCUSDT", TUESDAY_11AM - timedelta(seconds=5))
    evaluations = _evaluate(store, TUESDAY_11AM)

    trades = evaluations[("trades", "fresh_while_streaming")]
    assert not trades.passed
    assert trades.severity == dg.AssetCheckSeverity.ERROR
    assert trades.metadata["stale_symbols"].value == 1
    assert trades.metadata["stale"].value == "- AAPL (us_equities): newest trade Tue 2026-12-01 10:20 EST, 40m ago"
    assert trades.metadata["max_age_minutes"].value == 40.0
    assert trades.metadata["market_us_equities"].value.startswith("open since Tue 2026-12-01 09:30 EST")
    assert trades.metadata["stream_running"].value is False
    assert not evaluations[("daily_aggregates", "fresh_while_market_open")].passed


def test_data_a_few_minutes_old_only_warns(store):
    for symbol in SYMBOLS.split(","):
        _trade_at(store, symbol, TUESDAY_11AM - timedelta(minutes=12))
    trades = _evaluate(store, TUESDAY_11AM)[("trades", "fresh_while_streaming")]

    assert not trades.passed
    assert trades.severity == dg.AssetCheckSeverity.WARN
    assert trades.metadata["stale_symbols"].value == 3


def test_fresh_data_in_every_open_market_passes(store):
    for symbol in SYMBOLS.split(","):
        _trade_at(store, symbol, TUESDAY_11AM - timedelta(seconds=20))
    evaluations = _evaluate(store, TUESDAY_11AM)

    for key in [("trades", "fresh_while_streaming"), ("daily_aggregates", "fresh_while_market_open")]:
        assert evaluations[key].passed
        assert evaluations[key].metadata["symbols_expected_fresh"].value == 3


def test_closed_market_with_stale_data_passes_saying_since_when_and_next_open(store):
    _trade_at(store, "AAPL", datetime(2026, 11, 25, 15, 59, tzinfo=NY))
    _trade_at(store, "MSFT", datetime(2026, 11, 25, 15, 59, tzinfo=NY))
    _trade_at(store, "BINANCE:BTCUSDT", THANKSGIVING_NOON - timedelta(seconds=10))
    evaluations = _evaluate(store, THANKSGIVING_NOON)

    for key in [("trades", "fresh_while_streaming"), ("daily_aggregates", "fresh_while_market_open"), ("news", "fresh_while_market_open")]:
        assert evaluations[key].passed, key
        assert evaluations[key].metadata["market_us_equities"].value.startswith(
            "market closed since Wed 2026-11-25 16:00 EST, next open Fri 2026-11-27 09:30 EST"
        )
    assert evaluations[("trades", "fresh_while_streaming")].metadata["symbols_expected_fresh"].value == 1


def test_crypto_stale_on_sunday_fails_while_us_equities_rest(store):
    _trade_at(store, "AAPL", datetime(2026, 12, 4, 15, 59, tzinfo=NY))
    _trade_at(store, "BINANCE:BTCUSDT", SUNDAY_3AM_UTC - timedelta(hours=2))
    evaluations = _evaluate(store, SUNDAY_3AM_UTC, symbols="AAPL,BINANCE:BTCUSDT")

    trades = evaluations[("trades", "fresh_while_streaming")]
    assert not trades.passed
    assert trades.metadata["stale"].value == "- BINANCE:BTCUSDT (crypto): newest trade Sun 2026-12-06 01:00 UTC, 2h 00m ago"
    assert trades.metadata["market_crypto"].value == "open 24/7 (1 symbols)"
    assert evaluations[("news", "fresh_while_market_open")].passed  # NYSE closed; crypto has no company news


def test_the_first_minutes_of_a_session_expect_no_data_yet(store):
    _trade_at(store, "AAPL", datetime(2026, 11, 30, 16, 0, tzinfo=NY))
    trades = _evaluate(store, datetime(2026, 12, 1, 9, 38, tzinfo=NY), symbols="AAPL")[("trades", "fresh_while_streaming")]

    assert trades.passed
    assert trades.metadata["market_us_equities"].value.endswith("(1 symbols); no trade expected yet")


def test_yesterdays_bar_counts_only_in_the_first_minutes_of_a_new_trading_day(store):
    _trade_at(store, "BINANCE:BTCUSDT", datetime(2026, 12, 1, 23, 59, 50, tzinfo=timezone.utc))
    just_after = _evaluate(store, datetime(2026, 12, 2, 0, 2, tzinfo=timezone.utc), symbols="BINANCE:BTCUSDT")
    later = _evaluate(store, datetime(2026, 12, 2, 0, 45, tzinfo=timezone.utc), symbols="BINANCE:BTCUSDT")

    assert just_after[("daily_aggregates", "fresh_while_market_open")].passed
    assert not later[("daily_aggregates", "fresh_while_market_open")].passed


def _article(symbol: str, at: datetime, article_id: int) -> NewsArticle:
    return NewsArticle(symbol, article_id, _ms(at), "headline", "summary", "source", "https://example.com/news")


def test_news_warns_for_a_company_silent_since_the_previous_session(store):
    with store.open_store() as opened:
        opened.upsert_news([
            _article("AAPL", datetime(2026, 11, 30, 18, 0, tzinfo=NY), 1),  # Monday evening: fresh enough on Tuesday
            _article("MSFT", datetime(2026, 11, 27, 8, 0, tzinfo=NY), 2),  # before Monday's session opened
        ])  # fmt: skip
    news = _evaluate(store, TUESDAY_11AM)[("news", "fresh_while_market_open")]

    assert not news.passed
    assert news.severity == dg.AssetCheckSeverity.WARN
    assert news.metadata["stale"].value == "- MSFT (us_equities): newest article Fri 2026-11-27 08:00 EST, 4d 3h ago"
    assert news.metadata["symbols_without_company_news"].value == "BINANCE:BTCUSDT"


def test_checks_are_on_the_right_assets():
    keys = {check.check_key for check in [*build_freshness_checks(), build_news_freshness_check()]}
    assert keys == {
        dg.AssetCheckKey(TRADES_KEY, "fresh_while_streaming"),
        dg.AssetCheckKey(DAILY_AGGREGATES_KEY, "fresh_while_market_open"),
        dg.AssetCheckKey(NEWS_KEY, "fresh_while_market_open"),
    }
