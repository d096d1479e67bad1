import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


_ANY_VALUE = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=70), st.lists(st.text(max_size=40), max_size=40),
    st.lists(st.one_of(st.integers(), st.text(max_size=3), st.lists(st.integers(), max_size=2)), max_size=3),
    st.sampled_from(["AAPL", " AAPL", "", "\ud800", "BINANCE:BTCUSDT", 190.5, 0, NOW_MS, NOW_MS + 10**9, ["1"], ["x" * 33]]),
)
_TRADES = st.one_of(
    st.dictionaries(st.sampled_from(["s", "p", "t", "v", "c", "x"]), _ANY_VALUE, max_size=6),
    st.builds(_trade, s=_ANY_VALUE, p=_ANY_VALUE, t=_ANY_VALUE, v=_ANY_VALUE, c=_ANY_VALUE),
    st.lists(st.integers(), max_size=3),
    st.text(max_size=3),
)


@settings(max_examples=3000, deadline=None)
@given(trade=_TRADES)
def test_the_quick_check_never_accepts_what_the_full_check_rejects(trade):
    validator = TradeValidator(clock=lambda: NOW_MS / 1000)
    for _ in range(2):  # the second time from the validator's memory of valid symbols and conditions
        before = repr(trade)
        accepted = validator.accepts(trade, NOW_MS)
        assert repr(trade) == before
        assert not accepted or validator.problem(trade, NOW_MS) is None


@pytest.mark.parametrize("trade", [_trade(), _trade(c=None), _trade(v=0.0, s="BINANCE:BTCUSDT"), _trade(c=["é"])])
def test_the_quick_check_accepts_the_usual_trade(validator, trade):
    assert validator.accepts(trade, NOW_MS)


@pytest.mark.parametrize("trade", [_trade(p=float("inf")), _trade(v=float("inf"))])
def test_with_infinite_limits_the_quick_check_still_refuses_the_infinity_the_full_check_rejects(trade):
    inf = float("inf")
    validator = TradeValidator(TradeLimits(max_price=inf, max_volume=inf), clock=lambda: NOW_MS / 1000)
    assert validator.problem(trade, NOW_MS) is not None
    assert not validator.accepts(trade, NOW_MS)
    assert validator.accepts(_trade(p=1e308, v=1e308), NOW_MS)
