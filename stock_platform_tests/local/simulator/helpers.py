"""Test helpers: a websocket client that reads with a deadline, and frame inspection."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import websocket

READ_TIMEOUT_S = 5.0


class WsClient:
    """A websocket-client connection with helpers to subscribe and collect frames."""

    def __init__(self, url: str) -> None:
        self.ws = websocket.create_connection(url, timeout=READ_TIMEOUT_S, skip_utf8_validation=True)

    def send(self, message: dict[str, Any] | str) -> None:
        self.ws.send(message if isinstance(message, str) else json.dumps(message))

    def subscribe(self, *symbols: str) -> None:
        for symbol in symbols:
            self.send({"type": "subscribe", "symbol": symbol})

    def unsubscribe(self, *symbols: str) -> None:
        for symbol in symbols:
            self.send({"type": "unsubscribe", "symbol": symbol})

    def recv_text(self, timeout_s: float = READ_TIMEOUT_S) -> str:
        self.ws.settimeout(timeout_s)
        return self.ws.recv()

    def frames_for(self, seconds: float) -> list[str]:
        """Every text frame received during `seconds`."""
        frames = []
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                frames.append(self.recv_text(remaining))
            except websocket.WebSocketTimeoutException:
                break
        return frames

    def next_matching(
        self, predicate: Callable[[dict[str, Any]], bool], timeout_s: float = READ_TIMEOUT_S
    ) -> dict[str, Any]:
        """The first JSON frame satisfying `predicate`; fails the test when none arrives in time."""
        deadline = time.monotonic() + timeout_s
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                frame = json.loads(self.recv_text(remaining))
            except websocket.WebSocketTimeoutException:
                break
            if predicate(frame):
                return frame
        raise AssertionError(f"no matching frame within {timeout_s}s")

    def close(self) -> None:
        self.ws.close()


def wait_for(predicate: Callable[[], bool], timeout_s: float = READ_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s")
        time.sleep(0.01)


def trade_frames(frames: list[str]) -> list[dict[str, Any]]:
    parsed = [json.loads(frame) for frame in frames]
    return [frame for frame in parsed if frame.get("type") == "trade"]


def symbols_in(frames: list[str]) -> set[str]:
    return {trade["s"] for frame in trade_frames(frames) for trade in frame["data"]}
