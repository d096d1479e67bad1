"""Finnhub websocket protocol: subscription messages and frame classification."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class FrameKind(Enum):
    """What a websocket frame turned out to be."""

    TRADE = "trade"
    PING = "ping"
    ERROR = "error"
    MALFORMED = "malformed"


@dataclass(slots=True)
class Frame:
    """A classified frame: trade dicts for TRADE, a message for ERROR/MALFORMED."""

    kind: FrameKind
    trades: list[Any] = field(default_factory=list)
    message: str = ""


def subscribe_message(symbol: str) -> str:
    return json.dumps({"type": "subscribe", "symbol": symbol})


def unsubscribe_message(symbol: str) -> str:
    return json.dumps({"type": "unsubscribe", "symbol": symbol})


def classify_frame(raw: str | bytes) -> Frame:
    """Parse one frame; never raises on bad input (it becomes MALFORMED with a reason)."""
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        return Frame(FrameKind.MALFORMED, message=f"not valid JSON: {error}")
    except RecursionError:
        return Frame(FrameKind.MALFORMED, message="JSON nested deeper than the parser's recursion limit")
    if not isinstance(document, dict):
        return Frame(FrameKind.MALFORMED, message=f"frame is a JSON {type(document).__name__}, expected an object")
    frame_type = document.get("type")
    if frame_type == "trade":
        data = document.get("data")
        if not isinstance(data, list):
            return Frame(FrameKind.MALFORMED, message="trade frame without a 'data' array")
        return Frame(FrameKind.TRADE, trades=data)
    if frame_type == "ping":
        return Frame(FrameKind.PING)
    if frame_type == "error":
        return Frame(FrameKind.ERROR, message=str(document.get("msg", "")))
    return Frame(FrameKind.MALFORMED, message=f"unknown frame type {frame_type!r}")
