"""Fixtures of the simulator tests: running simulators and websocket clients, all stopped at teardown."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from stock_platform_local.simulator import SimulatorConfig, SimulatorServer
from stock_platform_tests.local.simulator.helpers import WsClient


@pytest.fixture
def start_simulator() -> Iterator[Callable[..., SimulatorServer]]:
    """Start simulators with given config fields (fast pings off by default); all stopped at teardown."""
    servers: list[SimulatorServer] = []

    def start(**fields: Any) -> SimulatorServer:
        fields.setdefault("ping_interval_s", 0)
        fields.setdefault("seed", 7)
        server = SimulatorServer(SimulatorConfig(**fields))
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def connect() -> Iterator[Callable[[str], WsClient]]:
    clients: list[WsClient] = []

    def open_client(url: str) -> WsClient:
        client = WsClient(url)
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        client.close()
