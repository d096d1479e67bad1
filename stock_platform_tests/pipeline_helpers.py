"""Helpers of the pipeline end-to-end test: simulator disturbances, topic reads and independent computations.

Nothing here imports the code under test's processing logic: expected tables are computed from what the
simulator sent, in plain Python, so a bug shared by the stream and a helper cannot hide itself.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Callable, Hashable, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from stock_platform_local.simulator import SimulatorServer

WAIT_TIMEOUT_S = 15.0
_NEW_YORK = ZoneInfo("America/New_York")
_MINUTE_MS = 60_000


def wait_for(predicate: Callable[[], bool], what: str, timeout_s: float = WAIT_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout_s}s")
        time.sleep(0.05)


@dataclass(frozen=True)
class Trade:
    """A trade by content (Finnhub's s, p, t, v, c), comparable across websocket, Avro and table."""

    symbol: str
    price: float
    time_ms: int
    volume: float
    conditions: tuple[str, ...] | None

    @classmethod
    def from_finnhub(cls, item: dict[str, Any]) -> Trade:
        conditions = item.get("c")
        return cls(item["s"], float(item["p"]), item["t"], float(item["v"]), tuple(conditions) if conditions is not None else None)


@dataclass(frozen=True)
class InjectedFrame:
    """A frame the test pushes through the simulator: why the ingest must reject it, and what it must keep."""

    name: str
    text: str
    reason: str
    valid_trades: tuple[dict[str, Any], ...] = ()

    @property
    def payload(self) -> bytes:
        """The bytes on the wire (the simulator sends lone surrogates as the original invalid UTF-8)."""
        return self.text.encode("utf-8", "surrogateescape")


def injected_frames(now_ms: int) -> list[InjectedFrame]:
    """Malformed and partly invalid frames; the one valid trade is a minute older than anything streamed so far,
    so it must become AAPL's open although it arrives mid-stream (event time, not arrival order)."""
    late_trade = {"s": "AAPL", "p": 187.25, "t": now_ms - _MINUTE_MS, "v": 40, "c": ["1", "12"]}
    future_trade = {"s": "NVDA", "p": 120.5, "t": now_ms + 3_600_000, "v": 5}
    negative_price = {"s": "MSFT", "p": -3.5, "t": now_ms, "v": 10}
    return [
        InjectedFrame("truncated JSON", '{"data":[{"s":"AAPL","p":1', "not valid JSON"),
        InjectedFrame("invalid UTF-8", '{"type":"trade","data":[]}\udcff', "not valid JSON"),
        InjectedFrame("unknown frame type", '{"type":"quote","data":[]}', "unknown frame type 'quote'"),
        InjectedFrame("Finnhub error frame", '{"type":"error","msg":"Invalid symbol"}', "finnhub error frame: Invalid symbol"),
        InjectedFrame(
            "negative price", json.dumps({"type": "trade", "data": [negative_price]}), "MSFT: price -3.5 is not a number"
        ),
        InjectedFrame(
            "future trade beside a valid one",
            json.dumps({"type": "trade", "data": [late_trade, future_trade]}),
            "1 of 2 trades rejected: data[1]: NVDA: timestamp",
            valid_trades=(late_trade,),
        ),
    ]


def disturb_ingest(
    sim: SimulatorServer, symbols: Sequence[str], frames: Sequence[InjectedFrame], trades_between_steps: int
) -> None:
    """While the ingest runs: inject `frames`, drop its connection once, then pause the market.

    Each step waits for `trades_between_steps` more trades so every phase (before the injection, between
    it and the drop, after the reconnect) carries real traffic. Pausing at the end leaves no frame in
    flight when the ingest window closes, so "every trade sent arrives" is exact.
    """

    def sent() -> int:
        return sim.stats()["trades_sent"]

    def connected_and_subscribed() -> bool:
        stats = sim.stats()
        return stats["connections"] == 1 and set(stats["subscriptions"]) == set(symbols)

    wait_for(lambda: connected_and_subscribed() and sent() >= trades_between_steps, "first trades reaching the ingest")
    for frame in frames:
        assert sim.inject(frame.text) == 1, f"injected frame {frame.name!r} reached no client"
    before_drop = sent()
    wait_for(lambda: sent() >= before_drop + trades_between_steps, "trades after the injection")
    assert sim.drop_connections() == 1
    wait_for(lambda: sim.stats()["connections_accepted"] == 2 and connected_and_subscribed(), "the ingest reconnecting")
    after_reconnect = sent()
    wait_for(lambda: sent() >= after_reconnect + trades_between_steps, "trades after the reconnect")
    sim.pause()


@dataclass(frozen=True)
class SentTrade:
    """A valid trade the simulator sent, on which websocket connection, in send order."""

    connection: int
    trade: Trade


def sent_valid_trades(sent_log: Path, injected: Sequence[InjectedFrame]) -> list[SentTrade]:
    """Every valid trade in the simulator's sent log, in send order: generated frames whole, injected ones
    only for the trades the test made valid."""
    injected_by_text = {frame.text: frame for frame in injected}
    trades: list[SentTrade] = []
    for line in sent_log.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        frame = injected_by_text.get(entry["frame"])
        items = frame.valid_trades if frame is not None else json.loads(entry["frame"])["data"]
        trades.extend(SentTrade(entry["connection"], Trade.from_finnhub(item)) for item in items)
    return trades


@dataclass(frozen=True)
class TopicMessage:
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]


def read_topic(bootstrap_servers: str, topic: str, timeout_s: float = WAIT_TIMEOUT_S) -> list[TopicMessage]:
    """Every message of `topic`, read with assign() (no group join) until each partition reports EOF."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": "pipeline-e2e-reader",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
        }
    )
    try:
        partitions = sorted(consumer.list_topics(topic, timeout=timeout_s).topics[topic].partitions)
        consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING) for partition in partitions])
        messages: list[TopicMessage] = []
        at_end: set[int] = set()
        deadline = time.monotonic() + timeout_s
        while at_end != set(partitions):
            if time.monotonic() > deadline:
                raise AssertionError(f"{topic} partitions {sorted(set(partitions) - at_end)} never reached EOF")
            message = consumer.poll(0.5)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    raise KafkaException(error)
                at_end.add(message.partition())
                continue
            messages.append(
                TopicMessage(
                    message.partition(), message.offset(), message.key(), message.value(), tuple(message.headers() or ())
                )
            )
        return messages
    finally:
        consumer.close()


def offset_spans(messages: Sequence[TopicMessage]) -> dict[int, list[int]]:
    """Partition -> [first, last] offset of the messages read."""
    spans: dict[int, list[int]] = {}
    for message in messages:
        span = spans.setdefault(message.partition, [message.offset, message.offset])
        span[0], span[1] = min(span[0], message.offset), max(span[1], message.offset)
    return spans


def trading_day(symbol: str, time_ms: int) -> str:
    """ISO trading day: the New York date of a US equity, the UTC date of an exchange-prefixed symbol."""
    zone = timezone.utc if ":" in symbol else _NEW_YORK
    return datetime.fromtimestamp(time_ms / 1000, zone).date().isoformat()


def daily_key(trade: Trade) -> tuple[str, str]:
    return (trade.symbol, trading_day(trade.symbol, trade.time_ms))


def minute_key(trade: Trade) -> tuple[str, str, int]:
    return (*daily_key(trade), trade.time_ms - trade.time_ms % _MINUTE_MS)


# Fields that pick one trade's value (compared exactly) and sums over trades (whose rounding depends on the order).
PICKED_FIELDS = ("open", "high", "low", "close", "trade_count", "first_trade_time", "last_trade_time")
SUM_FIELDS = ("volume", "notional", "vwap")
BAR_FIELDS = PICKED_FIELDS + SUM_FIELDS


def bar_values(bars: dict[Hashable, dict[str, Any]], fields: Sequence[str]) -> dict[tuple[Hashable, str], Any]:
    """(bar key, field) -> value: flat, so pytest.approx can compare it."""
    return {(key, name): bar[name] for key, bar in bars.items() for name in fields}


def expected_bars(trades: Sequence[Trade], key: Callable[[Trade], Hashable]) -> dict[Hashable, dict[str, Any]]:
    """Bars of `trades` (in send order, which is Kafka order per symbol): open/close by event time, ties by
    arrival; notional Σ price×volume; VWAP notional/volume (None without volume)."""
    groups: dict[Hashable, list[tuple[int, int, Trade]]] = {}
    for sequence, trade in enumerate(trades):
        groups.setdefault(key(trade), []).append((trade.time_ms, sequence, trade))
    bars = {}
    for bar_key, entries in groups.items():
        ordered = [trade for _, _, trade in sorted(entries, key=lambda entry: entry[:2])]
        volume = math.fsum(trade.volume for trade in ordered)
        notional = math.fsum(trade.price * trade.volume for trade in ordered)
        prices = [trade.price for trade in ordered]
        bars[bar_key] = {
            "open": ordered[0].price,
            "high": max(prices),
            "low": min(prices),
            "close": ordered[-1].price,
            "volume": volume,
            "notional": notional,
            "vwap": notional / volume if volume > 0 else None,
            "trade_count": len(ordered),
            "first_trade_time": ordered[0].time_ms,
            "last_trade_time": ordered[-1].time_ms,
        }
    return bars


@dataclass(frozen=True)
class StoredTrade:
    trade: Trade
    trading_day: str
    trade_id: str


@dataclass(frozen=True)
class Tables:
    """What the embedded store's tables hold, read with plain SQL as a dashboard would."""

    trades: list[StoredTrade]
    daily_aggregates: dict[Hashable, dict[str, Any]]
    minute_bars: dict[Hashable, dict[str, Any]]


def _bars(connection: sqlite3.Connection, table: str, key_columns: Sequence[str]) -> dict[Hashable, dict[str, Any]]:
    rows = connection.execute(f"SELECT {', '.join((*key_columns, *BAR_FIELDS))} FROM {table}").fetchall()
    width = len(key_columns)
    return {tuple(row[:width]): dict(zip(BAR_FIELDS, row[width:], strict=True)) for row in rows}


def read_tables(database: Path) -> Tables:
    with closing(sqlite3.connect(database)) as connection:
        trades = [
            StoredTrade(
                Trade(symbol, price, event_time, volume, tuple(json.loads(conditions)) if conditions is not None else None),
                day,
                trade_id,
            )
            for symbol, day, event_time, trade_id, price, volume, conditions in connection.execute(
                "SELECT symbol, trading_day, event_time, trade_id, price, volume, conditions FROM trades"
            )
        ]
        return Tables(
            trades,
            _bars(connection, "daily_aggregates", ("symbol", "trading_day")),
            _bars(connection, "minute_bars", ("symbol", "trading_day", "bucket_start")),
        )


def read_news_ids(database: Path) -> list[tuple[str, int]]:
    """(symbol, article id) of every row of table `news`, duplicates included."""
    with closing(sqlite3.connect(database)) as connection:
        return connection.execute("SELECT symbol, article_id FROM news").fetchall()
