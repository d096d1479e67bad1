"""FinnhubResource: endpoints, token, symbols and REST limits for the Finnhub websocket and REST APIs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import dagster as dg
from pydantic import Field

from stock_platform.finnhub.rate_limit import RateLimitSettings, open_shared_limiter
from stock_platform.finnhub.rest import FinnhubRestClient, RestSettings
from stock_platform.finnhub.settings import FinnhubEnv
from stock_platform.finnhub.websocket import StreamSettings


class FinnhubConfigError(ValueError):
    """The Finnhub settings cannot work as given."""


class FinnhubResource(dg.ConfigurableResource, FinnhubEnv):
    """Finnhub (or the local simulator, which speaks the same protocols).

    Endpoints, token, symbols and rate-limit storage are the fields of `FinnhubEnv` (with their variables);
    the plan's limits and timeouts below have no variable.
    """

    max_symbols: int = Field(default=50, description="Symbols the plan allows on one websocket.")
    keepalive_interval_s: float = 20.0
    idle_timeout_s: float = 60.0
    rest_calls_per_minute: int = Field(default=60, description="REST calls/min the plan allows (free tier: 60).")
    rest_calls_per_second: int = Field(default=30, description="REST burst limit (Finnhub: 30/s on every plan).")
    rest_connect_timeout_s: float = 5.0
    rest_read_timeout_s: float = 20.0
    rest_max_attempts: int = Field(default=5, description="Attempts per REST call (retries on 429, 5xx, network).")
    rest_max_rate_wait_s: float = Field(default=120.0, description="Longest wait for a slot of the shared limit.")

    def symbol_list(self) -> list[str]:
        return [symbol.strip() for symbol in self.symbols.split(",") if symbol.strip()]

    def is_real_finnhub(self) -> bool:
        return (urlsplit(self.ws_url).hostname or "").endswith("finnhub.io")

    def source_name(self) -> str:
        return "finnhub" if self.is_real_finnhub() else "simulator"

    def is_real_finnhub_rest(self) -> bool:
        return (urlsplit(self.rest_url).hostname or "").endswith("finnhub.io")

    def rest_settings(self) -> RestSettings:
        """REST settings; raises a one-line error for a missing token."""
        if self.is_real_finnhub_rest() and not self.api_key:
            raise FinnhubConfigError(
                "FINNHUB_API_KEY is not set: get a free key at finnhub.io, or unset FINNHUB_REST_URL to use the simulator"
            )
        return RestSettings(
            base_url=self.rest_url,
            token=self.api_key or None,
            connect_timeout_s=self.rest_connect_timeout_s,
            read_timeout_s=self.rest_read_timeout_s,
            max_attempts=self.rest_max_attempts,
        )

    def rate_limit_settings(self) -> RateLimitSettings:
        return RateLimitSettings(
            calls_per_minute=self.rest_calls_per_minute,
            calls_per_second=self.rest_calls_per_second,
            redis_url=self.rate_limit_redis_url or None,
            sqlite_dir=self.rate_limit_dir,
            max_wait_s=self.rest_max_rate_wait_s,
        )

    @contextmanager
    def rest_client(self) -> Iterator[FinnhubRestClient]:
        """A REST client whose calls share the platform-wide rate limit; closed when the block exits."""
        settings = self.rest_settings()
        with open_shared_limiter(self.rate_limit_settings()) as limiter:
            client = FinnhubRestClient(settings, limiter)
            try:
                yield client
            finally:
                client.close()

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
