"""FinnhubResource: endpoints, token and symbols for the Finnhub websocket and REST APIs."""

from __future__ import annotations

from urllib.parse import urlsplit

import dagster as dg
from pydantic import Field

from stock_platform.core.finnhub_ws import StreamSettings

DEFAULT_SYMBOLS = (
    "AAPL,AMZN,MSFT,GOOGL,META,NVDA,TSLA,NFLX,ADBE,INTC,AMD,ORCL,CRM,CSCO,QCOM,AVGO,TXN,IBM,PYPL,UBER,"
    "BINANCE:BTCUSDT,BINANCE:ETHUSDT"
)


class FinnhubConfigError(ValueError):
    """The Finnhub settings cannot work as given."""


class FinnhubResource(dg.ConfigurableResource):
    """Finnhub (or the local simulator, which speaks the same protocols)."""

    api_key: str | None = Field(default=None, description="Secret: FINNHUB_API_KEY through dg.EnvVar only.")
    ws_url: str = "wss://ws.finnhub.io"
    rest_url: str = "https://finnhub.io/api/v1"
    symbols: str = Field(default=DEFAULT_SYMBOLS, description="Comma-separated symbols to subscribe to.")
    max_symbols: int = Field(default=50, description="Symbols the plan allows on one websocket.")
    keepalive_interval_s: float = 20.0
    idle_timeout_s: float = 60.0

    def symbol_list(self) -> list[str]:
        return [symbol.strip() for symbol in self.symbols.split(",") if symbol.strip()]

    def is_real_finnhub(self) -> bool:
        return (urlsplit(self.ws_url).hostname or "").endswith("finnhub.io")

    def source_name(self) -> str:
        return "finnhub" if self.is_real_finnhub() else "simulator"

    def stream_settings(self) -> StreamSettings:
        """Websocket settings; raises a one-line error for a missing token or a bad symbol list."""
        if self.is_real_finnhub() and not self.api_key:
            raise FinnhubConfigError(
                "FINNHUB_API_KEY is not set: get a free key at finnhub.io, or unset FINNHUB_WS_URL to use the simulator"
            )
        return StreamSettings(
            url=self.ws_url,
            symbols=self.symbol_list(),
            token=self.api_key or None,
            max_symbols=self.max_symbols,
            keepalive_interval_s=self.keepalive_interval_s,
            idle_timeout_s=self.idle_timeout_s,
        )
