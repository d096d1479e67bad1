"""Data checks of the stream's tables: aggregates agree with trades, values are valid, data is fresh while markets are open."""

import math
import time
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any

import dagster as dg

from stock_platform.processing.aggregation import BarState, fold_trades
from stock_platform.processing.market_hours import FreshnessReport, age_cutoffs, assess_freshness, format_age
from stock_platform.models import TradeRow
from stock_platform.processing.trading_day import TradingCalendar
from stock_platform.defs.processing.assets import DAILY_AGGREGATES_KEY, STREAM_JOB_NAME, TRADES_KEY, trading_days
from stock_platform.defs.finnhub.resources import FinnhubResource
from stock_platform.defs.processing.resources import StreamProcessorResource
from stock_platform.defs.storage.resources import MarketStoreResource
from stock_platform.storage.base import MarketStore
from stock_platform.storage.batch import partly_expired, same_bar

TRADES_CHECKS_JOB_NAME = "trades_checks"
# A liquid symbol trades every few seconds while its market is open: ten minutes without a new trade (one
# period of trades_checks_schedule) is worth a look, half an hour means the feed, ingest or stream is down.
FRESH_WARN_AFTER = timedelta(minutes=10)
FRESH_FAIL_AFTER = timedelta(minutes=30)
# The name from before market hours were known, kept: the UI's check history and alerts are keyed by it.
TRADES_FRESHNESS_CHECK = "fresh_while_streaming"
AGGREGATES_FRESHNESS_CHECK = "fresh_while_market_open"
_SHOWN = 20
_DAY_MS = 86_400_000
_VWAP_SLACK = 1e-9


def _symbol(row: TradeRow) -> str:
    return row.symbol


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


def _bar_problem(symbol: str, bar: BarState) -> str | None:
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
            if not (math.isfinite(row.price) and row.price > 0 and math.isfinite(row.volume) and row.volume >= 0):
                problems.append(f"{row.trade_id}: price {row.price!r} / volume {row.volume!r} invalid")
    for symbol, bar in store.daily_aggregates_for_day(day).items():
        problem = _bar_problem(symbol, bar)
        if problem:
            problems.append(problem)
    return problems, trades


def _result(problems: list[str], checked: dict[str, Any]) -> dg.AssetCheckResult:
    metadata = {name: dg.MetadataValue.int(value) if isinstance(value, int) else dg.MetadataValue.text(str(value)) for name, value in checked.items()}
    metadata["problems"] = dg.MetadataValue.int(len(problems))
    if problems:
        metadata["first_problems"] = dg.MetadataValue.md("\n".join(f"- {line}" for line in problems[:_SHOWN]))
    return dg.AssetCheckResult(passed=not problems, metadata=metadata)


@dg.asset_check(
    asset=DAILY_AGGREGATES_KEY,
    name="aggregates_match_trades",
    partitions_def=trading_days,
    description="Each symbol's daily aggregate of the trading day equals the aggregate of its stored trades "
    "(symbols whose trades expired keep their aggregates and are only counted).",
)
def aggregates_match_trades(context: dg.AssetCheckExecutionContext, market_store: MarketStoreResource) -> dg.AssetCheckResult:
    day = date.fromisoformat(context.partition_key)
    with market_store.open_store() as store:
        problems = aggregate_mismatches(store, day)
        expired = expired_symbols(store, day)
    return _result(problems, {"trading_day": day.isoformat(), "trades_expired_aggregates_kept": len(expired)})


@dg.asset_check(
    asset=TRADES_KEY,
    name="valid_prices_and_volumes",
    description="Trades of the latest trading days have positive finite prices and non-negative volumes; "
    "their daily bars have open/close/VWAP within [low, high].",
)
def valid_prices_and_volumes(market_store: MarketStoreResource) -> dg.AssetCheckResult:
    with market_store.open_store() as store:
        latest_ms = store.latest_trade_time_ms()
        if latest_ms is None:
            return dg.AssetCheckResult(passed=True, metadata={"trades": dg.MetadataValue.int(0)})
        # New York trading days are at most one day behind the UTC date of the newest trade.
        newest = date(1970, 1, 1) + timedelta(days=latest_ms // _DAY_MS)
        problems, trades = [], 0
        for day in (newest - timedelta(days=1), newest):
            day_problems, day_trades = invalid_values(store, day)
            problems += day_problems
            trades += day_trades
    return _result(problems, {"trades": trades, "trading_days": f"{newest - timedelta(days=1)}, {newest}"})


# -- freshness that knows market hours
def freshness_result(report: FreshnessReport, now: datetime, **extra: dg.MetadataValue) -> dg.AssetCheckResult:
    """A market-hours freshness check's result: per-market status lines, the stale symbols and since when."""
    metadata: dict[str, Any] = {f"market_{name}": dg.MetadataValue.text(line) for name, line in report.markets.items()}
    metadata["symbols_expected_fresh"] = dg.MetadataValue.int(report.expected)
    metadata["stale_symbols"] = dg.MetadataValue.int(len(report.stale))
    if report.max_age is not None:
        # The worst symbol's staleness as a number: the UI plots it across evaluations.
        metadata["max_age_minutes"] = dg.MetadataValue.float(round(report.max_age.total_seconds() / 60, 1))
    if report.stale:
        metadata["stale"] = dg.MetadataValue.md("\n".join(f"- {line}" for line in report.stale[:_SHOWN]))
    elif not report.expected:
        metadata["status"] = dg.MetadataValue.text("no market of the configured symbols expects new data now")
    metadata["evaluated_at"] = dg.MetadataValue.timestamp(now.timestamp())
    severity = dg.AssetCheckSeverity.ERROR if report.failing else dg.AssetCheckSeverity.WARN
    return dg.AssetCheckResult(passed=not report.stale, severity=severity, metadata={**metadata, **extra})


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


_HOURS = (
    "US equities (plain symbols) on NYSE regular hours, 09:30-16:00 New York on NYSE trading days "
    "(13:00 on early closes); forex providers' symbols 24/5; other exchange-prefixed (crypto) symbols 24/7"
)


def build_freshness_checks(
    clock: Callable[[], float] = time.time,
    warn_after: timedelta = FRESH_WARN_AFTER,
    fail_after: timedelta = FRESH_FAIL_AFTER,
) -> list[dg.AssetChecksDefinition]:
    """The market-hours freshness checks of `trades` and `daily_aggregates`, reading the time from `clock`."""
    cutoffs = age_cutoffs(warn_after, fail_after)
    limits = f"warns after {format_age(warn_after)}, fails after {format_age(fail_after)}"

    @dg.asset_check(
        asset=TRADES_KEY,
        name=TRADES_FRESHNESS_CHECK,
        description=f"While its market is open, each configured symbol (FINNHUB_SYMBOLS) has a new trade: {limits} "
        f"without one. Markets: {_HOURS}. Passes, saying when they close and open, while markets are closed.",
    )
    def trades_fresh(
        context: dg.AssetCheckExecutionContext, market_store: MarketStoreResource, finnhub: FinnhubResource
    ) -> dg.AssetCheckResult:
        now = datetime.fromtimestamp(clock(), timezone.utc)
        symbols = finnhub.symbol_list()
        with market_store.open_store() as store:
            newest = newest_trades_ms(store, symbols, now)
        streaming = context.instance.get_run_records(
            dg.RunsFilter(job_name=STREAM_JOB_NAME, statuses=[dg.DagsterRunStatus.STARTED]), limit=1
        )
        report = assess_freshness(symbols, newest, now, cutoffs, "trade")
        # Says at a glance whether stale trades mean a stopped stream or a silent feed.
        return freshness_result(report, now, stream_running=dg.MetadataValue.bool(bool(streaming)))

    @dg.asset_check(
        asset=DAILY_AGGREGATES_KEY,
        name=AGGREGATES_FRESHNESS_CHECK,
        description=f"While its market is open, each configured symbol's bar of the current trading day is being "
        f"updated: {limits} without an update. Markets: {_HOURS}. Passes, saying when they close and open, "
        "while markets are closed.",
    )
    def aggregates_fresh(
        market_store: MarketStoreResource, finnhub: FinnhubResource, stream_processor: StreamProcessorResource
    ) -> dg.AssetCheckResult:
        now = datetime.fromtimestamp(clock(), timezone.utc)
        symbols = finnhub.symbol_list()
        with market_store.open_store() as store:
            updated = aggregates_updated_ms(store, stream_processor.calendar(), symbols, now, fail_after)
        return freshness_result(assess_freshness(symbols, updated, now, cutoffs, "bar update"), now)

    return [trades_fresh, aggregates_fresh]


fresh_while_streaming, aggregates_fresh_while_market_open = build_freshness_checks()


processing_checks = [
    aggregates_match_trades, valid_prices_and_volumes, fresh_while_streaming, aggregates_fresh_while_market_open,
]  # fmt: skip

# The unpartitioned checks, evaluated on a schedule so freshness is watched whether or not the stream runs.
trades_checks_job = dg.define_asset_job(
    TRADES_CHECKS_JOB_NAME,
    selection=dg.AssetSelection.checks(valid_prices_and_volumes, fresh_while_streaming, aggregates_fresh_while_market_open),
    description="Checks of `trades` and `daily_aggregates`: valid prices and volumes, freshness while markets are open.",
)
trades_checks_schedule = dg.ScheduleDefinition(
    name="trades_checks_schedule",
    job=trades_checks_job,
    cron_schedule="*/10 * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
