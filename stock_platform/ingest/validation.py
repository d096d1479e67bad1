"""Validation of Finnhub trade objects: required fields, types and plausible ranges."""

from __future__ import annotations

import math
import reprlib
import sys
import time
from dataclasses import dataclass
from typing import Any

# Finnhub started in 2018; anything before 2000 is a unit error (seconds instead of ms) or garbage.
EARLIEST_PLAUSIBLE_MS = 946_684_800_000
_MAX_SYMBOL_LENGTH = 64
# Bounds the validator's memory of symbols and condition lists it has already checked.
_MAX_REMEMBERED = 10_000


@dataclass(frozen=True, slots=True)
class TradeLimits:
    """Plausibility bounds for trades; the clock skew bound rejects timestamps from the future."""

    max_future_skew_ms: int = 5 * 60 * 1000
    max_price: float = 1e9
    max_volume: float = 1e12
    # Finnhub's conditions are short codes; bounding them bounds one trade's size, so any valid trade fits
    # in a Kafka message and an oversized batch can always be split.
    max_conditions: int = 32
    max_condition_chars: int = 32


# Reasons quote the offending value; a bounded repr keeps a megabyte string or a deeply nested list from
# blowing up the dead letter (and escapes lone surrogates, which UTF-8 cannot encode).
_quote = reprlib.Repr()
_quote.maxstring = _quote.maxother = 40
_quote.maxlevel = 2


def _is_number(value: Any) -> bool:
    # JSON integers are unbounded: math.isfinite would raise OverflowError converting one of 400 digits.
    return type(value) is int or (type(value) is float and math.isfinite(value))


def _is_utf8(text: str) -> bool:
    """False for strings holding lone surrogates (JSON allows "\\ud800"), which cannot be encoded to Avro or a key."""
    if text.isascii():  # a flag lookup in CPython: the usual symbol or condition code costs nothing more
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _remember(known: set, value: Any) -> None:
    if len(known) < _MAX_REMEMBERED:
        known.add(value)


class TradeValidator:
    """Checks one Finnhub trade dict; returns None when valid, else a one-line reason."""

    def __init__(self, limits: TradeLimits | None = None, clock=time.time) -> None:
        self._limits = limits or TradeLimits()
        self._clock = clock
        # The quick check reads them for every trade: attributes of the validator are one lookup, not two. Capped
        # at the largest finite float: an infinite limit would let the quick check pass the infinity `problem` refuses.
        self._max_price = min(self._limits.max_price, sys.float_info.max)
        self._max_volume = min(self._limits.max_volume, sys.float_info.max)
        self._max_future_skew_ms = self._limits.max_future_skew_ms
        # Symbols and condition lists that passed the full checks: a stream repeats a handful of each.
        self._valid_symbols: set[str] = set()
        self._valid_conditions: set[tuple[str, ...]] = set()

    def accepts(self, trade: Any, now_ms: int) -> bool:
        """A quick check that is sufficient, not necessary: True means `problem` would return None.

        It costs a fraction of `problem` on the usual trade; False only means "ask `problem`", which
        words the reason (and may still accept the trade, e.g. one without a `c` field). QuickFrameEncoder
        writes the same checks into its own loop over a frame.
        """
        try:
            symbol, price, volume, event_time = trade["s"], trade["p"], trade["v"], trade["t"]
            conditions = trade["c"]
        except (TypeError, KeyError, IndexError):
            return False
        if not (
            (type(price) is float or type(price) is int)
            and 0 < price <= self._max_price  # NaN fails every comparison
            and (type(volume) is float or type(volume) is int)
            and 0 <= volume <= self._max_volume
            and type(event_time) is int
            and EARLIEST_PLAUSIBLE_MS <= event_time <= now_ms + self._max_future_skew_ms
            and type(symbol) is str
        ):
            return False
        if not self.symbol_ok(symbol):
            return False
        if conditions is None:
            return True
        if type(conditions) is not list:
            return False
        known = tuple(conditions)
        try:
            if known in self._valid_conditions:
                return True
        except TypeError:  # an unhashable item (a JSON object or array) is no condition code
            return False
        if not self.conditions_ok(conditions):
            return False
        self.remember_conditions(known)
        return True

    def symbol_ok(self, symbol: str) -> bool:
        """Whether `symbol_problem` finds nothing; a symbol that passes is remembered (a stream repeats a handful)."""
        if symbol in self._valid_symbols:
            return True
        if self.symbol_problem(symbol) is not None:
            return False
        _remember(self._valid_symbols, symbol)
        return True

    @property
    def known_conditions(self) -> set[tuple[str, ...]]:
        """Condition lists known to be within the limits; read it, add to it with `remember_conditions`."""
        return self._valid_conditions

    def remember_conditions(self, conditions: tuple[str, ...]) -> None:
        """Remember a condition list that passed `conditions_ok`."""
        _remember(self._valid_conditions, conditions)

    @property
    def limits(self) -> TradeLimits:
        return self._limits

    @staticmethod
    def symbol_problem(symbol: Any) -> str | None:
        """Why `symbol` is not a usable symbol (non-empty, bounded, no surrounding spaces, UTF-8), or None."""
        if (
            not isinstance(symbol, str)
            or not symbol
            or len(symbol) > _MAX_SYMBOL_LENGTH
            or symbol.strip() != symbol
            or not _is_utf8(symbol)
        ):
            return f"symbol {_quote.repr(symbol)} is not a non-empty string"
        return None

    def conditions_ok(self, conditions: list[Any] | tuple[Any, ...]) -> bool:
        """Whether a list of trade conditions is within the limits (short UTF-8 strings, not too many)."""
        limits = self._limits
        return len(conditions) <= limits.max_conditions and all(
            isinstance(item, str) and len(item) <= limits.max_condition_chars and _is_utf8(item) for item in conditions
        )

    def problem(self, trade: Any, now_ms: int | None = None) -> str | None:
        """Return why `trade` is invalid, or None. Normalises a missing `c` to None in place."""
        if not isinstance(trade, dict):
            return f"trade is a JSON {type(trade).__name__}, expected an object"
        symbol = trade.get("s")
        symbol_problem = self.symbol_problem(symbol)
        if symbol_problem is not None:
            return symbol_problem
        price = trade.get("p")
        if not _is_number(price) or not 0 < price <= self._limits.max_price:
            return f"{symbol}: price {_quote.repr(price)} is not a number in (0, {self._limits.max_price:g}]"
        volume = trade.get("v")
        if not _is_number(volume) or not 0 <= volume <= self._limits.max_volume:
            return f"{symbol}: volume {_quote.repr(volume)} is not a number in [0, {self._limits.max_volume:g}]"
        event_time = trade.get("t")
        if type(event_time) is not int:
            return f"{symbol}: timestamp {_quote.repr(event_time)} is not an integer of epoch milliseconds"
        if now_ms is None:
            now_ms = int(self._clock() * 1000)
        if not EARLIEST_PLAUSIBLE_MS <= event_time <= now_ms + self._limits.max_future_skew_ms:
            return f"{symbol}: timestamp {event_time} ms is not plausible (before 2000 or in the future)"
        conditions = trade.get("c")
        if conditions is None:
            trade["c"] = None
        elif not isinstance(conditions, list) or not self.conditions_ok(conditions):
            return (
                f"{symbol}: conditions {_quote.repr(conditions)} are not a list of at most "
                f"{self._limits.max_conditions} strings of at most {self._limits.max_condition_chars} characters"
            )
        return None
