"""The trading day of a trade: its exchange's local date (New York for US equities, UTC for crypto)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

US_EQUITY_ZONE = "America/New_York"
UTC_ZONE = "UTC"
_HOUR_MS = 3_600_000
_DAY_MS = 86_400_000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_MAX_CACHED_HOURS = 200_000

# Per zone: UTC offset in ms for each whole UTC hour whose offset is constant across the hour. Offsets
# change at most once in any hour, so checking both ends of the hour makes the cache exact; an hour
# containing a transition (a fraction of an hour in a few zones) is computed per call instead.
_OFFSETS_BY_HOUR: dict[str, dict[int, int]] = {}
_DAYS: dict[int, date] = {}


def _load_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}: use an IANA name such as 'America/New_York' or 'UTC'") from None


def _offset_ms(zone: ZoneInfo, epoch_ms: int) -> int:
    offset = datetime.fromtimestamp(epoch_ms / 1000, timezone.utc).astimezone(zone).utcoffset()
    return int(offset.total_seconds() * 1000) if offset is not None else 0


def _day(day_number: int) -> date:
    day = _DAYS.get(day_number)
    if day is None:
        day = _DAYS[day_number] = date.fromordinal(_EPOCH_ORDINAL + day_number)
    return day


@dataclass(frozen=True)
class TradingCalendar:
    """Maps (symbol, event time) to a trading day; picklable, so Spark executors can use it.

    Symbols with an exchange prefix (`BINANCE:BTCUSDT`) use `prefixed_zone` unless `prefix_zones`
    names a zone for that prefix; every other symbol uses `default_zone`.
    """

    default_zone: str = US_EQUITY_ZONE
    prefixed_zone: str = UTC_ZONE
    prefix_zones: Mapping[str, str] = field(default_factory=dict)
    _zone_of_symbol: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "prefix_zones", {prefix.upper(): zone for prefix, zone in self.prefix_zones.items()})
        for zone in (self.default_zone, self.prefixed_zone, *self.prefix_zones.values()):
            _load_zone(zone)

    def __hash__(self) -> int:
        return hash((self.default_zone, self.prefixed_zone, tuple(sorted(self.prefix_zones.items()))))

    def zone_name(self, symbol: str) -> str:
        """The IANA zone whose local date is the trading day of `symbol`."""
        zone = self._zone_of_symbol.get(symbol)
        if zone is None:
            prefix, separator, _ = symbol.partition(":")
            if separator:
                zone = self.prefix_zones.get(prefix.upper(), self.prefixed_zone)
            else:
                zone = self.default_zone
            self._zone_of_symbol[symbol] = zone
        return zone

    def trading_day(self, symbol: str, event_time_ms: int) -> date:
        """The local date of `event_time_ms` (epoch milliseconds) in the zone of `symbol`."""
        zone_name = self._zone_of_symbol.get(symbol) or self.zone_name(symbol)
        offsets = _OFFSETS_BY_HOUR.get(zone_name)
        if offsets is None:
            offsets = _OFFSETS_BY_HOUR.setdefault(zone_name, {})
        hour = event_time_ms // _HOUR_MS
        offset = offsets.get(hour)
        if offset is None:
            offset = self._cache_hour(zone_name, offsets, hour, event_time_ms)
        return _day((event_time_ms + offset) // _DAY_MS)

    __call__ = trading_day

    @staticmethod
    def _cache_hour(zone_name: str, offsets: dict[int, int], hour: int, event_time_ms: int) -> int:
        zone = _load_zone(zone_name)
        start = _offset_ms(zone, hour * _HOUR_MS)
        end = _offset_ms(zone, (hour + 1) * _HOUR_MS - 1)
        if start != end:
            return _offset_ms(zone, event_time_ms)
        if len(offsets) >= _MAX_CACHED_HOURS:
            offsets.clear()
        offsets[hour] = start
        return start

    def __getstate__(self) -> dict[str, object]:
        return {
            "default_zone": self.default_zone,
            "prefixed_zone": self.prefixed_zone,
            "prefix_zones": dict(self.prefix_zones),
        }

    def __setstate__(self, state: dict[str, object]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_zone_of_symbol", {})
