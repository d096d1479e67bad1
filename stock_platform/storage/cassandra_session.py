"""Cassandra connection (token-aware, auth, TLS, consistency) and concurrent execution with retries."""

from __future__ import annotations

import ssl
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable, Session
from cassandra.policies import DCAwareRoundRobinPolicy, RetryPolicy, TokenAwarePolicy
from cassandra.query import tuple_factory
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from cassandra import ConsistencyLevel, OperationTimedOut, ReadTimeout, Unavailable, WriteTimeout
from stock_platform.storage.base import StoreError
from stock_platform.storage.settings import CassandraStoreSettings

# Transient cluster states worth another attempt; every statement the store sends is an idempotent
# upsert, delete or read, so repeating one is always safe.
RETRYABLE_ERRORS = (WriteTimeout, Unavailable, ReadTimeout, OperationTimedOut, NoHostAvailable)


class StoreUnavailableError(StoreError):
    """Cassandra kept failing with timeouts or too few replicas after every retry."""


def tls_context(settings: CassandraStoreSettings) -> ssl.SSLContext:
    """Client TLS context: system CAs (or `tls_ca_file`), hostname checked unless turned off."""
    context = ssl.create_default_context(cafile=settings.tls_ca_file)
    context.check_hostname = settings.tls_check_hostname
    return context


def build_cluster(settings: CassandraStoreSettings) -> Cluster:
    """A Cluster routing each request to a replica of its partition in the local datacenter."""
    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=settings.local_datacenter)),
        retry_policy=RetryPolicy(),
        consistency_level=ConsistencyLevel.name_to_value[settings.consistency],
        request_timeout=settings.request_timeout_s,
        row_factory=tuple_factory,
    )
    options: dict[str, Any] = {
        "contact_points": list(settings.contact_points),
        "port": settings.port,
        "execution_profiles": {EXEC_PROFILE_DEFAULT: profile},
        "connect_timeout": settings.connect_timeout_s,
    }
    if settings.username:
        options["auth_provider"] = PlainTextAuthProvider(username=settings.username, password=settings.password)
    if settings.tls:
        options["ssl_context"] = tls_context(settings)
    if settings.protocol_version is not None:
        options["protocol_version"] = settings.protocol_version
    return Cluster(**options)


class _RetryableFailure(Exception):
    def __init__(self, error: BaseException, failed: int) -> None:
        super().__init__(str(error))
        self.error = error
        self.failed = failed


class StatementRunner:
    """Runs statements concurrently (bounded in flight) and retries those that failed transiently."""

    def __init__(
        self, session: Session, settings: CassandraStoreSettings, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._session = session
        self._settings = settings
        self._sleep = sleep

    def run(self, statements: Sequence[Any], what: str) -> list[list[tuple]]:
        """Every statement's rows, in order; raises StoreError / StoreUnavailableError naming `what`."""
        results: list[list[tuple] | None] = [None] * len(statements)
        pending = list(range(len(statements)))
        settings = self._settings
        retrying = Retrying(
            stop=stop_after_attempt(settings.attempts),
            wait=wait_exponential_jitter(initial=settings.retry_initial_backoff_s, max=settings.retry_max_backoff_s),
            retry=retry_if_exception_type(_RetryableFailure),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    pending = self._run_once(statements, pending, results, what)
        except _RetryableFailure as failure:
            raise StoreUnavailableError(
                f"Cassandra {what} failed for {failure.failed} of {len(statements)} statements after "
                f"{settings.attempts} attempts ({type(failure.error).__name__}: {failure.error}); check that enough "
                f"replicas in datacenter {settings.local_datacenter} are up for consistency {settings.consistency}"
            ) from None
        return results  # type: ignore[return-value]

    def _run_once(self, statements: Sequence[Any], pending: list[int], results: list, what: str) -> list[int]:
        in_flight: deque = deque()
        failed: list[int] = []
        first_error: BaseException | None = None

        def not_transient(error: Exception) -> StoreError:
            return StoreError(f"Cassandra {what} failed ({type(error).__name__}: {error})")

        def collect() -> None:
            nonlocal first_error
            index, future = in_flight.popleft()
            try:
                results[index] = list(future.result())
            except RETRYABLE_ERRORS as error:
                failed.append(index)
                first_error = first_error or error
            except Exception as error:  # noqa: BLE001 - anything else is not transient: fail with its reason
                raise not_transient(error) from None

        for index in pending:
            try:
                # The driver serializes the routing key while sending: a value it cannot encode raises here.
                future = self._session.execute_async(statements[index])
            except Exception as error:  # noqa: BLE001 - as in collect(): not transient
                raise not_transient(error) from None
            in_flight.append((index, future))
            if len(in_flight) >= self._settings.concurrency:
                collect()
        while in_flight:
            collect()
        if first_error is not None:
            raise _RetryableFailure(first_error, len(failed))
        return failed
