"""Finnhub REST client: token in a header only, timeouts, shared rate limit, retries honouring Retry-After."""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

import requests
import tenacity

from stock_platform.finnhub.websocket import FinnhubAuthError
from stock_platform.finnhub.rate_limit import CallLimiter

logger = logging.getLogger(__name__)

TOKEN_HEADER = "X-Finnhub-Token"
_RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


class FinnhubRequestError(RuntimeError):
    """Finnhub answered with an error, or kept failing after every retry."""


class _RetryableStatus(Exception):
    """A 429 or 5xx answer; carries the server's Retry-After, if any."""

    def __init__(self, status: int, retry_after_s: float | None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after_s = retry_after_s


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


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


class _RetryAfterOrBackoff(tenacity.wait.wait_base):
    """Wait what the server asked for (capped), else exponential backoff with jitter."""

    def __init__(self, settings: RestSettings) -> None:
        self._cap_s = settings.max_retry_after_s
        self._backoff = tenacity.wait_exponential_jitter(initial=settings.backoff_initial_s, max=settings.backoff_max_s)

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(error, _RetryableStatus) and error.retry_after_s is not None:
            return min(error.retry_after_s, self._cap_s)
        return self._backoff(retry_state)


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
        self._session = session or requests.Session()
        if settings.token:
            self._session.headers[TOKEN_HEADER] = settings.token
        self._sleep = sleep
        self.calls = 0

    def __enter__(self) -> FinnhubRestClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()

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
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type((_RetryableStatus, requests.ConnectionError, requests.Timeout)),
            stop=tenacity.stop_after_attempt(self._settings.max_attempts),
            wait=_RetryAfterOrBackoff(self._settings),
            sleep=self._sleep,
            before_sleep=lambda state: self._log_retry(path, state),
            reraise=True,
        )
        try:
            response = retrying(self._attempt, path, params)
        except _RetryableStatus as error:
            raise FinnhubRequestError(
                f"Finnhub GET {path} still answered HTTP {error.status} after {self._settings.max_attempts} attempts"
            ) from None
        except (requests.ConnectionError, requests.Timeout) as error:
            raise FinnhubRequestError(
                f"Finnhub at {self._settings.base_url} unreachable after {self._settings.max_attempts} attempts "
                f"({type(error).__name__}); check FINNHUB_REST_URL and the network"
            ) from None
        try:
            return response.json()
        except ValueError:
            raise FinnhubRequestError(f"Finnhub GET {path} returned a body that is not JSON") from None

    def _attempt(self, path: str, params: dict[str, str]) -> requests.Response:
        self._limiter.acquire()
        self.calls += 1
        response = self._session.get(
            self._settings.base_url.rstrip("/") + path,
            params=params,
            timeout=(self._settings.connect_timeout_s, self._settings.read_timeout_s),
        )
        if response.status_code in (401, 403):
            raise FinnhubAuthError(
                f"Finnhub rejected the API key (HTTP {response.status_code}); check FINNHUB_API_KEY"
            )
        if response.status_code in _RETRYABLE_STATUSES:
            raise _RetryableStatus(response.status_code, parse_retry_after(response.headers.get("Retry-After")))
        if response.status_code >= 400:
            raise FinnhubRequestError(
                f"Finnhub GET {path} answered HTTP {response.status_code}: {self._redact(response.text[:200])}"
            )
        return response

    def _log_retry(self, path: str, state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait_s = state.next_action.sleep if state.next_action else 0.0
        logger.warning(
            "Finnhub GET %s failed (%s); attempt %d of %d, retrying in %.1fs",
            path,
            type(error).__name__ if not isinstance(error, _RetryableStatus) else error,
            state.attempt_number,
            self._settings.max_attempts,
            wait_s,
        )

    def _redact(self, text: str) -> str:
        return text.replace(self._settings.token, "***") if self._settings.token else text
