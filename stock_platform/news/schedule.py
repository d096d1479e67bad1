"""Which symbols a news poll asks for, and which date range: per-symbol cursors kept by the news sensor.

Date ranges. Finnhub's company-news takes whole dates (`from`/`to`, both inclusive) and does not
say in which time zone it reads them. A poll therefore asks from the UTC date of the newest
article already seen minus `overlap_days` (one day covers any zone within ±24 h of UTC, and
articles that Finnhub indexes late) up to today's UTC date. Anchoring on the newest article, not
on the time of the last poll, means a failed or partial run loses nothing: the next poll asks
again from the same place. The overlap returns some articles twice; the store drops them by
(symbol, article id). A symbol never seen starts `initial_lookback_days` back, and no range
reaches further back than `max_lookback_days`, so a symbol without news stays cheap.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone

_CURSOR_VERSION = 1


@dataclass(frozen=True)
class NewsPollSettings:
    """How often each symbol is polled, how many symbols one run may poll, and how far back ranges reach."""

    symbol_interval_s: float = 600.0
    max_symbols_per_run: int = 20
    initial_lookback_days: int = 7
    max_lookback_days: int = 30
    overlap_days: int = 1

    def __post_init__(self) -> None:
        if self.max_symbols_per_run < 1:
            raise ValueError(f"max_symbols_per_run must be at least 1 (got {self.max_symbols_per_run})")
        if not 0 <= self.initial_lookback_days <= self.max_lookback_days:
            raise ValueError(
                f"need 0 <= initial_lookback_days <= max_lookback_days (got {self.initial_lookback_days}, "
                f"{self.max_lookback_days})"
            )


@dataclass(frozen=True)
class SymbolWindow:
    """One company-news request: a symbol and an inclusive date range."""

    symbol: str
    start: date
    end: date


@dataclass(frozen=True)
class SymbolCursor:
    """When a symbol was last polled, and the publication time of its newest article seen so far."""

    polled_at_s: float | None = None
    newest_article_ms: int | None = None


@dataclass
class NewsCursor:
    """The news sensor's cursor: per-symbol state, and the last `news` materialization folded in."""

    symbols: dict[str, SymbolCursor] = field(default_factory=dict)
    last_event_id: int | None = None

    def get(self, symbol: str) -> SymbolCursor:
        return self.symbols.get(symbol, SymbolCursor())

    def mark_polled(self, symbols: Sequence[str], now_s: float) -> None:
        for symbol in symbols:
            self.symbols[symbol] = replace(self.get(symbol), polled_at_s=now_s)

    def record_newest(self, symbol: str, newest_article_ms: int) -> None:
        """Advance a symbol's newest article time; never moves it back."""
        current = self.get(symbol)
        if current.newest_article_ms is None or newest_article_ms > current.newest_article_ms:
            self.symbols[symbol] = replace(current, newest_article_ms=newest_article_ms)

    def keep_only(self, symbols: Sequence[str]) -> None:
        """Forget symbols that are no longer configured."""
        configured = set(symbols)
        self.symbols = {symbol: state for symbol, state in self.symbols.items() if symbol in configured}

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": _CURSOR_VERSION,
                "last_event_id": self.last_event_id,
                "symbols": {
                    symbol: {"polled_at_s": state.polled_at_s, "newest_article_ms": state.newest_article_ms}
                    for symbol, state in sorted(self.symbols.items())
                },
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | None) -> NewsCursor:
        """Parse a stored cursor; an empty one starts fresh, an unreadable one raises ValueError."""
        if not text:
            return cls()
        try:
            raw = json.loads(text)
            if raw.get("version") != _CURSOR_VERSION:
                raise ValueError(f"cursor version {raw.get('version')!r}, expected {_CURSOR_VERSION}")
            return cls(
                symbols={
                    symbol: SymbolCursor(
                        polled_at_s=None if state["polled_at_s"] is None else float(state["polled_at_s"]),
                        newest_article_ms=None if state["newest_article_ms"] is None else int(state["newest_article_ms"]),
                    )
                    for symbol, state in raw["symbols"].items()
                },
                last_event_id=None if raw["last_event_id"] is None else int(raw["last_event_id"]),
            )
        except (AttributeError, KeyError, TypeError, ValueError) as error:
            raise ValueError(f"unreadable news cursor ({type(error).__name__}: {error})") from None


def utc_date(epoch_ms: int) -> date:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=timezone.utc).date()


def news_window(symbol: str, newest_article_ms: int | None, today: date, settings: NewsPollSettings) -> SymbolWindow:
    """The date range to ask for (see the module docstring for why it overlaps)."""
    if newest_article_ms is None:
        start = today - timedelta(days=settings.initial_lookback_days)
    else:
        start = utc_date(newest_article_ms) - timedelta(days=settings.overlap_days)
    start = min(max(start, today - timedelta(days=settings.max_lookback_days)), today)
    return SymbolWindow(symbol, start, today)


def due_symbols(symbols: Sequence[str], cursor: NewsCursor, now_s: float, settings: NewsPollSettings) -> list[str]:
    """Symbols whose interval has passed, least recently polled first, at most `max_symbols_per_run`.

    Ordering by last poll time makes this a round robin: when more symbols are due than one run
    may poll, the ones left out are first in line at the next tick.
    """
    due = [
        symbol
        for symbol in symbols
        if (polled := cursor.get(symbol).polled_at_s) is None or now_s - polled >= settings.symbol_interval_s
    ]
    position = {symbol: index for index, symbol in enumerate(symbols)}

    def last_polled(symbol: str) -> float:
        polled = cursor.get(symbol).polled_at_s
        return float("-inf") if polled is None else polled

    due.sort(key=lambda symbol: (last_polled(symbol), position[symbol]))
    return due[: settings.max_symbols_per_run]


def plan_poll(
    symbols: Sequence[str], cursor: NewsCursor, now_s: float, settings: NewsPollSettings
) -> list[SymbolWindow]:
    """Windows for the symbols due now; the caller marks them polled once the run is requested."""
    today = datetime.fromtimestamp(now_s, tz=timezone.utc).date()
    return [
        news_window(symbol, cursor.get(symbol).newest_article_ms, today, settings)
        for symbol in due_symbols(symbols, cursor, now_s, settings)
    ]
