"""Finnhub's settings model: endpoints, token and symbols, each with its environment variable and default."""

from __future__ import annotations

from stock_platform.settings import DATA_DIR, REDIS_URL, EnvSettings, env_field, secret_field

DEFAULT_SYMBOLS = (
    "AAPL,AMZN,MSFT,GOOGL,META,NVDA,TSLA,NFLX,ADBE,INTC,AMD,ORCL,CRM,CSCO,QCOM,AVGO,TXN,IBM,PYPL,UBER,"
    "BINANCE:BTCUSDT,BINANCE:ETHUSDT"
)


class FinnhubEnv(EnvSettings):
    """Finnhub (or the local simulator, which speaks the same protocols) as the environment configures it."""

    api_key: str | None = secret_field("FINNHUB_API_KEY", "Finnhub token; unset: the simulator locally")
    ws_url: str = env_field("FINNHUB_WS_URL", "wss://ws.finnhub.io", "Trade websocket endpoint")
    rest_url: str = env_field("FINNHUB_REST_URL", "https://finnhub.io/api/v1", "REST endpoint (company news)")
    symbols: str = env_field("FINNHUB_SYMBOLS", DEFAULT_SYMBOLS, "Comma-separated symbols to subscribe to")
    # A Redis URL may carry the server's password (redis://:password@host): REDIS_URL is redacted.
    rate_limit_redis_url: str | None = REDIS_URL.field("Redis holding the shared REST rate limit; unset: an SQLite file")
    rate_limit_dir: str = DATA_DIR.field("Folder of the SQLite rate-limit bucket")
