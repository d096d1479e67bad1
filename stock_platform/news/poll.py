"""One news poll: ask Finnhub for each symbol's date range, parse, and write through the store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from stock_platform.finnhub.rate_limit import RateLimitTimeout
from stock_platform.finnhub.rest import FinnhubRequestError, FinnhubRestClient
from stock_platform.models import NewsArticle
from stock_platform.news.articles import parse_company_news
from stock_platform.news.schedule import SymbolWindow


class NewsWriter(Protocol):
    """The part of the store a news poll writes through."""

    def upsert_news(self, articles: Sequence[NewsArticle]) -> object: ...


@dataclass(frozen=True)
class SymbolPollResult:
    """What polling one symbol did: calls spent, articles new and repeated, newest publication time, or why it failed."""

    window: SymbolWindow
    calls: int = 0
    fetched: int = 0
    new: int = 0
    duplicates: int = 0
    rejected: list[str] = field(default_factory=list)
    newest_article_ms: int | None = None
    error: str | None = None

    @property
    def symbol(self) -> str:
        return self.window.symbol


def _write_counts(result: object) -> tuple[int, int]:
    """(new, duplicates) from the store's upsert result."""
    return int(result.new), int(result.duplicates)  # type: ignore[attr-defined]


def poll_symbol(client: FinnhubRestClient, store: NewsWriter, window: SymbolWindow) -> SymbolPollResult:
    """Fetch and store one symbol's news; request failures come back as the result's `error`.

    A rejected key (`FinnhubAuthError`) and a busy rate limit (`RateLimitTimeout`) are raised:
    neither would go better for the next symbol.
    """
    calls_before = client.calls
    try:
        items = client.company_news(window.symbol, window.start, window.end)
    except FinnhubRequestError as error:
        return SymbolPollResult(window, calls=client.calls - calls_before, error=str(error))
    parsed = parse_company_news(window.symbol, items)
    new, duplicates = _write_counts(store.upsert_news(parsed.articles)) if parsed.articles else (0, 0)
    return SymbolPollResult(
        window,
        calls=client.calls - calls_before,
        fetched=len(items),
        new=new,
        duplicates=duplicates + parsed.repeated_in_response,
        rejected=parsed.rejected,
        newest_article_ms=max((article.published_at_ms for article in parsed.articles), default=None),
    )


def poll_news(client: FinnhubRestClient, store: NewsWriter, windows: Sequence[SymbolWindow]) -> list[SymbolPollResult]:
    """Poll every window in order; once the shared rate limit times out, the rest are reported as not polled."""
    results: list[SymbolPollResult] = []
    for position, window in enumerate(windows):
        try:
            results.append(poll_symbol(client, store, window))
        except RateLimitTimeout as error:
            results.extend(SymbolPollResult(skipped, error=str(error)) for skipped in windows[position:])
            break
    return results
