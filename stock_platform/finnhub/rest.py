"""Finnhub REST client: token in a header only, timeouts, shared rate limit, retries honouring Retry-After.

The HTTP side (session, retries, backoff, redaction) is the platform's shared `stock_platform.http_client`;
this module keeps what is Finnhub's: the rate limiter, the query parameters, its errors and their hints.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import requests

from stock_platform.finnhub.rate_limit import CallLimiter
from stock_platform.finnhub.websocket import FinnhubAuthError
from stock_platform.http_client import HttpClient, HttpSettings, parse_retry_after

__all__ = ["TOKEN_HEADER", "FinnhubRequestError", "FinnhubRestClient", "RestSettings", "parse_retry_after"]

logger = logging.getLogger(__name__)

TOKEN_HEADER = "X-Finnhub-Token"


class FinnhubRequestError(RuntimeError):
    """Finnhub answered with an error, or kept failing after every retry."""


@dataclass(frozen=True)
class RestSettings:
    """Endpoint, credentials, timeouts and retry policy of the REST client."""

    base_url: str
    token: str | None = field(default=None, repr=False)
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 20.0
    max_attempts: int = 5
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    max_retry_after_s: float = 120.0

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(
                f"Finnhub REST URL must start with http:// or https:// (got {self.base_url!r}); check FINNHUB_REST_URL"
            )
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1 (got {self.max_attempts})")

    def http_settings(self) -> HttpSettings:
        """The shared client's settings: the token in TOKEN_HEADER, retries on 429 and 5xx honouring Retry-After."""
        return HttpSettings(
            service="Finnhub",
            base_url=self.base_url,
            url_setting="FINNHUB_REST_URL",
            token=self.token,
            auth_header=TOKEN_HEADER,
            auth_prefix="",
            timeout_s=(self.connect_timeout_s, self.read_timeout_s),
            max_attempts=self.max_attempts,
            backoff_initial_s=self.backoff_initial_s,
            backoff_max_s=self.backoff_max_s,
            max_retry_after_s=self.max_retry_after_s,
        )


class FinnhubRestClient:
    """Calls Finnhub REST endpoints; every HTTP attempt, retries included, takes a slot from the shared limiter."""

    def __init__(
        self,
        settings: RestSettings,
        limiter: CallLimiter,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._settings = settings
        self._limiter = limiter
        self._http = HttpClient(
            settings.http_settings(),
            session=session,
            sleep=sleep,
            error_type=FinnhubRequestError,
            before_attempt=self._take_slot,
            log=logger,
        )
        self.calls = 0

    def __enter__(self) -> FinnhubRestClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def company_news(self, symbol: str, start: date, end: date) -> list[dict[str, Any]]:
        """Finnhub `company-news` for `symbol` between two dates, both inclusive."""
        if start > end:
            raise ValueError(f"company-news range for {symbol} starts after it ends ({start} > {end})")
        items = self.get_json("/company-news", {"symbol": symbol, "from": start.isoformat(), "to": end.isoformat()})
        if not isinstance(items, list):
            raise FinnhubRequestError(f"Finnhub company-news for {symbol} returned {type(items).__name__}, expected a list")
        return items

    def get_json(self, path: str, params: dict[str, str]) -> Any:
        """GET `path` with retries on 429, 5xx and connection errors; raises one-line errors otherwise."""
        response = self._http.request("GET", path, params=params)
        if response.status_code in (401, 403):
            raise FinnhubAuthError(
                f"Finnhub rejected the API key (HTTP {response.status_code}); check FINNHUB_API_KEY"
            )
        if response.status_code >= 400:
            raise FinnhubRequestError(
                f"Finnhub GET {path} answered HTTP {response.status_code}: {self._http.redact(response.text)[:200]}"
            )
        return self._http.json("GET", path, response)

    def _take_slot(self) -> None:
        self._limiter.acquire()
        self.calls += 1
