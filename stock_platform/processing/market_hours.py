"""When each market of the platform's symbols is open: NYSE regular sessions, forex 24/5, crypto 24/7.

Plain Python (no Dagster), so the freshness checks' rules are unit-tested against fixed clocks.
Every function takes and returns timezone-aware datetimes; results are in UTC.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import cached_property
from zoneinfo import ZoneInfo

import holidays

NEW_YORK = ZoneInfo("America/New_York")
# Finnhub's forex providers (symbols such as OANDA:EUR_USD, FXCM:EUR/USD); any other exchange prefix
# on this platform is a crypto venue (BINANCE:, COINBASE:, KRAKEN: ...), which trades around the clock.
FOREX_PREFIXES = frozenset({"OANDA", "FXCM", "FOREX.COM", "FXPRO", "ICMTRADER", "IC MARKETS", "OCTAFX", "PEPPERSTONE"})
# A calendar search gives up after this long without a session: no real market closes for longer.
_SEARCH_DAYS = 21


@dataclass(frozen=True)
class Session:
    """One continuous open period of a market, [open, close) in UTC; None ends mean open without end."""

    open: datetime | None
    close: datetime | None

    def contains(self, at: datetime) -> bool:
        return (self.open is None or self.open <= at) and (self.close is None or at < self.close)


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{at!r} has no time zone: pass an aware datetime (e.g. datetime.now(timezone.utc))")
    return at.astimezone(timezone.utc)


class Market(ABC):
    """A market's trading sessions; `name` is what the checks' metadata shows."""

    name: str
    zone: ZoneInfo = ZoneInfo("UTC")

    @abstractmethod
    def sessions(self, around: datetime) -> Iterator[Session]:
        """Sessions in time order covering at least `_SEARCH_DAYS` days either side of `around` (UTC)."""

    @property
    def always_open(self) -> bool:
        return False

    def session_at(self, at: datetime) -> Session | None:
        """The session open at `at`, or None while the market is closed."""
        at = _utc(at)
        return next((session for session in self.sessions(at) if session.contains(at)), None)

    def is_open(self, at: datetime) -> bool:
        return self.session_at(at) is not None

    def last_open(self, at: datetime) -> datetime | None:
        """Start of the latest session that began at or before `at` (None for a market that never closes)."""
        at = _utc(at)
        opens = [s.open for s in self.sessions(at) if s.open is not None and s.open <= at]
        return opens[-1] if opens else None

    def last_close(self, at: datetime) -> datetime | None:
        """End of the latest session that ended at or before `at`: while closed, "closed since"."""
        at = _utc(at)
        closes = [s.close for s in self.sessions(at) if s.close is not None and s.close <= at]
        return closes[-1] if closes else None

    def next_open(self, at: datetime) -> datetime | None:
        """Start of the first session that begins after `at` (None for a market that never closes)."""
        at = _utc(at)
        return next((s.open for s in self.sessions(at) if s.open is not None and s.open > at), None)

    def describe(self, at: datetime) -> str:
        """One line for a check's metadata: open since / closed since ..., next open ..."""
        if self.always_open:
            return "open 24/7"
        session = self.session_at(at)
        if session is not None:
            return f"open since {self.local(session.open)}, closes {self.local(session.close)}"
        return f"market closed since {self.local(self.last_close(at))}, next open {self.local(self.next_open(at))}"

    def local(self, at: datetime | None) -> str:
        """`at` in the market's own zone, e.g. 'Fri 2026-11-27 13:00 EST'."""
        return at.astimezone(self.zone).strftime("%a %Y-%m-%d %H:%M %Z") if at is not None else "unknown"


class NyseMarket(Market):
    """NYSE regular hours, 09:30-16:00 New York time on NYSE trading days; 13:00 closes on early-close days."""

    name = "us_equities"
    zone = NEW_YORK
    regular_open = time(9, 30)
    regular_close = time(16, 0)
    early_close = time(13, 0)

    # The `holidays` package keeps the NYSE calendar: full closures (incl. ad-hoc ones such as days of
    # mourning) as public holidays, the 13:00 closes as category half_day; years are filled in lazily.
    @cached_property
    def _closed(self) -> holidays.HolidayBase:
        return holidays.financial_holidays("NYSE")

    @cached_property
    def _half_days(self) -> holidays.HolidayBase:
        return holidays.financial_holidays("NYSE", categories=(holidays.HALF_DAY,))

    def is_trading_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self._closed

    def session_of(self, day: date) -> Session | None:
        """The regular session of the New York date `day`, None when the exchange is closed all day."""
        if not self.is_trading_day(day):
            return None
        close = self.early_close if day in self._half_days else self.regular_close
        # Combining in the zone applies that day's offset, so sessions stay 09:30 local across DST.
        opens = datetime.combine(day, self.regular_open, NEW_YORK).astimezone(timezone.utc)
        return Session(opens, datetime.combine(day, close, NEW_YORK).astimezone(timezone.utc))

    def sessions(self, around: datetime) -> Iterator[Session]:
        today = around.astimezone(NEW_YORK).date()
        for offset in range(-_SEARCH_DAYS, _SEARCH_DAYS + 1):
            session = self.session_of(today + timedelta(days=offset))
            if session is not None:
                yield session


class ForexMarket(Market):
    """Forex, 24/5: from Sunday 17:00 to Friday 17:00 New York time (the usual retail convention)."""

    name = "forex"
    zone = NEW_YORK

    def sessions(self, around: datetime) -> Iterator[Session]:
        local = around.astimezone(NEW_YORK).date()
        sunday = local - timedelta(days=(local.weekday() + 1) % 7)
        for weeks in range(-(_SEARCH_DAYS // 7) - 1, _SEARCH_DAYS // 7 + 2):
            start = sunday + timedelta(weeks=weeks)
            yield Session(
                datetime.combine(start, time(17), NEW_YORK).astimezone(timezone.utc),
                datetime.combine(start + timedelta(days=5), time(17), NEW_YORK).astimezone(timezone.utc),
            )


class AlwaysOpenMarket(Market):
    """A market that never closes (crypto venues)."""

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def always_open(self) -> bool:
        return True

    def sessions(self, around: datetime) -> Iterator[Session]:
        yield Session(None, None)


US_EQUITIES = NyseMarket()
FOREX = ForexMarket()
CRYPTO = AlwaysOpenMarket("crypto")


def market_of(symbol: str) -> Market:
    """US equities for plain symbols (AAPL), forex for forex providers' prefixes, else crypto (BINANCE:BTCUSDT)."""
    prefix, separator, _ = symbol.partition(":")
    if not separator:
        return US_EQUITIES
    return FOREX if prefix.strip().upper() in FOREX_PREFIXES else CRYPTO


def _market(symbol_or_market: str | Market) -> Market:
    return symbol_or_market if isinstance(symbol_or_market, Market) else market_of(symbol_or_market)


def is_open(symbol_or_market: str | Market, at: datetime) -> bool:
    """Whether the market of a symbol (or the market given) is in a session at `at`."""
    return _market(symbol_or_market).is_open(at)


def last_open(symbol_or_market: str | Market, at: datetime) -> datetime | None:
    return _market(symbol_or_market).last_open(at)


def last_close(symbol_or_market: str | Market, at: datetime) -> datetime | None:
    return _market(symbol_or_market).last_close(at)


def next_open(symbol_or_market: str | Market, at: datetime) -> datetime | None:
    return _market(symbol_or_market).next_open(at)


def fresh_after(market: Market, at: datetime, max_age: timedelta) -> datetime | None:
    """The time after which a symbol of `market` must have new data at `at`, or None if none is expected.

    Nothing is expected while the market is closed, nor in the first `max_age` of a session: data from
    before the open (yesterday's close) cannot be fresh yet, and the first trades need a moment to arrive.
    """
    at = _utc(at)
    session = market.session_at(at)
    if session is None:
        return None
    cutoff = at - max_age
    if session.open is not None and session.open > cutoff:
        return None
    return cutoff


def previous_session_open(market: Market, at: datetime) -> datetime | None:
    """While `market` is open at `at`: the open of the session before the current one (None otherwise).

    For a day-rhythm source such as company news: Monday's news check accepts articles since Friday's open.
    """
    at = _utc(at)
    if market.always_open or market.session_at(at) is None:
        return None
    before = market.last_close(at)
    return market.last_open(before) if before is not None else None


# Cutoffs for one market at a time: (data older than the first warns, older than the second fails); None: not expected.
Cutoffs = Callable[[Market, datetime], tuple[datetime | None, datetime | None]]


def age_cutoffs(warn_after: timedelta, fail_after: timedelta) -> Cutoffs:
    """Cutoffs for a stream: data at most `warn_after` / `fail_after` old while the market is open (`fresh_after`)."""

    def cutoffs(market: Market, at: datetime) -> tuple[datetime | None, datetime | None]:
        return fresh_after(market, at, warn_after), fresh_after(market, at, fail_after)

    return cutoffs


def format_age(age: timedelta) -> str:
    """'7m', '1h 05m', '2d 3h'."""
    minutes = int(age.total_seconds() // 60)
    days, minutes = divmod(minutes, 1440)
    hours, minutes = divmod(minutes, 60)
    return f"{days}d {hours}h" if days else f"{hours}h {minutes:02d}m" if hours else f"{minutes}m"


@dataclass(frozen=True)
class FreshnessReport:
    """Per market a status line; the symbols expected fresh, the stale ones (one line each) and the worst age."""

    markets: dict[str, str] = field(default_factory=dict)
    expected: int = 0
    stale: list[str] = field(default_factory=list)
    failing: bool = False
    max_age: timedelta | None = None


def assess_freshness(
    symbols: Sequence[str], newest_ms: Mapping[str, int | None], at: datetime, cutoffs: Cutoffs, noun: str
) -> FreshnessReport:
    """Which symbols lack data newer than their market's cutoffs at `at` (`newest_ms`: epoch ms or None).

    Symbols are grouped by `market_of`; a closed market's symbols are not looked at, and its status line
    says since when it is closed and when it opens next.
    """
    at = _utc(at)
    groups: dict[str, tuple[Market, list[str]]] = {}
    for symbol in symbols:
        market = market_of(symbol)
        groups.setdefault(market.name, (market, []))[1].append(symbol)
    markets: dict[str, str] = {}
    stale: list[str] = []
    ages: list[timedelta] = []
    expected, failing = 0, False
    for name, (market, members) in sorted(groups.items()):
        warn_cutoff, fail_cutoff = cutoffs(market, at)
        markets[name] = f"{market.describe(at)} ({len(members)} symbols)"
        if warn_cutoff is None and fail_cutoff is None:
            if market.is_open(at):
                markets[name] += f"; no {noun} expected yet"
            continue
        for symbol in sorted(members):
            expected += 1
            ms = newest_ms.get(symbol)
            newest = datetime.fromtimestamp(ms / 1000, timezone.utc) if ms is not None else None
            if newest is not None:
                ages.append(at - newest)
            too_old = [cut is not None and (newest is None or newest < cut) for cut in (warn_cutoff, fail_cutoff)]
            if not any(too_old):
                continue
            failing |= too_old[1]
            seen = f"newest {noun} {market.local(newest)}, {format_age(at - newest)} ago" if newest else f"no {noun} stored"
            stale.append(f"{symbol} ({name}): {seen}")
    return FreshnessReport(markets, expected, stale, failing, max(ages) if ages else None)
