"""Real servers for the whole suite: one Apache Kafka broker and one Apache Cassandra node per session.

Both start only when a test asks for them (Kafka ~5 s, Cassandra ~15 s on 2 cores) and are stopped by PID.
Tests that restart or kill a server start their own with `kafka_broker_factory`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from stock_platform_local.servers.broker import LocalKafkaBroker
from stock_platform_local.servers.cassandra import LocalCassandraNode

pytest_plugins = ["stock_platform_tests.finnhub.websocket_fakes"]


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafkaBroker]:
    """The session's shared Apache Kafka broker; give each test its own topic names (see `unique_name`)."""
    with LocalKafkaBroker(tmp_path_factory.mktemp("kafka")) as broker:
        yield broker


@pytest.fixture()
def kafka_broker_factory(tmp_path: Path) -> Iterator[Callable[..., LocalKafkaBroker]]:
    """Builds (not starts) brokers on this test's folder; every started one is stopped at the end."""
    with ExitStack() as stack:

        def build(**options: object) -> LocalKafkaBroker:
            broker = LocalKafkaBroker(tmp_path / "kafka", **options)
            stack.callback(broker.stop)
            return broker

        yield build


@pytest.fixture(scope="session")
def cassandra_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCassandraNode]:
    """The session's shared Apache Cassandra node; give each test its own keyspace."""
    with LocalCassandraNode(tmp_path_factory.mktemp("cassandra")) as node:
        yield node


@pytest.fixture()
def unique_name() -> Callable[[str], str]:
    """`unique_name("market")` -> `market_<random>`: topics and keyspaces that no other test shares."""
    suffix = uuid.uuid4().hex[:10]
    return lambda prefix: f"{prefix}_{suffix}"
