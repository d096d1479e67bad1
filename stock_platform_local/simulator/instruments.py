"""Simulated instruments: plausible starting prices, price precision, trade sizes and condition codes."""

from __future__ import annotations

import hashlib
import json
import math
import random
from dataclasses import dataclass
from enum import Enum

# Rough 2024 levels, so dashboards show familiar numbers.
STARTING_PRICES: dict[str, float] = {
    "AAPL": 190.0,
    "MSFT": 420.0,
    "AMZN": 180.0,
    "GOOGL": 170.0,
    "GOOG": 172.0,
    "META": 500.0,
    "NVDA": 120.0,
    "TSLA": 250.0,
    "NFLX": 650.0,
    "ADBE": 500.0,
    "INTC": 30.0,
    "AMD": 160.0,
    "ORCL": 140.0,
    "CRM": 270.0,
    "CSCO": 50.0,
    "QCOM": 170.0,
    "AVGO": 170.0,
    "TXN": 200.0,
    "IBM": 190.0,
    "PYPL": 70.0,
    "UBER": 70.0,
    "SPY": 550.0,
    "QQQ": 470.0,
    "JPM": 200.0,
    "V": 280.0,
    "WMT": 70.0,
    "DIS": 100.0,
    "BA": 180.0,
    "KO": 63.0,
    "XOM": 115.0,
    "BINANCE:BTCUSDT": 60000.0,
    "BINANCE:ETHUSDT": 3000.0,
    "BINANCE:SOLUSDT": 150.0,
    "BINANCE:BNBUSDT": 580.0,
    "BINANCE:XRPUSDT": 0.55,
    "BINANCE:DOGEUSDT": 0.12,
    "BINANCE:ADAUSDT": 0.45,
    "COINBASE:BTC-USD": 60000.0,
    "COINBASE:ETH-USD": 3000.0,
    "OANDA:EUR_USD": 1.08,
    "OANDA:GBP_USD": 1.27,
    "OANDA:USD_JPY": 150.0,
}

_FX_EXCHANGES = frozenset({"OANDA", "FXCM", "FOREX", "FXPRO", "IC MARKETS", "ICMTRADER", "PEPPERSTONE"})

# JSON text of Finnhub trade-condition lists as US equity trades carry them; repeats weight the draw.
_EQUITY_CONDITIONS = (
    ['"1"'] * 6 + ['"1","12"'] * 2 + ['"1","24","12"', '"1","8","24","12"', '"1","37"', '"1","14","41"']
)

VOLUME_POOL_SIZE = 512
CONDITION_POOL_SIZE = 64
NOISE_POOL_SIZE = 1024


class InstrumentKind(Enum):
    """How an instrument trades: shares, crypto units or currency units."""

    EQUITY = "equity"
    CRYPTO = "crypto"
    FX = "fx"


def instrument_kind(symbol: str) -> InstrumentKind:
    """Exchange-prefixed symbols are crypto unless the exchange is a forex venue."""
    if ":" not in symbol:
        return InstrumentKind.EQUITY
    exchange = symbol.split(":", 1)[0].upper()
    return InstrumentKind.FX if exchange in _FX_EXCHANGES else InstrumentKind.CRYPTO


def _stable_fraction(text: str) -> float:
    """A deterministic number in [0, 1) derived from `text` (independent of PYTHONHASHSEED)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2**64


def starting_price(symbol: str) -> float:
    """Known symbols start near their real level; others at a deterministic plausible price."""
    if symbol in STARTING_PRICES:
        return STARTING_PRICES[symbol]
    low, high = {
        InstrumentKind.EQUITY: (10.0, 500.0),
        InstrumentKind.CRYPTO: (0.1, 1000.0),
        InstrumentKind.FX: (0.5, 2.0),
    }[instrument_kind(symbol)]
    log_price = math.log(low) + _stable_fraction(symbol) * (math.log(high) - math.log(low))
    return round(math.exp(log_price), 2 if low >= 1 else 4)


def price_decimals(price: float, kind: InstrumentKind) -> int:
    """Cents for equities and prices above 1000; more digits for cheap coins and currencies."""
    if kind is InstrumentKind.FX:
        return 5 if price < 50 else 3
    if price >= 1000 or (kind is InstrumentKind.EQUITY and price >= 1):
        return 2
    return 4 if price >= 1 else 6


def activity_weight(symbol: str) -> float:
    """How busy a symbol is relative to others (deterministic, between 0.5 and 2)."""
    return 0.5 + 1.5 * _stable_fraction("activity:" + symbol)


@dataclass(frozen=True, slots=True)
class Instrument:
    """One symbol with pre-serialised pieces, so a trade costs one `%` format at generation time.

    `template` is a complete Finnhub trade object with four holes: conditions, price, time, volume.
    """

    symbol: str
    kind: InstrumentKind
    start_price: float
    weight: float
    template: str
    volumes: tuple[str, ...]
    conditions: tuple[str, ...]


def _equity_volumes(rng: random.Random) -> list[str]:
    """Mostly odd lots and round lots of 100, sometimes blocks of thousands."""
    sizes = []
    for _ in range(VOLUME_POOL_SIZE):
        draw = rng.random()
        if draw < 0.55:
            sizes.append(rng.randint(1, 99))
        elif draw < 0.93:
            sizes.append(100 * rng.randint(1, 5))
        else:
            sizes.append(100 * rng.randint(6, 50))
    return [str(size) for size in sizes]


def _unit_volumes(rng: random.Random, price: float, decimals: int) -> list[str]:
    """Fractional units worth roughly $5 to $50k each (log-normal notional)."""
    volumes = []
    smallest = 10.0**-decimals
    for _ in range(VOLUME_POOL_SIZE):
        notional = min(50_000.0, max(5.0, rng.lognormvariate(math.log(400.0), 1.4)))
        volumes.append(f"{max(smallest, notional / price):.{decimals}f}")
    return volumes


def build_instrument(symbol: str, seed: int | None) -> Instrument:
    """An instrument whose trade-size pool is reproducible for a given seed."""
    kind = instrument_kind(symbol)
    price = starting_price(symbol)
    rng = random.Random(f"{seed}:{symbol}")
    if kind is InstrumentKind.EQUITY:
        volumes = _equity_volumes(rng)
        conditions = [
            f"[{_EQUITY_CONDITIONS[rng.randrange(len(_EQUITY_CONDITIONS))]}]" for _ in range(CONDITION_POOL_SIZE)
        ]
    else:
        decimals = 5 if kind is InstrumentKind.CRYPTO and price >= 1000 else (2 if price >= 1 else 0)
        volumes = (
            _unit_volumes(rng, price, decimals)
            if kind is InstrumentKind.CRYPTO
            else [str(1000 * rng.randint(1, 1000)) for _ in range(VOLUME_POOL_SIZE)]
        )
        conditions = ["null"] * CONDITION_POOL_SIZE
    decimals = price_decimals(price, kind)
    template = '{"c":%s,"p":%.' + str(decimals) + 'f,"s":' + json.dumps(symbol).replace("%", "%%") + ',"t":%d,"v":%s}'
    return Instrument(symbol, kind, price, activity_weight(symbol), template, tuple(volumes), tuple(conditions))
