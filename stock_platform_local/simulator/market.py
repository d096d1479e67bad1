"""The simulated market: a mean-reverting random walk per symbol, emitted as pre-serialised trades."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass

from stock_platform_local.simulator.instruments import (
    CONDITION_POOL_SIZE,
    NOISE_POOL_SIZE,
    VOLUME_POOL_SIZE,
    Instrument,
    InstrumentKind,
    build_instrument,
)

# Volatility per sqrt(second) of the mid price: ~1.8 % per hour for equities, more for crypto.
_VOLATILITY = {InstrumentKind.EQUITY: 0.0003, InstrumentKind.CRYPTO: 0.0005, InstrumentKind.FX: 0.00005}
# Pull back toward the starting level with a half-life of about an hour, so long runs stay plausible.
_MEAN_REVERSION_PER_S = math.log(2) / 3600
# Trades scatter around the mid by about one basis point (bid/ask bounce).
_TRADE_NOISE = 0.0001


@dataclass(slots=True)
class TradeBatch:
    """Trades of one tick in time order: `symbol_ids[i]` is the symbol of the JSON object `trades[i]`."""

    symbol_ids: list[int]
    trades: list[str]


class TradeGenerator:
    """Produces batches of Finnhub trade objects for the currently active symbols.

    Prices follow a geometric random walk in wall-clock time (independent of the trade rate), so the
    same symbol looks alike at 10 or 100k trades/s. Timestamps never go backwards.
    """

    def __init__(self, seed: int | None = None) -> None:
        self._seed = seed
        self._rng = random.Random(seed)
        self._noise = [1.0 + self._rng.gauss(0.0, _TRADE_NOISE) for _ in range(NOISE_POOL_SIZE)]
        self._ids: dict[str, int] = {}
        self.instruments: list[Instrument] = []
        self._log_mid: list[float] = []
        self._active: list[int] = []
        self._cum_weights: list[float] = []
        self._last_ms = 0

    def symbol_id(self, symbol: str) -> int:
        """Stable id of `symbol`, registering it (with its starting price) on first use."""
        known = self._ids.get(symbol)
        if known is not None:
            return known
        instrument = build_instrument(symbol, self._seed)
        self._ids[symbol] = len(self.instruments)
        self.instruments.append(instrument)
        self._log_mid.append(math.log(instrument.start_price))
        return self._ids[symbol]

    def set_active(self, symbols: Iterable[str]) -> None:
        """Trade only these symbols from now on."""
        self._active = sorted(self.symbol_id(symbol) for symbol in set(symbols))
        self._cum_weights = list(itertools.accumulate(self.instruments[i].weight for i in self._active))

    @property
    def active_symbols(self) -> list[str]:
        return [self.instruments[i].symbol for i in self._active]

    def mid_price(self, symbol: str) -> float:
        return math.exp(self._log_mid[self.symbol_id(symbol)])

    def advance(self, elapsed_s: float) -> None:
        """Move every active mid price by `elapsed_s` seconds of random walk."""
        if elapsed_s <= 0:
            return
        gauss = self._rng.gauss
        root = math.sqrt(elapsed_s)
        pull = min(1.0, _MEAN_REVERSION_PER_S * elapsed_s)
        for index in self._active:
            instrument = self.instruments[index]
            anchor = math.log(instrument.start_price)
            log_mid = self._log_mid[index]
            self._log_mid[index] = (
                log_mid + pull * (anchor - log_mid) + _VOLATILITY[instrument.kind] * root * gauss(0.0, 1.0)
            )

    def generate(self, count: int, now_ms: int) -> TradeBatch:
        """`count` trades spread over the milliseconds since the previous batch, ending at `now_ms`."""
        if count <= 0 or not self._active:
            return TradeBatch([], [])
        start_ms = self._last_ms or now_ms
        end_ms = max(now_ms, start_ms)
        self._last_ms = end_ms
        symbol_ids = self._rng.choices(self._active, cum_weights=self._cum_weights, k=count)
        draws = [self._rng.getrandbits(25) for _ in range(count)]
        span = end_ms - start_ms
        mids = [math.exp(value) for value in self._log_mid]
        instruments = self.instruments
        noise = self._noise
        trades = [
            (instrument := instruments[symbol_id]).template
            % (
                instrument.conditions[(draw >> 9) & (CONDITION_POOL_SIZE - 1)],
                mids[symbol_id] * noise[(draw >> 15) & (NOISE_POOL_SIZE - 1)],
                start_ms + (position * span) // count + (span > 0),
                instrument.volumes[draw & (VOLUME_POOL_SIZE - 1)],
            )
            for position, (symbol_id, draw) in enumerate(zip(symbol_ids, draws, strict=True))
        ]
        return TradeBatch(symbol_ids, trades)
