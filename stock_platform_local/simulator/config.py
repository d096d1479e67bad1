"""Settings of the local Finnhub simulator."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


class SimulatorConfigError(ValueError):
    """The simulator settings cannot work as given."""


@dataclass(frozen=True)
class SimulatorConfig:
    """Everything the simulator can be told; defaults behave like a free-tier Finnhub key.

    Args:
        host: Interface to bind (keep 127.0.0.1 unless the simulator must be reachable from elsewhere).
        port: TCP port; 0 picks a free one.
        rate: Trades per second the simulated market produces over all subscribed symbols.
        frame_size: Most trades in one websocket frame.
        tick_s: How often the market produces a batch of trades.
        seed: Seed of the price/volume generator; None for a fresh sequence each run.
        ping_interval_s: Seconds between `{"type":"ping"}` frames; 0 disables them.
        token: When set, websocket and REST callers must present exactly this token.
        max_symbols: Subscriptions one connection may hold (Finnhub free plan: 50).
        replay_path: Play this recorded JSONL file instead of generating trades.
        replay_paced: Keep the recorded gaps between frames (else as fast as possible).
        replay_loop: Start the file again after its last frame.
        replay_speed: Divides the recorded gaps when paced (2.0 plays twice as fast).
        sent_log_path: Append every trade frame sent, in the replay format plus the connection id.
        news_per_symbol_per_day: Company-news articles about each symbol per UTC day.
        rest_calls_per_minute: REST calls allowed per minute before 429; None for no limit.
        start_paused: Send no trades (generated or replayed) until resumed through /_sim/resume.
    """

    host: str = "127.0.0.1"
    port: int = 0
    rate: float = 200.0
    frame_size: int = 50
    tick_s: float = 0.02
    seed: int | None = None
    ping_interval_s: float = 10.0
    token: str | None = field(default=None, repr=False)
    max_symbols: int = 50
    replay_path: Path | None = None
    replay_paced: bool = True
    replay_loop: bool = False
    replay_speed: float = 1.0
    sent_log_path: Path | None = None
    news_per_symbol_per_day: int = 8
    rest_calls_per_minute: int | None = None
    start_paused: bool = False

    def __post_init__(self) -> None:
        checks = [
            (self.rate >= 0, f"rate must be >= 0 trades/s (got {self.rate})"),
            (self.frame_size >= 1, f"frame_size must be >= 1 trade (got {self.frame_size})"),
            (0 < self.tick_s <= 1, f"tick_s must be in (0, 1] seconds (got {self.tick_s})"),
            (self.ping_interval_s >= 0, f"ping_interval_s must be >= 0 (got {self.ping_interval_s})"),
            (self.max_symbols >= 1, f"max_symbols must be >= 1 (got {self.max_symbols})"),
            (self.replay_speed > 0, f"replay_speed must be > 0 (got {self.replay_speed})"),
            (
                self.news_per_symbol_per_day >= 0,
                f"news_per_symbol_per_day must be >= 0 (got {self.news_per_symbol_per_day})",
            ),
            (
                self.rest_calls_per_minute is None or self.rest_calls_per_minute >= 1,
                f"rest_calls_per_minute must be >= 1 or unset (got {self.rest_calls_per_minute})",
            ),
            (0 <= self.port <= 65535, f"port must be in 0..65535 (got {self.port})"),
        ]
        for ok, message in checks:
            if not ok:
                raise SimulatorConfigError(message)
        if self.replay_path is not None and not Path(self.replay_path).is_file():
            raise SimulatorConfigError(
                f"replay file {self.replay_path} does not exist; record one with stock_platform_local.simulator.record"
            )
