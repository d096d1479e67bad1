"""One HTTP client for the platform's JSON APIs (Finnhub REST, Grafana): base URL, auth header, timeouts,
retries with backoff honouring Retry-After, and the token kept out of every error and log line.

Plain Python (no Dagster): the systems wrap it and keep only their own specifics — which answers mean a
rejected token, what a 4xx says, their error type and the setting a user should check.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import requests
import tenacity

logger = logging.getLogger(__name__)

# Too many requests, and the server errors a retry can outlast.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
REDACTED = "***"


class HttpRequestError(RuntimeError):
    """The server kept failing after every attempt, or answered with a body that is not JSON."""


class RetryableStatus(Exception):
    """An answer with a retryable status; carries the server's Retry-After, if it was read."""

    def __init__(self, status: int, retry_after_s: float | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class HttpSettings:
    """Endpoint, credentials, timeouts and retry policy of one API.

    `service` names the server in errors and logs ("Finnhub"); `url_setting` is the setting a user fixes
    when the server is unreachable ("FINNHUB_REST_URL"). The token travels in `auth_header` as
    `auth_prefix + token` and nowhere else. `max_retry_after_s` caps the wait a Retry-After asks for;
    None ignores Retry-After (exponential backoff with jitter only).
    """

    service: str
    base_url: str
    url_setting: str
    token: str | None = field(default=None, repr=False)
    auth_header: str = "Authorization"
    auth_prefix: str = "Bearer "
    timeout_s: float | tuple[float, float] = 10.0
    max_attempts: int = 4
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    retry_statuses: frozenset[int] = RETRYABLE_STATUSES
    max_retry_after_s: float | None = 120.0

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(
                f"{self.service} URL must start with http:// or https:// (got {self.base_url!r}); check {self.url_setting}"
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


def redact(text: str, token: str | None) -> str:
    """`text` with every occurrence of `token` masked."""
    return text.replace(token, REDACTED) if token else text


class _RetryAfterOrBackoff(tenacity.wait.wait_base):
    """Wait what the server asked for (capped), else exponential backoff with jitter."""

    def __init__(self, settings: HttpSettings) -> None:
        self._cap_s = settings.max_retry_after_s
        self._backoff = tenacity.wait_exponential_jitter(initial=settings.backoff_initial_s, max=settings.backoff_max_s)

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        if self._cap_s is not None and isinstance(error, RetryableStatus) and error.retry_after_s is not None:
            return min(error.retry_after_s, self._cap_s)
        return self._backoff(retry_state)


class HttpClient:
    """A requests.Session bound to one API: every call retries connection errors, timeouts and retryable statuses.

    `request` returns every other answer, 4xx included, for the caller to interpret; after the last
    attempt it raises `error_type` (the system's own error class) with a one-line message that never
    holds the token. `before_attempt` runs before every HTTP attempt, retries included (e.g. taking a
    slot of a shared rate limit); whatever it raises ends the call.
    """

    def __init__(
        self,
        settings: HttpSettings,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        error_type: Callable[[str], Exception] = HttpRequestError,
        before_attempt: Callable[[], None] | None = None,
        log: logging.Logger = logger,
    ) -> None:
        self.settings = settings
        self.session = session or requests.Session()
        if settings.token:
            self.session.headers[settings.auth_header] = settings.auth_prefix + settings.token
        self._sleep = sleep
        self._error_type = error_type
        self._before_attempt = before_attempt
        self._log = log

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()

    def redact(self, text: str) -> str:
        """`text` with the token masked: for anything the server said that ends up in an error or a log."""
        return redact(text, self.settings.token)

    def url(self, path: str) -> str:
        return self.settings.base_url.rstrip("/") + path

    def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> requests.Response:
        """`method path` with retries; the first answer whose status is not retryable, 4xx included."""
        settings = self.settings
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type((RetryableStatus, requests.ConnectionError, requests.Timeout)),
            stop=tenacity.stop_after_attempt(settings.max_attempts),
            wait=_RetryAfterOrBackoff(settings),
            sleep=self._sleep,
            before_sleep=lambda state: self._log_retry(method, path, state),
            reraise=True,
        )
        try:
            return retrying(self._attempt, method, path, params, json)
        except RetryableStatus as error:
            raise self._error(
                f"{settings.service} {method} {path} still answered HTTP {error.status} "
                f"after {settings.max_attempts} attempts"
            ) from None
        except (requests.ConnectionError, requests.Timeout) as error:
            raise self._error(
                f"{settings.service} at {settings.base_url} unreachable after {settings.max_attempts} attempts "
                f"({type(error).__name__}); check {settings.url_setting} and the network"
            ) from None

    def json(self, method: str, path: str, response: requests.Response) -> Any:
        """The decoded body of an answer to `method path`; a one-line error when it is not JSON."""
        try:
            return response.json()
        except ValueError:
            raise self._error(f"{self.settings.service} {method} {path} returned a body that is not JSON") from None

    def _attempt(
        self, method: str, path: str, params: Mapping[str, str] | None, json: Any
    ) -> requests.Response:
        if self._before_attempt is not None:
            self._before_attempt()
        response = self.session.request(method, self.url(path), params=params, json=json, timeout=self.settings.timeout_s)
        if response.status_code in self.settings.retry_statuses:
            retry_after_s = None
            if self.settings.max_retry_after_s is not None:
                retry_after_s = parse_retry_after(response.headers.get("Retry-After"))
            raise RetryableStatus(response.status_code, retry_after_s)
        return response

    def _log_retry(self, method: str, path: str, state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait_s = state.next_action.sleep if state.next_action else 0.0
        self._log.warning(
            "%s %s %s failed (%s); attempt %d of %d, retrying in %.1fs",
            self.settings.service,
            method,
            self.redact(path),
            error if isinstance(error, RetryableStatus) else type(error).__name__,
            state.attempt_number,
            self.settings.max_attempts,
            wait_s,
        )

    def _error(self, message: str) -> Exception:
        return self._error_type(self.redact(message))
