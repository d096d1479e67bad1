"""Recorded websocket frames: the JSONL replay format shared by the recorder, the replayer and the sent log."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


class RecordingError(ValueError):
    """A recording file cannot be replayed."""


@dataclass(frozen=True)
class RecordedFrame:
    """One frame exactly as received, with the trades per symbol it carries (empty for non-trade frames)."""

    received_at_ms: int
    text: str
    trades_by_symbol: dict[str, int] = field(default_factory=dict)


def recording_line(received_at_ms: int, frame: str) -> str:
    """One line of the replay format (without the newline)."""
    return json.dumps({"received_at_ms": received_at_ms, "frame": frame})


def trades_by_symbol(text: str) -> dict[str, int]:
    """Symbols of a Finnhub trade frame with their trade counts; empty for anything else, malformed included."""
    try:
        document = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(document, dict) or document.get("type") != "trade" or not isinstance(document.get("data"), list):
        return {}
    return dict(
        Counter(trade["s"] for trade in document["data"] if isinstance(trade, dict) and isinstance(trade.get("s"), str))
    )


def load_recording(path: Path) -> list[RecordedFrame]:
    """Read a replay file; raises RecordingError naming the first bad line."""
    frames = []
    with Path(path).open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                received_at_ms, text = entry["received_at_ms"], entry["frame"]
            except (ValueError, TypeError, KeyError):
                raise RecordingError(
                    f'{path} line {number}: expected {{"received_at_ms": int, "frame": str}}'
                ) from None
            if type(received_at_ms) is not int or not isinstance(text, str):
                raise RecordingError(f"{path} line {number}: received_at_ms must be an integer and frame a string")
            frames.append(RecordedFrame(received_at_ms, text, trades_by_symbol(text)))
    if not frames:
        raise RecordingError(f"{path} holds no frames to replay")
    return frames
