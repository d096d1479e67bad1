"""The websocket endpoint: token check on upgrade, then Finnhub's subscribe/unsubscribe protocol."""

from __future__ import annotations

import json

from aiohttp import WSMsgType, web

from stock_platform_local.simulator.hub import Client, Hub

HUB_KEY = web.AppKey("hub", Hub)
TOKEN_KEY = web.AppKey("token", str)

_EXAMPLE = '{"type":"subscribe","symbol":"AAPL"}'


def token_accepted(request: web.Request, token: str | None, header: str | None = None) -> bool:
    """True when no token is configured or the caller presented it (query `token`, or `header`)."""
    if not token:
        return True
    presented = request.query.get("token") or (request.headers.get(header) if header else None)
    return presented == token


def parse_client_message(text: str) -> tuple[str, str] | str:
    """`(action, symbol)` for a valid subscribe/unsubscribe message, else a one-line error message."""
    try:
        message = json.loads(text)
    except ValueError:
        return f"Invalid message: not JSON; send e.g. {_EXAMPLE}"
    if not isinstance(message, dict):
        return f"Invalid message: expected a JSON object like {_EXAMPLE}"
    action = message.get("type")
    if action not in ("subscribe", "unsubscribe"):
        return f"Invalid message: type must be 'subscribe' or 'unsubscribe' (got {action!r})"
    symbol = message.get("symbol")
    if not isinstance(symbol, str) or not symbol.strip() or symbol.strip() != symbol:
        return f"Invalid message: symbol must be a non-empty string without spaces (got {symbol!r})"
    return action, symbol


async def _handle_message(hub: Hub, client: Client, text: str) -> None:
    parsed = parse_client_message(text)
    if isinstance(parsed, str):
        await hub.send_error(client, parsed)
        return
    action, symbol = parsed
    if action == "unsubscribe":
        hub.unsubscribe(client, symbol)
        return
    refusal = hub.subscribe(client, symbol)
    if refusal is not None:
        await hub.send_error(client, refusal)


async def websocket_handler(request: web.Request) -> web.StreamResponse:
    """`GET /` upgraded to a websocket, like wss://ws.finnhub.io?token=..."""
    hub = request.app[HUB_KEY]
    if not token_accepted(request, request.app.get(TOKEN_KEY)):
        hub.stats.connections_rejected += 1
        raise web.HTTPUnauthorized(text="Unauthorized: invalid or missing token")
    ws = web.WebSocketResponse(compress=False, timeout=2.0)
    if not ws.can_prepare(request).ok:
        raise web.HTTPUpgradeRequired(text="This is a websocket endpoint: connect with ws:// and send " + _EXAMPLE)
    await ws.prepare(request)
    client = hub.connect(ws, request.transport)
    try:
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                await _handle_message(hub, client, message.data)
            elif message.type == WSMsgType.BINARY:
                await _handle_message(hub, client, message.data.decode("utf-8", errors="replace"))
    finally:
        hub.disconnect(client)
    return ws
