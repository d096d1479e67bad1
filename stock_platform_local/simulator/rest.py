"""Finnhub REST: /api/v1/company-news behind the same token check, rate limit and (injected) failures."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import date

from aiohttp import web
from pyrate_limiter import Duration, InMemoryBucket, Rate, RateItem

from stock_platform_local.simulator.news import NewsGenerator

TOKEN_HEADER = "X-Finnhub-Token"
API_PREFIX = "/api/v1"


@dataclass
class InjectedFailures:
    """The next `remaining` REST calls answer `status` (with Retry-After when set)."""

    status: int
    remaining: int
    retry_after_s: int | None = None


class RestGate:
    """Decides, before any endpoint runs, whether a REST call is refused and how."""

    def __init__(self, token: str | None, calls_per_minute: int | None) -> None:
        self._token = token
        self._bucket = InMemoryBucket([Rate(calls_per_minute, Duration.MINUTE)]) if calls_per_minute else None
        self.failures: InjectedFailures | None = None
        self.calls = 0
        self.refused: dict[int, int] = {}

    def refusal(self, request: web.Request) -> web.Response | None:
        """The error response for this call, or None when it may proceed."""
        presented = request.headers.get(TOKEN_HEADER) or request.query.get("token")
        if self._token and presented != self._token:
            message = "Please use an API key." if not presented else "Invalid API key."
            return self._refuse(401, message)
        self.calls += 1
        if self.failures is not None and self.failures.remaining > 0:
            self.failures.remaining -= 1
            failure = self.failures
            if failure.remaining == 0:
                self.failures = None
            headers = {"Retry-After": str(failure.retry_after_s)} if failure.retry_after_s is not None else None
            return self._refuse(failure.status, f"Simulated failure (HTTP {failure.status})", headers)
        if self._bucket is not None:
            item = RateItem("rest", int(time.time() * 1000))
            if not self._bucket.put(item):
                wait_s = max(1, math.ceil(self._bucket.waiting(item) / 1000))
                return self._refuse(
                    429, "API limit reached. Please try again later. Remaining Limit: 0", {"Retry-After": str(wait_s)}
                )
        return None

    def _refuse(self, status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
        self.refused[status] = self.refused.get(status, 0) + 1
        return web.json_response({"error": message}, status=status, headers=headers)


def _parse_day(value: str | None, name: str) -> date | str:
    if not value:
        return f"Missing parameter {name}: use YYYY-MM-DD"
    try:
        return date.fromisoformat(value)
    except ValueError:
        return f"Wrong date format for {name} ({value!r}): use YYYY-MM-DD"


def company_news_response(news: NewsGenerator, query: dict[str, str]) -> web.Response:
    """`GET /api/v1/company-news?symbol=&from=&to=`: a JSON list, or 422 with `{"error": ...}`."""
    symbol = (query.get("symbol") or "").strip()
    if not symbol:
        return web.json_response({"error": "Missing parameter symbol, e.g. symbol=AAPL"}, status=422)
    start, end = _parse_day(query.get("from"), "from"), _parse_day(query.get("to"), "to")
    for parsed in (start, end):
        if isinstance(parsed, str):
            return web.json_response({"error": parsed}, status=422)
    assert isinstance(start, date) and isinstance(end, date)
    if start > end:
        return web.json_response({"error": f"from ({start}) is after to ({end})"}, status=422)
    return web.json_response(news.company_news(symbol.upper(), start, end))
