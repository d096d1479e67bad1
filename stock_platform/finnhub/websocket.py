"""Finnhub trade websocket client: subscribe, keep alive, reconnect with backoff and jitter."""

from __future__ import annotations

import itertools
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit, urlunsplit

import websocket

from stock_platform.finnhub.protocol import subscribe_message

logger = logging.getLogger(__name__)

FrameCallback = Callable[[str | bytes, int], None]


def full_jitter(delay: float) -> float:
    """A random wait in [0, delay] ("full jitter"), so many clients dropped at once do not reconnect in step."""
    return random.uniform(0, delay)


def exponential_delays(initial_s: float, max_s: float) -> Iterator[float]:
    """initial_s, 2 x initial_s, 4 x initial_s, ... capped at max_s."""
    return (min(max_s, initial_s * 2**attempt) for attempt in itertools.count())


class FinnhubAuthError(RuntimeError):
    """Finnhub refused the API key; retrying cannot help."""


class TooManySymbolsError(ValueError):
    """More symbols than the Finnhub plan allows on one websocket."""


@dataclass(frozen=True)
class StreamSettings:
    """Websocket endpoint, credentials and timing."""

    url: str
    symbols: Sequence[str]
    token: str | None = field(default=None, repr=False)
    max_symbols: int = 50
    connect_timeout_s: float = 10.0
    keepalive_interval_s: float = 20.0
    idle_timeout_s: float = 60.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    # Only a connection that stayed up this long resets the backoff: a server that accepts and then drops
    # us (or the token's plan limit) must not be hammered, each attempt resubscribing every symbol.
    healthy_after_s: float = 60.0

    def __post_init__(self) -> None:
        if not self.symbols:
            raise ValueError("no symbols configured: set FINNHUB_SYMBOLS to a comma-separated list, e.g. AAPL,MSFT")
        if len(self.symbols) > self.max_symbols:
            raise TooManySymbolsError(
                f"{len(self.symbols)} symbols configured but the Finnhub plan allows {self.max_symbols} per websocket; "
                "remove symbols or raise max_symbols if your plan allows more"
            )

    def connect_url(self) -> str:
        if not self.token:
            return self.url
        parts = urlsplit(self.url)
        query = f"{parts.query}&{urlencode({'token': self.token})}" if parts.query else urlencode({"token": self.token})
        return urlunsplit(parts._replace(query=query))


class FinnhubStream:
    """Delivers every websocket frame to a callback until told to stop; survives dropped connections."""

    _RECV_POLL_S = 0.5

    def __init__(self, settings: StreamSettings, stop_event: threading.Event | None = None) -> None:
        self._settings = settings
        self.stop_event = stop_event or threading.Event()
        self.connections = 0
        self.reconnects = 0

    def run(self, on_frame: FrameCallback, on_tick: Callable[[], None] | None = None) -> None:
        """Connect, subscribe and pump frames into `on_frame(raw, received_at_ms)` until stopped.

        `on_tick` is called about every half second, busy or idle, so the caller can report or end a window.
        """
        delays = self._new_delays()
        while not self.stop_event.is_set():
            try:
                ws = self._connect()
            except FinnhubAuthError:
                raise
            except (OSError, websocket.WebSocketException) as error:
                delay = full_jitter(next(delays))
                logger.warning("Finnhub connect failed (%s); retrying in %.1fs", self._describe(error), delay)
                self._wait(delay, on_tick)
                continue
            connected_at = time.monotonic()
            try:
                self._pump(ws, on_frame, on_tick)
            except (OSError, websocket.WebSocketException) as error:
                lost = self._describe(error)
            finally:
                ws.close()
            if self.stop_event.is_set():
                break
            self.reconnects += 1
            uptime = time.monotonic() - connected_at
            if uptime >= self._settings.healthy_after_s:
                delays = self._new_delays()
            delay = full_jitter(next(delays))
            logger.warning("Finnhub connection lost after %.1fs (%s); reconnecting in %.1fs", uptime, lost, delay)
            self._wait(delay, on_tick)

    def _new_delays(self) -> Iterator[float]:
        return exponential_delays(self._settings.backoff_initial_s, self._settings.backoff_max_s)

    def _connect(self) -> websocket.WebSocket:
        try:
            ws = websocket.create_connection(
                self._settings.connect_url(),
                timeout=self._settings.connect_timeout_s,
                skip_utf8_validation=True,
            )
        except websocket.WebSocketBadStatusException as error:
            if error.status_code in (401, 403):
                raise FinnhubAuthError(
                    f"Finnhub rejected the API key (HTTP {error.status_code}); check FINNHUB_API_KEY"
                ) from None
            raise
        try:
            for symbol in self._settings.symbols:
                ws.send(subscribe_message(symbol))
        except BaseException:
            ws.close()
            raise
        ws.settimeout(self._RECV_POLL_S)
        self.connections += 1
        logger.info(
            "Connected to %s and subscribed to %d symbols", _safe_url(self._settings.url), len(self._settings.symbols)
        )
        return ws

    def _pump(self, ws: websocket.WebSocket, on_frame: FrameCallback, on_tick: Callable[[], None] | None) -> None:
        """Receive until stopped; raises when the connection dies or stays silent."""
        last_frame_at = last_keepalive_at = last_tick_at = time.monotonic()
        while not self.stop_event.is_set():
            try:
                opcode, payload = ws.recv_data()
            except websocket.WebSocketTimeoutException:
                opcode, payload = None, b""
            now = time.monotonic()
            if opcode in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
                on_frame(payload, int(time.time() * 1000))
                last_frame_at = now
            elif opcode == websocket.ABNF.OPCODE_CLOSE:
                raise websocket.WebSocketConnectionClosedException("server closed the connection")
            if now - last_frame_at > self._settings.idle_timeout_s:
                raise websocket.WebSocketTimeoutException(f"no frame for {self._settings.idle_timeout_s:.0f}s")
            if now - last_keepalive_at > self._settings.keepalive_interval_s:
                ws.ping()
                last_keepalive_at = now
            if on_tick is not None and now - last_tick_at >= self._RECV_POLL_S:
                on_tick()
                last_tick_at = now

    def _describe(self, error: BaseException) -> str:
        text = f"{type(error).__name__}: {error}"
        return text.replace(self._settings.token, "***") if self._settings.token else text

    def _wait(self, seconds: float, on_tick: Callable[[], None] | None) -> None:
        deadline = time.monotonic() + seconds
        while not self.stop_event.is_set() and (remaining := deadline - time.monotonic()) > 0:
            self.stop_event.wait(min(remaining, self._RECV_POLL_S))
            if on_tick is not None:
                on_tick()


def _safe_url(url: str) -> str:
    """The URL without its query string, where Finnhub carries the token."""
    return urlunsplit(urlsplit(url)._replace(query=""))
