"""Plain data records shared by every stage of the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Callable
from datetime import date
from functools import partial
from typing import NamedTuple


@dataclass(frozen=True, slots=True)
class Trade:
    """One validated Finnhub trade (field names follow Finnhub: s, p, v, t, c)."""

    symbol: str
    price: float
    volume: float
    event_time_ms: int
    conditions: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Input that failed parsing or validation, kept with its original bytes."""

    payload: bytes
    reason: str
    source: str
    received_at_ms: int


class TradeRow(NamedTuple):
    """A trade as stored in the `trades` table, with its deterministic id.

    `trade_id` is derived from the Kafka coordinates of the message the trade came in
    (see `make_trade_id`) so replaying Kafka rewrites the same rows. A named tuple, not a frozen
    dataclass: the engines build one per trade, and a frozen dataclass costs ~3 us to build against ~0.6 us.
    """

    symbol: str
    trading_day: date
    event_time_ms: int
    trade_id: str
    price: float
    volume: float
    conditions: tuple[str, ...] | None
    received_at_ms: int
    kafka_partition: int
    kafka_offset: int


@dataclass(frozen=True, slots=True)
class NewsArticle:
    """One Finnhub company-news article, stored once per related symbol."""

    symbol: str
    article_id: int
    published_at_ms: int
    headline: str
    summary: str
    source: str
    url: str
    image: str = ""
    category: str = ""
    related: tuple[str, ...] = field(default_factory=tuple)


# TradeRow from a tuple of its ten fields, for the engines' per-trade loops: namedtuple's own __new__ is a
# Python function (~1.5 us a call), tuple.__new__ is not (~0.5 us). The caller passes exactly the fields.
new_trade_row: Callable[[tuple], TradeRow] = partial(tuple.__new__, TradeRow)


def make_trade_id(topic: str, partition: int, offset: int, position: int) -> str:
    """Deterministic, lexically sortable trade id from Kafka coordinates.

    Zero padding keeps string order equal to (partition, offset, position) order, which the
    aggregation uses to break ties between trades sharing a millisecond.
    """
    return f"{topic}/{partition:05d}/{offset:020d}/{position:06d}"
