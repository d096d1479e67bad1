"""Test controls under /_sim/: stats, dropping connections, injecting frames, pausing, REST failures."""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web

from stock_platform_local.simulator.rest import InjectedFailures, RestGate
from stock_platform_local.simulator.ws_endpoint import HUB_KEY

ADMIN_PREFIX = "/_sim"
GATE_KEY = web.AppKey("rest_gate", RestGate)


async def stats(request: web.Request) -> web.Response:
    gate = request.app[GATE_KEY]
    failures = gate.failures
    rest = {
        "calls": gate.calls,
        "refused": {str(status): count for status, count in sorted(gate.refused.items())},
        "injected_failures_pending": failures.remaining if failures else 0,
    }
    return web.json_response({**request.app[HUB_KEY].snapshot(), "rest": rest, "process_cpu_s": time.process_time()})


async def drop(request: web.Request) -> web.Response:
    """Drop every websocket: a close frame by default, a TCP reset with `?abort=1`."""
    abort = request.query.get("abort", "0").lower() in ("1", "true", "yes")
    return web.json_response({"dropped": request.app[HUB_KEY].drop_all(abort=abort)})


async def inject(request: web.Request) -> web.Response:
    """Send the request body, verbatim (even invalid UTF-8), as one text frame to every connected client."""
    text = (await request.read()).decode("utf-8", errors="surrogateescape")
    return web.json_response({"sent_to": await request.app[HUB_KEY].inject(text)})


async def pause(request: web.Request) -> web.Response:
    request.app[HUB_KEY].pause()
    return web.json_response({"paused": True})


async def resume(request: web.Request) -> web.Response:
    request.app[HUB_KEY].resume()
    return web.json_response({"paused": False})


def _failure_plan(body: Any) -> InjectedFailures | str:
    if not isinstance(body, dict):
        return 'expected a JSON object like {"status": 500, "count": 3, "retry_after_s": 1}'
    status, count, retry_after = body.get("status", 500), body.get("count", 1), body.get("retry_after_s")
    if type(status) is not int or not 400 <= status <= 599:
        return f"status must be an HTTP error status 400..599 (got {status!r})"
    if type(count) is not int or count < 1:
        return f"count must be a positive integer (got {count!r})"
    if retry_after is not None and (type(retry_after) is not int or retry_after < 0):
        return f"retry_after_s must be a non-negative integer or null (got {retry_after!r})"
    return InjectedFailures(status, count, retry_after)


async def set_rest_failures(request: web.Request) -> web.Response:
    """Make the next `count` REST calls answer `status`, e.g. {"status": 429, "count": 2, "retry_after_s": 1}."""
    try:
        body = json.loads(await request.text() or "{}")
    except ValueError:
        return web.json_response({"error": "body is not JSON"}, status=422)
    plan = _failure_plan(body)
    if isinstance(plan, str):
        return web.json_response({"error": plan}, status=422)
    request.app[GATE_KEY].failures = plan
    return web.json_response({"status": plan.status, "count": plan.remaining, "retry_after_s": plan.retry_after_s})


async def clear_rest_failures(request: web.Request) -> web.Response:
    request.app[GATE_KEY].failures = None
    return web.json_response({"count": 0})


async def health(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def admin_routes() -> list[web.RouteDef]:
    return [
        web.get(f"{ADMIN_PREFIX}/health", health),
        web.get(f"{ADMIN_PREFIX}/stats", stats),
        web.post(f"{ADMIN_PREFIX}/drop", drop),
        web.post(f"{ADMIN_PREFIX}/inject", inject),
        web.post(f"{ADMIN_PREFIX}/pause", pause),
        web.post(f"{ADMIN_PREFIX}/resume", resume),
        web.post(f"{ADMIN_PREFIX}/rest-failures", set_rest_failures),
        web.delete(f"{ADMIN_PREFIX}/rest-failures", clear_rest_failures),
    ]
