import pytest

from stock_platform.ingest.validation import TradeLimits, TradeValidator

NOW_MS = 1_760_000_000_000


def _trade(**overrides):
    trade = {"s": "AAPL", "p": 190.5, "t": NOW_MS - 1000, "v": 100, "c": ["1", "12"]}
    trade.update(overrides)
    return trade


@pytest.fixture
def validator():
    return TradeValidator(clock=lambda: NOW_MS / 1000)


@pytest.mark.parametrize(
    "trade",
    [
        _trade(),
        _trade(v=0),
        _trade(v=0.0001, s="BINANCE:BTCUSDT"),
        _trade(c=None),
        {"s": "AAPL", "p": 1, "t": NOW_MS, "v": 1},
    ],
)
def test_valid_trades_pass(validator, trade):
    assert validator.problem(trade) is None


def test_missing_conditions_are_normalised_to_none(validator):
    trade = {"s": "AAPL", "p": 1.0, "t": NOW_MS, "v": 1}
    validator.problem(trade)
    assert trade["c"] is None


@pytest.mark.parametrize(
    ("trade", "reason"),
    [
        ("AAPL", "expected an object"),
        (_trade(s=""), "symbol"),
        (_trade(s=None), "symbol"),
        (_trade(s=" AAPL"), "symbol"),
        (_trade(p=0), "price"),
        (_trade(p=-1.5), "price"),
        (_trade(p="190.5"), "price"),
        (_trade(p=float("nan")), "price"),
        (_trade(p=True), "price"),
        (_trade(v=-1), "volume"),
        (_trade(v=float("inf")), "volume"),
        (_trade(t=NOW_MS / 1000), "timestamp"),
        (_trade(t=1_700_000_000), "not plausible"),
        (_trade(t=NOW_MS + 3_600_000), "not plausible"),
        (_trade(t=None), "timestamp"),
        (_trade(c="1"), "conditions"),
        (_trade(c=[1, 2]), "conditions"),
        (_trade(c=["1"] * 33), "'1', ...] are not a list of at most 32 strings"),
        (_trade(c=["x" * 33]), "of at most 32 characters"),
        (_trade(p=10**400), "price 1000"),
        (_trade(s="\ud800"), "symbol"),
        (_trade(c=["\udc80"]), "conditions"),
    ],
)
def test_invalid_trades_are_rejected_with_a_reason(validator, trade, reason):
    assert reason in validator.problem(trade)


def test_limits_are_configurable():
    strict = TradeValidator(TradeLimits(max_price=100.0), clock=lambda: NOW_MS / 1000)
    assert "price" in strict.problem(_trade(p=190.5))


@pytest.mark.parametrize("value", ["x" * 100_000, [[[[["deep"]]]]], 10**4000])
def test_reasons_quote_bad_values_briefly(validator, value):
    assert len(validator.problem(_trade(p=value))) < 200
