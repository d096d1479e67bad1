"""The simulator's aiohttp application: websocket at /, REST under /api/v1, test controls under /_sim."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

from aiohttp import web

from stock_platform_local.simulator.admin import GATE_KEY, admin_routes
from stock_platform_local.simulator.config import SimulatorConfig
from stock_platform_local.simulator.feed import run_market, run_pings, run_replay
from stock_platform_local.simulator.hub import Hub
from stock_platform_local.simulator.market import TradeGenerator
from stock_platform_local.simulator.news import NewsGenerator
from stock_platform_local.simulator.recording import load_recording
from stock_platform_local.simulator.rest import API_PREFIX, RestGate, company_news_response
from stock_platform_local.simulator.sent_log import SentLog
from stock_platform_local.simulator.ws_endpoint import HUB_KEY, TOKEN_KEY, websocket_handler

logger = logging.getLogger(__name__)

NEWS_KEY = web.AppKey("news", NewsGenerator)
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _rest_gate(request: web.Request, handler: _Handler) -> web.StreamResponse:
    if request.path.startswith(API_PREFIX + "/"):
        refusal = request.app[GATE_KEY].refusal(request)
        if refusal is not None:
            return refusal
    return await handler(request)


async def _company_news(request: web.Request) -> web.Response:
    return company_news_response(request.app[NEWS_KEY], dict(request.query))


def _report_crash(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("simulator loop %s crashed", task.get_name(), exc_info=task.exception())


def build_app(config: SimulatorConfig, clock: Callable[[], float] = time.time) -> web.Application:
    """Wire the simulator; the recording (if any) is read here so a bad file fails before listening.

    Args:
        config: The simulator settings.
        clock: Wall clock of the news endpoint (seconds), injectable to simulate time passing.
    """
    frames = load_recording(config.replay_path) if config.replay_path is not None else None
    sent_log = SentLog(config.sent_log_path) if config.sent_log_path is not None else None
    hub = Hub(TradeGenerator(config.seed), config.frame_size, config.max_symbols, sent_log)
    if config.start_paused:
        hub.pause()

    def loops() -> list[Coroutine[Any, Any, None]]:
        if frames is not None:
            feed = run_replay(hub, frames, config.replay_paced, config.replay_loop, config.replay_speed)
        else:
            feed = run_market(hub, config.rate, config.tick_s)
        return [feed, run_pings(hub, config.ping_interval_s)] if config.ping_interval_s > 0 else [feed]

    async def background(app: web.Application) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(loop, name=loop.__name__) for loop in loops()]
        for task in tasks:
            task.add_done_callback(_report_crash)
        yield
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if sent_log is not None:
            sent_log.close()

    async def close_websockets(app: web.Application) -> None:
        await hub.close_all()

    app = web.Application(middlewares=[_rest_gate])
    app[HUB_KEY] = hub
    app[GATE_KEY] = RestGate(config.token, config.rest_calls_per_minute)
    app[NEWS_KEY] = NewsGenerator(config.news_per_symbol_per_day, clock)
    if config.token:
        app[TOKEN_KEY] = config.token
    app.cleanup_ctx.append(background)
    app.on_shutdown.append(close_websockets)
    app.add_routes(
        [web.get("/", websocket_handler), web.get(f"{API_PREFIX}/company-news", _company_news), *admin_routes()]
    )
    return app
