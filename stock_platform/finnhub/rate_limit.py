"""A call-rate limit shared by every process of the platform: an SQLite file locally, Redis in production.

Each Dagster run is its own process (its own pod under Kubernetes), so a limiter held in memory
would let N concurrent runs spend N times the plan. The bucket therefore lives outside the
process: a file-locked SQLite database in STOCK_PLATFORM_DATA_DIR on one machine, or a Redis key
when REDIS_URL is set, where pyrate-limiter's Lua script makes check-and-count atomic.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import redis
from pyrate_limiter import Duration, Limiter, Rate, RedisBucket, SQLiteBucket

from stock_platform.settings import DATA_DIR


class RateLimitTimeout(RuntimeError):
    """No call slot became free within the allowed wait: other runs are using the plan's budget."""


class CallLimiter(Protocol):
    """Anything that blocks until one more call fits the budget."""

    def acquire(self) -> None: ...


@dataclass(frozen=True)
class RateLimitSettings:
    """The plan's limits and where the shared bucket lives.

    Args:
        calls_per_minute: Sustained limit of the plan (Finnhub free tier: 60).
        calls_per_second: Burst limit (Finnhub answers 429 above 30 calls/s on every plan).
        name: Bucket name; every process using the same name shares one budget.
        redis_url: Use a Redis bucket at this URL (production, several machines).
        sqlite_dir: Otherwise, folder of the file-locked SQLite bucket (one machine).
        max_wait_s: Longest a caller waits for a slot before `RateLimitTimeout`.
    """

    calls_per_minute: int = 60
    calls_per_second: int = 30
    name: str = "finnhub-rest"
    # A Redis URL may carry a password (redis://:pw@host).
    redis_url: str | None = field(default=None, repr=False)
    sqlite_dir: str = str(DATA_DIR.default)
    max_wait_s: float = 120.0

    def __post_init__(self) -> None:
        if self.calls_per_minute < 1 or self.calls_per_second < 1:
            raise ValueError(
                f"rate limits must be at least 1 call (got {self.calls_per_second}/s, {self.calls_per_minute}/min)"
            )

    def rates(self) -> list[Rate]:
        """Burst rate first, then the sustained one (pyrate-limiter wants increasing intervals)."""
        minute = Rate(self.calls_per_minute, Duration.MINUTE)
        if self.calls_per_second >= self.calls_per_minute:
            return [minute]
        return [Rate(self.calls_per_second, Duration.SECOND), minute]

    def sqlite_path(self) -> Path:
        return Path(self.sqlite_dir) / f"rate_limit_{self.name}.sqlite"

    def describe(self) -> str:
        backend = "redis" if self.redis_url else f"sqlite file {self.sqlite_path()}"
        return f"{self.calls_per_minute}/min, {self.calls_per_second}/s shared through {backend}"


class SharedRateLimiter:
    """Blocks each caller until one more call fits the limits, counted across all processes sharing the bucket."""

    def __init__(self, limiter: Limiter, settings: RateLimitSettings) -> None:
        self._limiter = limiter
        self._settings = settings
        self.acquired = 0

    def acquire(self) -> None:
        """Take one call slot, waiting up to `max_wait_s`; raises `RateLimitTimeout` when none frees up."""
        if not self._limiter.try_acquire(self._settings.name, timeout=self._settings.max_wait_s):
            raise RateLimitTimeout(
                f"no {self._settings.name} call slot within {self._settings.max_wait_s:g}s "
                f"({self._settings.describe()}); other runs are using the budget"
            )
        self.acquired += 1

    def close(self) -> None:
        self._limiter.close()


def _sqlite_limiter(settings: RateLimitSettings) -> Limiter:
    path = settings.sqlite_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    table = settings.name.replace("-", "_")
    bucket = SQLiteBucket.init_from_file(settings.rates(), table=table, db_path=str(path), use_file_lock=True)
    return Limiter(bucket)


def _redis_limiter(settings: RateLimitSettings) -> tuple[Limiter, redis.Redis]:
    client = redis.Redis.from_url(settings.redis_url)
    try:
        bucket = RedisBucket.init(settings.rates(), client, f"stock_platform:rate_limit:{settings.name}")
    except redis.RedisError as error:
        client.close()
        raise ConnectionError(f"rate-limit Redis at REDIS_URL is unusable: {type(error).__name__}: {error}") from None
    return Limiter(bucket), client


@contextmanager
def open_shared_limiter(settings: RateLimitSettings) -> Iterator[SharedRateLimiter]:
    """A limiter on the shared bucket; its connections are closed when the block exits."""
    redis_client = None
    if settings.redis_url:
        limiter, redis_client = _redis_limiter(settings)
    else:
        limiter = _sqlite_limiter(settings)
    shared = SharedRateLimiter(limiter, settings)
    try:
        yield shared
    finally:
        shared.close()
        if redis_client is not None:
            redis_client.close()
