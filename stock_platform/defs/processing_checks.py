"""Data checks of the stream's tables: aggregates agree with trades, values are valid, trades are fresh."""

import math
import time
from datetime import date, timedelta
from typing import Any

import dagster as dg

from stock_platform.core.aggregation import BarState, fold_trades
from stock_platform.core.models import TradeRow
from stock_platform.defs.processing_assets import DAILY_AGGREGATES_KEY, STREAM_JOB_NAME, TRADES_KEY, trading_days
from stock_platform.resources.storage import MarketStoreResource
from stock_platform.storage.base import MarketStore
from stock_platform.storage.batch import partly_expired, same_bar

TRADES_CHECKS_JOB_NAME = "trades_checks"
# The stream reports every 30 s while it writes; five minutes of silence means it is stuck or starved.
FRESHNESS_LIMIT_S = 300.0
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


@dg.asset_check(
    asset=TRADES_KEY,
    name="fresh_while_streaming",
    description="While a stream_processor run is in progress (past its start-up), `trades` had an event in the last "
    "few minutes: the stream is writing. Passes, saying so, when no stream runs.",
)
def fresh_while_streaming(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    instance = context.instance
    running = instance.get_run_records(
        dg.RunsFilter(job_name=STREAM_JOB_NAME, statuses=[dg.DagsterRunStatus.STARTED]), limit=1
    )
    if not running:
        return dg.AssetCheckResult(passed=True, metadata={"stream_running": dg.MetadataValue.bool(False)})
    now = time.time()
    started = running[0].start_time or now
    latest = instance.get_latest_materialization_event(TRADES_KEY)
    last_event = max(latest.timestamp, started) if latest is not None else started
    lag_s = now - last_event
    return dg.AssetCheckResult(
        passed=lag_s <= FRESHNESS_LIMIT_S,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "stream_running": dg.MetadataValue.bool(True),
            "run_id": dg.MetadataValue.text(running[0].dagster_run.run_id),
            "seconds_since_last_trades_event": dg.MetadataValue.float(round(lag_s, 1)),
            "limit_seconds": dg.MetadataValue.float(FRESHNESS_LIMIT_S),
        },
    )


processing_checks = [aggregates_match_trades, valid_prices_and_volumes, fresh_while_streaming]

# The unpartitioned checks, evaluated on a schedule so freshness is watched while the stream runs.
trades_checks_job = dg.define_asset_job(
    TRADES_CHECKS_JOB_NAME,
    selection=dg.AssetSelection.checks(valid_prices_and_volumes, fresh_while_streaming),
    description="Checks of `trades`: valid prices and volumes, freshness while the stream runs.",
)
trades_checks_schedule = dg.ScheduleDefinition(
    name="trades_checks_schedule",
    job=trades_checks_job,
    cron_schedule="*/10 * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
