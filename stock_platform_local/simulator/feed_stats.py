"""Counters of what the simulator sent, per symbol and in total."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any


class FeedStats:
    """Frames and trades sent; a frame counts once for every distinct symbol it carries."""

    def __init__(self) -> None:
        self.trade_frames = 0
        self.trades = 0
        self.pings = 0
        self.errors = 0
        self.injected_frames = 0
        self.replayed_frames = 0
        self.connections_accepted = 0
        self.connections_rejected = 0
        self.connections_dropped = 0
        self.trades_skipped = 0
        self.frames_by_symbol: Counter[str] = Counter()
        self.trades_by_symbol: Counter[str] = Counter()

    def record_trade_frame(self, trades_by_symbol: Mapping[str, int]) -> None:
        self.trade_frames += 1
        self.trades += sum(trades_by_symbol.values())
        self.trades_by_symbol.update(trades_by_symbol)
        self.frames_by_symbol.update(trades_by_symbol.keys())

    def record_frames(
        self, frames: int, trades_by_symbol: Mapping[str, int], frames_by_symbol: Mapping[str, int]
    ) -> None:
        """Bulk form of `record_trade_frame` for a run of frames counted by the caller."""
        self.trade_frames += frames
        self.trades += sum(trades_by_symbol.values())
        self.trades_by_symbol.update(trades_by_symbol)
        self.frames_by_symbol.update(frames_by_symbol)

    def as_dict(self) -> dict[str, Any]:
        return {
            "trade_frames_sent": self.trade_frames,
            "trades_sent": self.trades,
            "pings_sent": self.pings,
            "errors_sent": self.errors,
            "injected_frames_sent": self.injected_frames,
            "replayed_frames_sent": self.replayed_frames,
            "connections_accepted": self.connections_accepted,
            "connections_rejected": self.connections_rejected,
            "connections_dropped": self.connections_dropped,
            "trades_skipped_behind": self.trades_skipped,
            "per_symbol": {
                symbol: {"frames": self.frames_by_symbol[symbol], "trades": self.trades_by_symbol[symbol]}
                for symbol in sorted(self.trades_by_symbol)
            },
        }
