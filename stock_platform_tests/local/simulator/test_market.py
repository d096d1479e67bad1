from __future__ import annotations

import json

import pytest

from stock_platform_local.simulator.instruments import InstrumentKind, instrument_kind, starting_price
from stock_platform_local.simulator.market import TradeGenerator

SYMBOLS = ["AAPL", "MSFT", "BINANCE:BTCUSDT", "BINANCE:XRPUSDT", "OANDA:EUR_USD", "ZZZQ"]


def _run(seed, batches=20, count=200):
    generator = TradeGenerator(seed)
    generator.set_active(SYMBOLS)
    trades = []
    for index in range(batches):
        generator.advance(0.05)
        trades.extend(json.loads(text) for text in generator.generate(count, 1_700_000_000_000 + 50 * index).trades)
    return trades


def test_same_seed_same_trades():
    assert _run(seed=11) == _run(seed=11)
    assert _run(seed=11) != _run(seed=12)


def test_prices_stay_positive_and_near_their_starting_level():
    for trade in _run(seed=3, batches=200):
        assert 0.8 < trade["p"] / starting_price(trade["s"]) < 1.25
        assert trade["v"] > 0


@pytest.mark.parametrize(
    ("symbol", "kind"),
    [("AAPL", InstrumentKind.EQUITY), ("BINANCE:BTCUSDT", InstrumentKind.CRYPTO), ("OANDA:EUR_USD", InstrumentKind.FX)],
)
def test_instrument_kinds(symbol, kind):
    assert instrument_kind(symbol) is kind


def test_unknown_symbols_get_a_stable_plausible_price():
    assert starting_price("ZZZQ") == starting_price("ZZZQ")
    assert 10 <= starting_price("ZZZQ") <= 500
    assert 0.1 <= starting_price("KRAKEN:FOOUSD") <= 1000


def test_timestamps_never_go_backwards_even_when_the_clock_does():
    generator = TradeGenerator(1)
    generator.set_active(["AAPL"])
    first = [json.loads(text)["t"] for text in generator.generate(50, 1_700_000_001_000).trades]
    second = [json.loads(text)["t"] for text in generator.generate(50, 1_700_000_000_000).trades]

    assert first + second == sorted(first + second)
    assert second[0] >= first[-1]


def test_only_active_symbols_trade():
    generator = TradeGenerator(1)
    generator.set_active(["AAPL", "MSFT"])
    generator.set_active(["MSFT"])

    batch = generator.generate(100, 1_700_000_000_000)

    assert {json.loads(text)["s"] for text in batch.trades} == {"MSFT"}
    assert TradeGenerator(1).generate(10, 1_700_000_000_000).trades == []
