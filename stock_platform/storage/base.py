"""The storage interface every writer and reader of the platform's tables goes through."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import date
from types import TracebackType

from stock_platform.models import NewsArticle, TradeRow
from stock_platform.processing.aggregation import BarState, DayKey, MinuteKey

# (the bar the writer read, None when there was none; the bar to write in its place)
BarSwap = tuple[BarState | None, BarState]


class StoreError(RuntimeError):
    """A store operation failed; the message says what and what to check."""


@dataclass(frozen=True, slots=True)
class NewsWriteResult:
    """Articles written for the first time and articles already stored (skipped)."""

    new: int
    duplicates: int


@dataclass(frozen=True, slots=True)
class HealthSample:
    """One row of `pipeline_health`: what a long run did in one reporting interval."""

    component: str
    sampled_at_ms: int
    run_id: str
    trades: int
    messages: int
    dead_letters: int
    rate_per_s: float
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    day: date | None = None

    def partition_day(self) -> date:
        """The `day` partition: given, or the UTC date of `sampled_at_ms`."""
        if self.day is not None:
            return self.day
        return date.fromordinal(date(1970, 1, 1).toordinal() + self.sampled_at_ms // 86_400_000)


class MarketStore(ABC):
    """Tables trades, daily_aggregates, minute_bars, news and pipeline_health (cassandra/schema.cql).

    Every write is an idempotent upsert by the table's primary key, so replays rewrite the same rows.
    Usable as a context manager that closes the store.
    """

    # -- trades
    @abstractmethod
    def write_trades(self, rows: Sequence[TradeRow]) -> int:
        """Upsert trades by (symbol, trading_day, event_time, trade_id); returns the rows written."""

    @abstractmethod
    def trades_for_day(self, symbol: str, day: date) -> list[TradeRow]:
        """All trades of one symbol and trading day, ordered by (event_time_ms, trade_id)."""

    @abstractmethod
    def symbols_for_day(self, day: date) -> list[str]:
        """Sorted symbols with at least one trade on `day`."""

    @abstractmethod
    def latest_trade_time_ms(self) -> int | None:
        """Newest event time folded into `daily_aggregates` (None when empty), for freshness checks."""

    # -- bars
    @abstractmethod
    def daily_aggregates(self, keys: Iterable[DayKey]) -> dict[DayKey, BarState]:
        """Stored daily bars for the keys that exist."""

    @abstractmethod
    def upsert_daily_aggregates(self, states: Mapping[DayKey, BarState]) -> int:
        """Write daily bars (whole rows); returns the rows written."""

    @abstractmethod
    def daily_aggregates_for_day(self, day: date) -> dict[str, BarState]:
        """Every symbol's daily bar of `day`."""

    @abstractmethod
    def minute_bars(self, keys: Iterable[MinuteKey]) -> dict[MinuteKey, BarState]:
        """Stored minute bars for the keys that exist."""

    @abstractmethod
    def upsert_minute_bars(self, states: Mapping[MinuteKey, BarState]) -> int:
        """Write minute bars (whole rows); returns the rows written."""

    @abstractmethod
    def minute_bars_for_day(self, symbol: str, day: date) -> dict[int, BarState]:
        """One symbol's minute bars of `day` by bucket start (epoch ms)."""

    @abstractmethod
    def compare_and_set_bars(
        self, daily: Mapping[DayKey, BarSwap], minute: Mapping[MinuteKey, BarSwap]
    ) -> list[DayKey | MinuteKey]:
        """Write each new bar only where the stored one still is the expected one (same trade count,
        volume and last trade; absent for None), atomically per bar.

        Returns:
            The keys not written because another writer changed the bar since it was read.
        """

    # -- news
    @abstractmethod
    def upsert_news(self, articles: Sequence[NewsArticle]) -> NewsWriteResult:
        """Store articles not yet stored for their (symbol, article_id); already stored ones are skipped."""

    @abstractmethod
    def news_for_symbol(self, symbol: str, limit: int = 50) -> list[NewsArticle]:
        """The newest `limit` articles of a symbol, newest first."""

    @abstractmethod
    def latest_news_time_ms(self, symbol: str) -> int | None:
        """Publication time of the symbol's newest stored article."""

    @abstractmethod
    def duplicate_news(self) -> list[tuple[str, int]]:
        """Sorted (symbol, article_id) pairs stored in more than one row (should be empty)."""

    # -- health
    @abstractmethod
    def write_health(self, sample: HealthSample) -> None:
        """Upsert one `pipeline_health` row."""

    @abstractmethod
    def health_samples(self, component: str, day: date) -> list[HealthSample]:
        """The component's `pipeline_health` rows of one day, newest first."""

    @abstractmethod
    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""

    def atomic_batch(self) -> AbstractContextManager[None]:
        """Scope in which one trade batch is written; stores that can make it one transaction do."""
        return nullcontext()

    def __enter__(self) -> MarketStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

