"""Websocket clients of the simulator: their subscriptions and everything sent to them."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from stock_platform_local.simulator.feed_stats import FeedStats
from stock_platform_local.simulator.market import TradeBatch, TradeGenerator
from stock_platform_local.simulator.recording import RecordedFrame
from stock_platform_local.simulator.sent_log import SentLog

PING_FRAME = '{"type":"ping"}'
_FRAME_HEAD = '{"data":['
_FRAME_TAIL = '],"type":"trade"}'


def error_frame(message: str) -> str:
    return json.dumps({"type": "error", "msg": message}, separators=(",", ":"))


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(eq=False)
class Client:
    """One websocket connection and the symbols it subscribed to."""

    id: int
    ws: web.WebSocketResponse
    transport: asyncio.BaseTransport | None
    symbols: set[str] = field(default_factory=set)
    symbol_ids: set[int] = field(default_factory=set)


class Hub:
    """Routes trade frames to the clients subscribed to their symbols and keeps the books."""

    def __init__(
        self, generator: TradeGenerator, frame_size: int, max_symbols: int, sent_log: SentLog | None = None
    ) -> None:
        self.generator = generator
        self.stats = FeedStats()
        self.clients: dict[int, Client] = {}
        self.paused = False
        self._frame_size = frame_size
        self._max_symbols = max_symbols
        self._sent_log = sent_log
        self._next_id = 1
        self._active_ids: frozenset[int] = frozenset()
        self._playable = asyncio.Event()
        self._closing: set[asyncio.Task[Any]] = set()
        self.replay_passes = 0

    def connect(self, ws: web.WebSocketResponse, transport: asyncio.BaseTransport | None) -> Client:
        client = Client(self._next_id, ws, transport)
        self._next_id += 1
        self.clients[client.id] = client
        self.stats.connections_accepted += 1
        return client

    def disconnect(self, client: Client) -> None:
        if self.clients.pop(client.id, None) is not None:
            self._subscriptions_changed()

    def subscribe(self, client: Client, symbol: str) -> str | None:
        """Add a subscription; returns an error message when the connection's symbol limit is reached."""
        if symbol in client.symbols:
            return None
        if len(client.symbols) >= self._max_symbols:
            return (
                f"Subscribing to too many symbols: the limit is {self._max_symbols} per connection ({symbol} refused)"
            )
        client.symbols.add(symbol)
        client.symbol_ids.add(self.generator.symbol_id(symbol))
        self._subscriptions_changed()
        return None

    def unsubscribe(self, client: Client, symbol: str) -> None:
        if symbol in client.symbols:
            client.symbols.discard(symbol)
            client.symbol_ids.discard(self.generator.symbol_id(symbol))
            self._subscriptions_changed()

    def subscribed_symbols(self) -> set[str]:
        return set().union(*(client.symbols for client in self.clients.values()))

    def _subscriptions_changed(self) -> None:
        symbols = self.subscribed_symbols()
        self.generator.set_active(symbols)
        self._active_ids = frozenset(self.generator.symbol_id(symbol) for symbol in symbols)
        self._update_playable()

    def pause(self) -> None:
        self.paused = True
        self._update_playable()

    def resume(self) -> None:
        self.paused = False
        self._update_playable()

    def _update_playable(self) -> None:
        if not self.paused and self._active_ids:
            self._playable.set()
        else:
            self._playable.clear()

    def is_playable(self) -> bool:
        return self._playable.is_set()

    async def wait_playable(self) -> None:
        """Return once trading is not paused and at least one client holds a subscription."""
        await self._playable.wait()

    async def _send(self, client: Client, frame: str) -> bool:
        """Send one frame; a connection that fails is forgotten (its handler sees the close)."""
        if client.ws.closed:
            self.disconnect(client)
            return False
        try:
            try:
                await client.ws.send_str(frame)
            except UnicodeEncodeError:
                # A recorded or injected frame that was not valid UTF-8 goes out as the original bytes.
                await client.ws.send_frame(frame.encode("utf-8", errors="surrogateescape"), WSMsgType.TEXT)
        except (ConnectionError, RuntimeError):
            self.disconnect(client)
            return False
        return True

    async def send_error(self, client: Client, message: str) -> None:
        if await self._send(client, error_frame(message)):
            self.stats.errors += 1

    async def send_pings(self) -> None:
        for client in list(self.clients.values()):
            if await self._send(client, PING_FRAME):
                self.stats.pings += 1

    async def send_trade_batch(self, batch: TradeBatch) -> None:
        """Send each subscribed client its share of `batch`, `frame_size` trades per frame."""
        sends = []
        for client in list(self.clients.values()):
            if client.symbol_ids >= self._active_ids:
                ids, trades = batch.symbol_ids, batch.trades
            else:
                wanted = client.symbol_ids
                picked = [
                    (symbol_id, trade)
                    for symbol_id, trade in zip(batch.symbol_ids, batch.trades, strict=True)
                    if symbol_id in wanted
                ]
                ids, trades = [pair[0] for pair in picked], [pair[1] for pair in picked]
            if trades:
                sends.append(self._send_trades(client, ids, trades))
        if len(sends) == 1:
            await sends[0]
        elif sends:
            await asyncio.gather(*sends)
        if self._sent_log is not None:
            self._sent_log.flush()

    async def _send_trades(self, client: Client, ids: list[int], trades: list[str]) -> None:
        size = self._frame_size
        sent_at_ms = _now_ms()
        frames_by_id: Counter[int] = Counter()
        frames = sent = 0
        for start in range(0, len(trades), size):
            chunk = trades[start : start + size]
            frame = _FRAME_HEAD + ",".join(chunk) + _FRAME_TAIL
            if not await self._send(client, frame):
                break
            if self._sent_log is not None:
                self._sent_log.write(client.id, sent_at_ms, frame)
            frames_by_id.update(set(ids[start : start + size]))
            frames += 1
            sent = start + len(chunk)
        instruments = self.generator.instruments
        self.stats.record_frames(
            frames,
            {instruments[symbol_id].symbol: count for symbol_id, count in Counter(ids[:sent]).items()},
            {instruments[symbol_id].symbol: count for symbol_id, count in frames_by_id.items()},
        )

    async def send_recorded(self, frame: RecordedFrame) -> int:
        """Send a recorded frame verbatim to clients subscribed to any of its symbols; returns recipients."""
        recipients = [
            client
            for client in list(self.clients.values())
            if client.symbols and (not frame.trades_by_symbol or not client.symbols.isdisjoint(frame.trades_by_symbol))
        ]
        reached = 0
        for client in recipients:
            if await self._send(client, frame.text):
                reached += 1
                self.stats.replayed_frames += 1
                if frame.trades_by_symbol:
                    self.stats.record_trade_frame(frame.trades_by_symbol)
                self._log(client, frame.text)
        return reached

    async def inject(self, text: str) -> int:
        """Send `text` verbatim to every connected client; returns how many it reached."""
        reached = 0
        for client in list(self.clients.values()):
            if await self._send(client, text):
                reached += 1
                self.stats.injected_frames += 1
                self._log(client, text)
        return reached

    def _log(self, client: Client, frame: str) -> None:
        if self._sent_log is not None:
            self._sent_log.write(client.id, _now_ms(), frame)
            self._sent_log.flush()

    def drop_all(self, abort: bool = False) -> int:
        """Drop every connection: a close frame (1001 going away) or, with `abort`, a bare TCP reset."""
        clients = list(self.clients.values())
        for client in clients:
            self.disconnect(client)
            if abort and client.transport is not None:
                client.transport.abort()
            else:
                task = asyncio.create_task(
                    client.ws.close(code=WSCloseCode.GOING_AWAY, message=b"dropped by simulator")
                )
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
        self.stats.connections_dropped += len(clients)
        return len(clients)

    async def close_all(self) -> None:
        """Close every connection (server shutdown) and wait for the closes to finish."""
        clients = list(self.clients.values())
        for client in clients:
            self.disconnect(client)
        await asyncio.gather(
            *(client.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown") for client in clients),
            *self._closing,
            return_exceptions=True,
        )

    def snapshot(self) -> dict[str, Any]:
        """Stats for /_sim/stats: connections, subscriptions and what was sent."""
        subscriptions = Counter(symbol for client in self.clients.values() for symbol in client.symbols)
        return {
            "connections": len(self.clients),
            "paused": self.paused,
            "replay_passes": self.replay_passes,
            "subscriptions": dict(sorted(subscriptions.items())),
            "clients": [{"id": client.id, "symbols": sorted(client.symbols)} for client in self.clients.values()],
            **self.stats.as_dict(),
        }
