"""Run the simulator: `SimulatorServer` in a background thread for tests, `serve` for the CLI."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from stock_platform_local.simulator.admin import ADMIN_PREFIX
from stock_platform_local.simulator.app import build_app
from stock_platform_local.simulator.config import SimulatorConfig
from stock_platform_local.simulator.hub import Hub
from stock_platform_local.simulator.rest import API_PREFIX
from stock_platform_local.simulator.ws_endpoint import HUB_KEY

_SHUTDOWN_TIMEOUT_S = 2.0


class SimulatorUrls:
    """Where a running simulator answers."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.ws_url = f"ws://{host}:{port}/"
        self.rest_url = f"http://{host}:{port}{API_PREFIX}"
        self.admin_url = f"http://{host}:{port}{ADMIN_PREFIX}"

    def ready_line(self) -> str:
        """The machine-readable line the CLI prints once it listens."""
        return f"READY ws_url={self.ws_url} rest_url={self.rest_url} admin_url={self.admin_url} port={self.port}"


async def start_listening(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, SimulatorUrls]:
    """Bind `host:port` (0 = a free port) and serve `app`; returns the runner to clean up and the URLs."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise OSError(
            f"simulator cannot listen on {host}:{port} ({error.strerror}); choose another --port or 0"
        ) from None
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=_SHUTDOWN_TIMEOUT_S, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock, shutdown_timeout=_SHUTDOWN_TIMEOUT_S).start()
    return runner, SimulatorUrls(host, sock.getsockname()[1])


class SimulatorServer:
    """The simulator on its own event loop in a daemon thread: `with SimulatorServer(config) as sim: ...`."""

    def __init__(self, config: SimulatorConfig | None = None, clock: Callable[[], float] = time.time) -> None:
        self.config = config or SimulatorConfig()
        self._clock = clock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._app: web.Application | None = None
        self._urls: SimulatorUrls | None = None

    @property
    def urls(self) -> SimulatorUrls:
        if self._urls is None:
            raise RuntimeError("simulator is not started: use `with SimulatorServer(config) as sim:` or call start()")
        return self._urls

    @property
    def ws_url(self) -> str:
        return self.urls.ws_url

    @property
    def rest_url(self) -> str:
        return self.urls.rest_url

    @property
    def admin_url(self) -> str:
        return self.urls.admin_url

    @property
    def port(self) -> int:
        return self.urls.port

    def __enter__(self) -> SimulatorServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self, timeout_s: float = 10.0) -> None:
        """Start listening; raises whatever stopped the server from starting."""
        if self._thread is not None:
            raise RuntimeError("simulator already started")
        self._app = build_app(self.config, self._clock)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="finnhub-simulator", daemon=True)
        self._thread.start()
        try:
            self._runner, self._urls = self._call(
                start_listening(self._app, self.config.host, self.config.port), timeout_s
            )
        except BaseException:
            self._stop_loop()
            raise

    def stop(self) -> None:
        """Close every connection and stop the loop; safe to call twice."""
        if self._loop is None:
            return
        if self._runner is not None:
            self._call(self._runner.cleanup(), _SHUTDOWN_TIMEOUT_S * 3)
            self._runner = None
        self._stop_loop()
        self._urls = None

    def _stop_loop(self) -> None:
        assert self._loop is not None and self._thread is not None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()
        self._loop = None
        self._thread = None

    def _call(self, coroutine: Any, timeout_s: float = 10.0) -> Any:
        if self._loop is None:
            raise RuntimeError("simulator is not running")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout_s)

    @property
    def hub(self) -> Hub:
        assert self._app is not None, "simulator is not running"
        return self._app[HUB_KEY]

    def stats(self) -> dict[str, Any]:
        """The same document as GET /_sim/stats without the REST part."""
        return self._call(_async(self.hub.snapshot))

    def drop_connections(self, abort: bool = False) -> int:
        return self._call(_async(self.hub.drop_all, abort))

    def inject(self, text: str) -> int:
        return self._call(self.hub.inject(text))

    def pause(self) -> None:
        self._call(_async(self.hub.pause))

    def resume(self) -> None:
        self._call(_async(self.hub.resume))


async def _async(function: Callable[..., Any], *args: Any) -> Any:
    """Run a plain function on the simulator's loop, where the hub's state lives."""
    return function(*args)


async def serve(config: SimulatorConfig, stop: asyncio.Event, on_ready: Callable[[SimulatorUrls], None]) -> None:
    """Serve until `stop` is set, calling `on_ready` once listening."""
    runner, urls = await start_listening(build_app(config), config.host, config.port)
    try:
        on_ready(urls)
        await stop.wait()
    finally:
        await runner.cleanup()
