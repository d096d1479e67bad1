"""Data-quality rules of the stream's tables: aggregates agree with their trades, values are valid, and when
each symbol last had a trade or a bar update (the inputs of the market-hours freshness checks).

Plain Python over the `MarketStore` interface (no Dagster): `defs/processing/checks.py` turns what these
rules find into asset-check results.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime, timedelta, timezone

from stock_platform.models import TradeRow
from stock_platform.processing.aggregation import BarState, fold_trades
from stock_platform.processing.trading_day import TradingCalendar
from stock_platform.storage.base import MarketStore
from stock_platform.storage.batch import partly_expired, same_bar

_DAY_MS = 86_400_000
# A VWAP computed in floating point may land a rounding error outside [low, high].
_VWAP_SLACK = 1e-9


def _symbol(row: TradeRow) -> str:
    return row.symbol


# -- aggregates consistent with trades
def expired_symbols(store: MarketStore, day: date) -> list[str]:
    """Symbols whose trades of `day` expired (TTL) in whole or part; their aggregates are kept as they were."""
    with_trades = store.symbols_for_day(day)
    partly = [symbol for symbol in with_trades if partly_expired(store.minute_bars_for_day(symbol, day), store.trades_for_day(symbol, day))]
    return sorted((set(store.daily_aggregates_for_day(day)) - set(with_trades)) | set(partly))


def aggregate_mismatches(store: MarketStore, day: date) -> list[str]:
    """One line per symbol with all its trades whose stored daily bar differs from the bar of those trades.

    Symbols whose trades expired in whole or part are not compared: trades expire long before the
    aggregates (see `expired_symbols`).
    """
    stored = store.daily_aggregates_for_day(day)
    problems = []
    for symbol in store.symbols_for_day(day):
        rows = store.trades_for_day(symbol, day)
        if partly_expired(store.minute_bars_for_day(symbol, day), rows):
            continue
        expected = fold_trades(rows, _symbol).get(symbol)
        actual = stored.get(symbol)
        if expected is None:
            continue  # expired since the symbols were listed
        if actual is None:
            problems.append(f"{symbol}: {expected.trade_count} trades but no daily aggregate")
        elif not same_bar(expected, actual):
            problems.append(
                f"{symbol}: stored count/volume/close {actual.trade_count}/{actual.volume:g}/{actual.close:g}, "
                f"trades give {expected.trade_count}/{expected.volume:g}/{expected.close:g}"
            )
    return problems


# -- valid prices, volumes and bars
def trade_problem(row: TradeRow) -> str | None:
    """Why a stored trade is invalid (price not positive and finite, volume negative or not finite), or None."""
    if not (math.isfinite(row.price) and row.price > 0 and math.isfinite(row.volume) and row.volume >= 0):
        return f"{row.trade_id}: price {row.price!r} / volume {row.volume!r} invalid"
    return None


def bar_problem(symbol: str, bar: BarState) -> str | None:
    """Why a bar is impossible (no trades, negative volume, open/close/VWAP outside [low, high]), or None."""
    if bar.trade_count < 1 or bar.volume < 0:
        return f"{symbol}: trade count {bar.trade_count} / volume {bar.volume:g} impossible"
    if not bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high:
        return f"{symbol}: open {bar.open:g} / close {bar.close:g} outside [low {bar.low:g}, high {bar.high:g}]"
    vwap = bar.vwap
    if vwap is not None and not bar.low * (1 - _VWAP_SLACK) <= vwap <= bar.high * (1 + _VWAP_SLACK):
        return f"{symbol}: VWAP {vwap:g} outside [low {bar.low:g}, high {bar.high:g}]"
    return None


def invalid_values(store: MarketStore, day: date) -> tuple[list[str], int]:
    """Problems with trade prices/volumes and daily bars of `day`, and how many trades were looked at."""
    problems, trades = [], 0
    for symbol in store.symbols_for_day(day):
        for row in store.trades_for_day(symbol, day):
            trades += 1
            problem = trade_problem(row)
            if problem:
                problems.append(problem)
    for symbol, bar in store.daily_aggregates_for_day(day).items():
        problem = bar_problem(symbol, bar)
        if problem:
            problems.append(problem)
    return problems, trades


def latest_trading_days(latest_trade_ms: int) -> tuple[date, date]:
    """The trading days the newest trade's day can be, oldest first: the UTC date of the trade and the day before.

    New York trading days are at most one day behind the UTC date of a trade.
    """
    newest = date(1970, 1, 1) + timedelta(days=latest_trade_ms // _DAY_MS)
    return newest - timedelta(days=1), newest


# -- freshness inputs
def newest_trades_ms(store: MarketStore, symbols: Sequence[str], now: datetime) -> dict[str, int]:
    """Per symbol, the newest trade event time folded into its daily bars (written with the trades, per batch).

    Read from the bars because they hold it in one row per symbol and day; reading `trades` would scan
    whole partitions.
    """
    today = now.astimezone(timezone.utc).date()
    # Any trading-day zone's current date is within a day of the UTC date.
    keys = {(symbol, today + timedelta(days=shift)) for symbol in symbols for shift in (-1, 0, 1)}
    newest: dict[str, int] = {}
    for (symbol, _), bar in store.daily_aggregates(keys).items():
        newest[symbol] = max(newest.get(symbol, 0), bar.last_trade_time_ms)
    return newest


def aggregates_updated_ms(
    store: MarketStore, calendar: TradingCalendar, symbols: Sequence[str], now: datetime, fail_after: timedelta
) -> dict[str, int]:
    """Per symbol, when the bar of its current trading day was last written.

    In the first `fail_after` of a trading day the previous day's bar counts too: today's appears with
    the day's first trade.
    """
    now_ms = int(now.timestamp() * 1000)
    then_ms = now_ms - int(fail_after.total_seconds() * 1000)
    keys = {(symbol, calendar.trading_day(symbol, at)) for symbol in symbols for at in (then_ms, now_ms)}
    updated: dict[str, int] = {}
    for (symbol, _), bar in store.daily_aggregates(keys).items():
        updated[symbol] = max(updated.get(symbol, 0), bar.updated_at_ms or bar.last_trade_time_ms)
    return updated
