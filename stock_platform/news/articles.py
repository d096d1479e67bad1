"""Finnhub company-news items -> `NewsArticle` rows: ids, publication time in UTC milliseconds, related symbols."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stock_platform.models import NewsArticle

# Finnhub sends `datetime` in unix seconds; a value this large can only be milliseconds (or garbage).
_MAX_EPOCH_SECONDS = 10**11
# Both stores keep the article id as a signed 64-bit integer (Cassandra bigint, SQLite INTEGER): a larger id
# would fail the write of the whole poll, again on every later poll.
_MAX_ARTICLE_ID = 2**63 - 1


@dataclass(frozen=True)
class ParsedNews:
    """Articles ready to store, plus one reason per item that could not be stored."""

    articles: list[NewsArticle] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    repeated_in_response: int = 0


def parse_related(value: Any) -> tuple[str, ...]:
    """Finnhub's `related` is a comma-separated string ("AAPL,MSFT"); lists of strings are accepted too.

    Raises ValueError for anything else, rather than storing e.g. "None" or a number as a symbol.
    """
    if value is None:
        return ()
    if isinstance(value, str):
        parts = value.split(",")
    elif isinstance(value, list) and all(isinstance(part, str) for part in value):
        parts = value
    else:
        raise ValueError(f"related {value!r} is neither a comma-separated string nor a list of strings")
    return tuple(dict.fromkeys(part.strip() for part in parts if part.strip()))


def _article_id(item: Mapping[str, Any]) -> int:
    value = item.get("id")
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"article id {value!r} is not an integer")
    try:
        article_id = int(value)
    except ValueError:
        raise ValueError(f"article id {value!r} is not an integer") from None
    if article_id <= 0:
        raise ValueError(f"article id {article_id} is not positive")
    if article_id > _MAX_ARTICLE_ID:
        raise ValueError(f"article id {article_id} does not fit in 64 bits")
    return article_id


def _published_at_ms(item: Mapping[str, Any]) -> int:
    value = item.get("datetime")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"datetime {value!r} is not a unix timestamp")
    if value <= 0:
        raise ValueError(f"datetime {value!r} is not a positive unix timestamp")
    if value >= _MAX_EPOCH_SECONDS:
        raise ValueError(f"datetime {value!r} looks like milliseconds; Finnhub sends unix seconds")
    return int(round(value * 1000))


def _text(item: Mapping[str, Any], key: str) -> str:
    value = item.get(key)
    return "" if value is None else str(value)


def parse_article(symbol: str, item: Mapping[str, Any]) -> NewsArticle:
    """One company-news item as the row stored under `symbol`; raises ValueError saying what is wrong."""
    if not isinstance(item, Mapping):
        raise ValueError(f"item is a {type(item).__name__}, not an object")
    headline = _text(item, "headline").strip()
    if not headline:
        raise ValueError("headline is empty")
    return NewsArticle(
        symbol=symbol,
        article_id=_article_id(item),
        published_at_ms=_published_at_ms(item),
        headline=headline,
        summary=_text(item, "summary"),
        source=_text(item, "source"),
        url=_text(item, "url"),
        image=_text(item, "image"),
        category=_text(item, "category"),
        related=parse_related(item.get("related")),
    )


def parse_company_news(symbol: str, items: Iterable[Any]) -> ParsedNews:
    """Parse a company-news answer for `symbol`; an article id repeated within the answer is kept once."""
    articles: dict[int, NewsArticle] = {}
    rejected: list[str] = []
    repeated = 0
    for position, item in enumerate(items):
        try:
            article = parse_article(symbol, item)
        except ValueError as error:
            item_id = item.get("id") if isinstance(item, Mapping) else None
            rejected.append(f"{symbol} item {position} (id {item_id!r}): {error}")
            continue
        if article.article_id in articles:
            repeated += 1
            continue
        articles[article.article_id] = article
    return ParsedNews(list(articles.values()), rejected, repeated)
