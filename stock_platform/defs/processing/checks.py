"""Data checks of the stream's tables: aggregates agree with trades, values are valid, data is fresh while markets are open.

The rules themselves are plain (`stock_platform.processing.data_quality`); this module wires them into asset
checks, their metadata, the `trades_checks` job and its schedule.
"""

import time
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any

import dagster as dg

from stock_platform.defs.finnhub.resources import FinnhubResource
from stock_platform.defs.processing.assets import DAILY_AGGREGATES_KEY, STREAM_JOB_NAME, TRADES_KEY, trading_days
from stock_platform.defs.processing.resources import StreamProcessorResource
from stock_platform.defs.storage.resources import MarketStoreResource
from stock_platform.processing.data_quality import (
    aggregate_mismatches,
    aggregates_updated_ms,
    expired_symbols,
    invalid_values,
    latest_trading_days,
    newest_trades_ms,
)
from stock_platform.processing.market_hours import FreshnessReport, age_cutoffs, assess_freshness, format_age

TRADES_CHECKS_JOB_NAME = "trades_checks"
# A liquid symbol trades every few seconds while its market is open: ten minutes without a new trade (one
# period of trades_checks_schedule) is worth a look, half an hour means the feed, ingest or stream is down.
FRESH_WARN_AFTER = timedelta(minutes=10)
FRESH_FAIL_AFTER = timedelta(minutes=30)
# The name from before market hours were known, kept: the UI's check history and alerts are keyed by it.
TRADES_FRESHNESS_CHECK = "fresh_while_streaming"
AGGREGATES_FRESHNESS_CHECK = "fresh_while_market_open"
_SHOWN = 20


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
        days = latest_trading_days(latest_ms)
        problems, trades = [], 0
        for day in days:
            day_problems, day_trades = invalid_values(store, day)
            problems += day_problems
            trades += day_trades
    return _result(problems, {"trades": trades, "trading_days": ", ".join(str(day) for day in days)})


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
