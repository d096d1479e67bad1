"""Asset `news` (Finnhub company news -> table `news`), job `news_job`, sensor `news_poller` and the news checks.

Resources by key: `finnhub` (FinnhubResource) and `market_store` (MarketStoreResource).
"""

import time
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any

import dagster as dg
from pydantic import Field

from stock_platform.defs.finnhub.resources import FinnhubConfigError, FinnhubResource
from stock_platform.defs.keeper import IN_PROGRESS_STATUSES
from stock_platform.defs.processing.checks import freshness_result
from stock_platform.defs.provenance import CODE_VERSION, run_provenance
from stock_platform.defs.storage.resources import MarketStoreResource
from stock_platform.finnhub.websocket import FinnhubAuthError
from stock_platform.news.poll import SymbolPollResult, poll_news
from stock_platform.news.schedule import NewsCursor, NewsPollSettings, SymbolWindow, news_window, plan_poll
from stock_platform.processing.market_hours import (
    US_EQUITIES,
    Market,
    assess_freshness,
    market_of,
    previous_session_open,
)

NEWS_KEY = dg.AssetKey("news")
NEWS_JOB_NAME = "news_job"
POLL_SETTINGS = NewsPollSettings()
SENSOR_INTERVAL_S = 60
NEWS_FRESHNESS_CHECK = "fresh_while_market_open"
# One symbol is polled every `symbol_interval_s`; three missed polls make the table stale. This policy
# watches that polls happen (around the clock: news comes at weekends too); whether articles arrive is
# the market-hours check `fresh_while_market_open`.
FRESHNESS_FAIL_WINDOW = timedelta(seconds=3 * POLL_SETTINGS.symbol_interval_s)
_MATERIALIZATIONS_PER_TICK = 100
# A changed Finnhub format could reject every item of every poll: log a sample, count all in the metadata.
_REJECTED_LOG_SAMPLE = 5


class NewsWindowConfig(dg.Config):
    """One company-news request of a run."""

    symbol: str
    start: str = Field(description="First publication date asked for, YYYY-MM-DD (inclusive).")
    end: str = Field(description="Last publication date asked for, YYYY-MM-DD (inclusive).")


class NewsConfig(dg.Config):
    """Which symbols and date ranges a run polls (the `news_poller` sensor fills this in)."""

    windows: list[NewsWindowConfig] = Field(
        default_factory=list,
        description="Empty: every configured symbol, from a day before its newest stored article.",
    )


def _parse_window(window: NewsWindowConfig) -> SymbolWindow:
    try:
        start, end = date.fromisoformat(window.start), date.fromisoformat(window.end)
    except ValueError:
        raise dg.Failure(
            description=f"news window for {window.symbol} has dates {window.start!r}..{window.end!r}; use YYYY-MM-DD",
            allow_retries=False,
        ) from None
    if start > end:
        raise dg.Failure(
            description=f"news window for {window.symbol} starts after it ends ({start} > {end})", allow_retries=False
        )
    return SymbolWindow(window.symbol, start, end)


def _windows_from_store(symbols: list[str], store: Any) -> list[SymbolWindow]:
    today = datetime.now(timezone.utc).date()
    return [news_window(symbol, store.latest_news_time_ms(symbol), today, POLL_SETTINGS) for symbol in symbols]


def news_metadata(results: list[SymbolPollResult], api_calls: int) -> dict[str, Any]:
    """Audit metadata of one poll: totals as numbers (plotted by the UI) and the per-symbol breakdown."""
    newest = max((result.newest_article_ms for result in results if result.newest_article_ms is not None), default=None)
    metadata: dict[str, Any] = {
        "new_articles": dg.MetadataValue.int(sum(result.new for result in results)),
        "duplicates_skipped": dg.MetadataValue.int(sum(result.duplicates for result in results)),
        "api_calls": dg.MetadataValue.int(api_calls),
        "symbols_polled": dg.MetadataValue.int(sum(1 for result in results if result.error is None)),
        "symbols_failed": dg.MetadataValue.int(sum(1 for result in results if result.error is not None)),
        "rejected_items": dg.MetadataValue.int(sum(len(result.rejected) for result in results)),
        "symbols": dg.MetadataValue.json(
            {
                result.symbol: {
                    "from": result.window.start.isoformat(),
                    "to": result.window.end.isoformat(),
                    "api_calls": result.calls,
                    "fetched": result.fetched,
                    "new": result.new,
                    "duplicates": result.duplicates,
                    "rejected": len(result.rejected),
                    "newest_article_ms": result.newest_article_ms,
                    "error": result.error,
                }
                for result in results
            }
        ),
    }
    if newest is not None:
        metadata["newest_article_time"] = dg.MetadataValue.timestamp(newest / 1000)
    return metadata


@dg.asset(
    key=NEWS_KEY,
    description="Finnhub company news per symbol, newest first, one row per (symbol, Finnhub article id). "
    "Each run polls the symbols and date ranges its config names (see the news_poller sensor).",
    group_name="news",
    kinds={"python", "cassandra"},
    owners=["team:data-platform"],
    code_version=CODE_VERSION,
    freshness_policy=dg.FreshnessPolicy.time_window(
        fail_window=FRESHNESS_FAIL_WINDOW, warn_window=FRESHNESS_FAIL_WINDOW / 2
    ),
)
def news(
    context: dg.AssetExecutionContext, config: NewsConfig, finnhub: FinnhubResource, market_store: MarketStoreResource
) -> dg.MaterializeResult:
    with market_store.open_store() as store:
        if config.windows:
            windows = [_parse_window(window) for window in config.windows]
        else:
            windows = _windows_from_store(finnhub.symbol_list(), store)
        if not windows:
            raise dg.Failure(
                description="no symbols to poll: set FINNHUB_SYMBOLS or name windows in the run config",
                allow_retries=False,
            )
        try:
            with finnhub.rest_client() as client:
                results = poll_news(client, store, windows)
                api_calls = client.calls
        except (FinnhubConfigError, FinnhubAuthError, ConnectionError) as error:
            raise dg.Failure(description=str(error), allow_retries=False) from None
    rejected = [reason for result in results for reason in result.rejected]
    for reason in rejected[:_REJECTED_LOG_SAMPLE]:
        context.log.warning(f"skipped a Finnhub news item: {reason}")
    if len(rejected) > _REJECTED_LOG_SAMPLE:
        context.log.warning(f"skipped {len(rejected)} Finnhub news items in all (metadata rejected_items)")
    failed = [result for result in results if result.error is not None]
    for result in failed:
        context.log.warning(f"news for {result.symbol} not polled: {result.error}")
    if failed and len(failed) == len(results):
        raise dg.Failure(description=f"news poll failed for all {len(failed)} symbols; first error: {failed[0].error}")
    metadata = {**run_provenance(context), **news_metadata(results, api_calls)}
    context.log.info(
        f"news: {metadata['new_articles'].value} new articles, {metadata['duplicates_skipped'].value} duplicates "
        f"skipped, {api_calls} API calls, {len(failed)} symbols failed"
    )
    return dg.MaterializeResult(metadata=metadata)


@dg.asset_check(asset=news, description="No two rows of table `news` share a (symbol, Finnhub article id).")
def news_has_no_duplicate_articles(market_store: MarketStoreResource) -> dg.AssetCheckResult:
    with market_store.open_store() as store:
        duplicates = store.duplicate_news()
    return dg.AssetCheckResult(
        passed=not duplicates,
        metadata={
            "duplicate_articles": dg.MetadataValue.int(len(duplicates)),
            "examples": dg.MetadataValue.json([list(key) for key in duplicates[:10]]),
        },
    )


def news_cutoffs(market: Market, now: datetime) -> tuple[datetime | None, None]:
    """While NYSE is open, a company has had news since the previous session's open (Monday: since Friday's).

    Company news follows the trading day; a day and a session without any is worth a look, not an
    incident, so stale news only warns.
    """
    return previous_session_open(market, now), None


def build_news_freshness_check(clock: Callable[[], float] = time.time) -> dg.AssetChecksDefinition:
    """The market-hours freshness check of `news`, reading the time from `clock`."""

    @dg.asset_check(
        asset=NEWS_KEY,
        name=NEWS_FRESHNESS_CHECK,
        description="While NYSE is open (09:30-16:00 New York on NYSE trading days, 13:00 on early closes), each "
        "configured US-equity symbol has an article published since the previous session's open; warns otherwise. "
        "Passes on weekends, holidays and outside hours, saying when NYSE closed and opens next. "
        "Exchange-prefixed symbols (crypto, forex) have no company news and are not checked.",
    )
    def _news_fresh(market_store: MarketStoreResource, finnhub: FinnhubResource) -> dg.AssetCheckResult:
        now = datetime.fromtimestamp(clock(), timezone.utc)
        configured = finnhub.symbol_list()
        symbols = [symbol for symbol in configured if market_of(symbol) is US_EQUITIES]
        with market_store.open_store() as store:
            newest = {symbol: store.latest_news_time_ms(symbol) for symbol in symbols}
        report = assess_freshness(symbols, newest, now, news_cutoffs, "article")
        others = sorted(set(configured) - set(symbols))
        return freshness_result(report, now, symbols_without_company_news=dg.MetadataValue.text(", ".join(others) or "none"))

    return _news_fresh


news_fresh_while_market_open = build_news_freshness_check()

news_job = dg.define_asset_job(
    NEWS_JOB_NAME,
    selection=dg.AssetSelection.assets(NEWS_KEY).without_checks()
    | dg.AssetSelection.checks(news_has_no_duplicate_articles, news_fresh_while_market_open),
    description="Polls Finnhub company news for the symbols in the run config, writes table `news`, then checks "
    "it for duplicates and market-hours freshness.",
)


def _fold_materializations(instance: dg.DagsterInstance, cursor: NewsCursor) -> None:
    """Advance per-symbol newest article times from `news` materializations not seen yet."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=NEWS_KEY, after_storage_id=cursor.last_event_id),
        limit=_MATERIALIZATIONS_PER_TICK,
        ascending=True,
    ).records
    for record in records:
        materialization = record.asset_materialization
        symbols = materialization.metadata.get("symbols") if materialization else None
        for symbol, entry in (symbols.value if symbols is not None else {}).items():
            if isinstance(entry, dict) and entry.get("newest_article_ms") is not None:
                cursor.record_newest(symbol, int(entry["newest_article_ms"]))
        cursor.last_event_id = record.storage_id


def build_news_poller(
    settings: NewsPollSettings = POLL_SETTINGS,
    interval_s: int = SENSOR_INTERVAL_S,
    name: str = "news_poller",
    clock: Callable[[], float] = time.time,
) -> dg.SensorDefinition:
    """A sensor that requests one `news` run at a time for the symbols due, with their date ranges.

    A tick makes no HTTP call: it reads the run queue and the event log, plans, and returns.
    """

    @dg.sensor(
        name=name,
        job=news_job,
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Every {interval_s}s requests a `news` run for the symbols whose poll interval "
        f"({settings.symbol_interval_s:.0f}s) has passed, at most {settings.max_symbols_per_run} per run.",
    )
    def _poller(context: dg.SensorEvaluationContext, finnhub: FinnhubResource) -> dg.SensorResult:
        try:
            cursor = NewsCursor.from_json(context.cursor)
        except ValueError as error:
            context.log.warning(f"{error}; starting a fresh cursor (the store drops repeated articles)")
            cursor = NewsCursor()
        _fold_materializations(context.instance, cursor)
        symbols = finnhub.symbol_list()
        cursor.keep_only(symbols)
        if not symbols:
            return dg.SensorResult(skip_reason="no symbols configured: set FINNHUB_SYMBOLS", cursor=cursor.to_json())
        in_progress = context.instance.get_run_records(
            dg.RunsFilter(job_name=NEWS_JOB_NAME, statuses=IN_PROGRESS_STATUSES), limit=1
        )
        if in_progress:
            return dg.SensorResult(
                skip_reason=f"news run {in_progress[0].dagster_run.run_id} is in progress", cursor=cursor.to_json()
            )
        now_s = clock()
        windows = plan_poll(symbols, cursor, now_s, settings)
        if not windows:
            return dg.SensorResult(skip_reason="no symbol is due for a news poll", cursor=cursor.to_json())
        cursor.mark_polled([window.symbol for window in windows], now_s)
        run_config = dg.RunConfig(
            ops={
                NEWS_KEY.path[-1]: NewsConfig(
                    windows=[
                        NewsWindowConfig(symbol=window.symbol, start=window.start.isoformat(), end=window.end.isoformat())
                        for window in windows
                    ]
                )
            }
        )
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=f"{NEWS_JOB_NAME}-{int(now_s)}", run_config=run_config)],
            cursor=cursor.to_json(),
        )

    return _poller


news_poller = build_news_poller()

news_assets = [news]
news_checks = [news_has_no_duplicate_articles, news_fresh_while_market_open]
news_jobs = [news_job]
news_sensors = [news_poller]
