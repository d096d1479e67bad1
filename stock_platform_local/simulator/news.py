"""Deterministic simulated company news: the same question always gets the same articles."""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from stock_platform_local.simulator.instruments import InstrumentKind, instrument_kind
from stock_platform_local.simulator.news_content import (
    COMPANY_HEADLINES,
    COMPANY_NAMES,
    CRYPTO_HEADLINES,
    GROUP_HEADLINES,
    PEER_GROUPS,
    SOURCES,
    SUMMARIES,
)

GROUP_ARTICLES_PER_DAY = 2
# Like Finnhub's free plan, company news reaches back one year.
HISTORY_DAYS = 365
_SECONDS_PER_DAY = 86_400
_JS_SAFE_ID_BITS = 53


def article_id(key: str) -> int:
    """A positive integer id derived from `key`; 53 bits keep it exact in JSON consumers such as JavaScript."""
    digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
    return digest >> (64 - _JS_SAFE_ID_BITS) or 1


def _day_start_s(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def _display_name(symbol: str) -> str:
    return COMPANY_NAMES.get(symbol, symbol.split(":")[-1])


def _slot_time(rng: random.Random, day: date, slot: int, slots: int) -> int:
    """Spread `slots` articles over the UTC day, one in each equal slice, so new ones keep appearing."""
    width = _SECONDS_PER_DAY / slots
    return _day_start_s(day) + int((slot + rng.random()) * width)


def _article(
    key: str, rng: random.Random, published_s: int, headline: str, name: str, day: date, related: str
) -> dict[str, Any]:
    identifier = article_id(key)
    source = SOURCES[rng.randrange(len(SOURCES))]
    return {
        "category": "company",
        "datetime": published_s,
        "headline": headline,
        "id": identifier,
        "image": "" if rng.random() < 0.15 else f"https://images.simulator.invalid/news/{identifier}.jpg",
        "related": related,
        "source": source,
        "summary": SUMMARIES[rng.randrange(len(SUMMARIES))].format(name=name, day=day.strftime("%B %d")),
        "url": f"https://news.simulator.invalid/{source.lower()}/{identifier}",
    }


class NewsGenerator:
    """Company news per symbol and UTC day; articles dated after "now" are not published yet."""

    def __init__(self, articles_per_symbol_per_day: int = 8, clock: Callable[[], float] = time.time) -> None:
        self._per_day = articles_per_symbol_per_day
        self._clock = clock
        self._group_of = {symbol: group for group in PEER_GROUPS for symbol in group}

    def company_news(self, symbol: str, start: date, end: date) -> list[dict[str, Any]]:
        """Articles about `symbol` published between two UTC dates (inclusive), newest first."""
        now_s = int(self._clock())
        today = datetime.fromtimestamp(now_s, UTC).date()
        first = max(start, today - timedelta(days=HISTORY_DAYS))
        last = min(end, today)
        articles: list[dict[str, Any]] = []
        day = first
        while day <= last:
            articles.extend(self._own_articles(symbol, day))
            articles.extend(self._group_articles(symbol, day))
            day += timedelta(days=1)
        published = [article for article in articles if article["datetime"] <= now_s]
        return sorted(published, key=lambda article: (article["datetime"], article["id"]), reverse=True)

    def _own_articles(self, symbol: str, day: date) -> list[dict[str, Any]]:
        name = _display_name(symbol)
        headlines = CRYPTO_HEADLINES if instrument_kind(symbol) is not InstrumentKind.EQUITY else COMPANY_HEADLINES
        articles = []
        for slot in range(self._per_day):
            key = f"company:{symbol}:{day.isoformat()}:{slot}"
            rng = random.Random(key)
            published_s = _slot_time(rng, day, slot, self._per_day)
            headline = headlines[rng.randrange(len(headlines))].format(name=name)
            articles.append(_article(key, rng, published_s, headline, name, day, symbol))
        return articles

    def _group_articles(self, symbol: str, day: date) -> list[dict[str, Any]]:
        """Articles on several peers of `symbol`; each lists every symbol it concerns in `related`."""
        group = self._group_of.get(symbol)
        if group is None:
            return []
        group_name = ",".join(group)
        articles = []
        for slot in range(GROUP_ARTICLES_PER_DAY):
            key = f"group:{group_name}:{day.isoformat()}:{slot}"
            rng = random.Random(key)
            published_s = _slot_time(rng, day, slot, GROUP_ARTICLES_PER_DAY)
            related = rng.sample(group, rng.randint(2, min(4, len(group))))
            if symbol not in related:
                continue
            names = " and ".join(_display_name(member) for member in related)
            headline = GROUP_HEADLINES[rng.randrange(len(GROUP_HEADLINES))].format(names=names)
            articles.append(_article(key, rng, published_s, headline, names, day, ",".join(related)))
        return articles
