import pytest

from stock_platform.defs.finnhub.resources import FinnhubConfigError, FinnhubResource
from stock_platform.finnhub.settings import DEFAULT_SYMBOLS
from stock_platform.finnhub.websocket import TooManySymbolsError


def test_default_symbols_cover_us_tech_and_crypto():
    symbols = FinnhubResource().symbol_list()
    assert symbols == DEFAULT_SYMBOLS.split(",")
    assert len([symbol for symbol in symbols if ":" not in symbol]) == 20
    assert "BINANCE:BTCUSDT" in symbols


def test_symbol_list_tolerates_spaces_and_empty_items():
    assert FinnhubResource(symbols=" AAPL, ,MSFT ,").symbol_list() == ["AAPL", "MSFT"]


def test_real_finnhub_without_a_token_is_a_clear_error():
    with pytest.raises(FinnhubConfigError, match="FINNHUB_API_KEY is not set"):
        FinnhubResource(api_key="").stream_settings()


def test_simulator_needs_no_token():
    settings = FinnhubResource(ws_url="ws://127.0.0.1:8765/", api_key="").stream_settings()
    assert settings.token is None
    assert settings.connect_url() == "ws://127.0.0.1:8765/"


def test_token_is_passed_to_the_stream_but_not_shown():
    settings = FinnhubResource(api_key="tok123").stream_settings()
    assert settings.connect_url() == "wss://ws.finnhub.io?token=tok123"
    assert "tok123" not in repr(settings)


def test_too_many_symbols_for_the_plan_is_refused():
    with pytest.raises(TooManySymbolsError):
        FinnhubResource(api_key="t", symbols=",".join(f"S{i}" for i in range(51))).stream_settings()


@pytest.mark.parametrize(("url", "source"), [("wss://ws.finnhub.io", "finnhub"), ("ws://127.0.0.1:1/", "simulator")])
def test_source_name_says_where_trades_came_from(url, source):
    assert FinnhubResource(ws_url=url).source_name() == source
