"""`python -m stock_platform_local.simulator.record`: record Finnhub websocket frames verbatim for replay.

Reads FINNHUB_WS_URL (default wss://ws.finnhub.io) and FINNHUB_API_KEY from the environment. The token
goes into the connection URL only; every URL printed has it masked.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import websocket

from stock_platform.finnhub.settings import FinnhubEnv
from stock_platform_local.simulator.recording import recording_line, trades_by_symbol

DEFAULT_WS_URL = FinnhubEnv().ws_url
_RECV_POLL_S = 0.5


class RecorderError(RuntimeError):
    """Recording cannot start or continue; the message is one actionable line."""


def with_token(url: str, token: str) -> str:
    parts = urlsplit(url)
    query = [(key, value) for key, value in parse_qsl(parts.query) if key != "token"] + [("token", token)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def masked(url: str) -> str:
    """`url` with the value of its `token` query parameter replaced by ***."""
    parts = urlsplit(url)
    query = [(key, "***" if key == "token" else value) for key, value in parse_qsl(parts.query)]
    return urlunsplit(parts._replace(query=urlencode(query, safe="*")))


def _parse_symbols(text: str) -> list[str]:
    symbols = [symbol.strip() for symbol in text.split(",") if symbol.strip()]
    if not symbols:
        raise RecorderError("--symbols is empty: pass a comma-separated list such as AAPL,BINANCE:BTCUSDT")
    return symbols


def _connect(url: str, token: str, shown: str) -> websocket.WebSocket:
    try:
        return websocket.create_connection(with_token(url, token), timeout=10, skip_utf8_validation=True)
    except websocket.WebSocketBadStatusException as error:
        if error.status_code in (401, 403):
            raise RecorderError(
                f"{shown} rejected the token (HTTP {error.status_code}); check FINNHUB_API_KEY"
            ) from None
        raise RecorderError(f"{shown} refused the websocket (HTTP {error.status_code})") from None
    except (OSError, websocket.WebSocketException) as error:
        raise RecorderError(f"cannot connect to {shown} ({type(error).__name__}); check FINNHUB_WS_URL") from None


def record(
    url: str, token: str, symbols: Sequence[str], seconds: float, out: TextIO, max_frames: int | None = None
) -> dict[str, int]:
    """Subscribe to `symbols` and write every frame received for `seconds` (or `max_frames`) to `out`.

    Returns:
        Counts of frames written, and of trade frames among them.
    """
    shown = masked(with_token(url, token))
    ws = _connect(url, token, shown)
    counts = {"frames": 0, "trade_frames": 0}
    try:
        for symbol in symbols:
            ws.send(json.dumps({"type": "subscribe", "symbol": symbol}))
        ws.settimeout(_RECV_POLL_S)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and (max_frames is None or counts["frames"] < max_frames):
            try:
                opcode, payload = ws.recv_data()
            except websocket.WebSocketTimeoutException:
                continue
            except (OSError, websocket.WebSocketException) as error:
                lost = f"{type(error).__name__} after {counts['frames']} frames"
                raise RecorderError(f"connection to {shown} lost ({lost}); the frames so far are kept") from None
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                raise RecorderError(f"{shown} closed the connection after {counts['frames']} frames (kept)")
            if opcode not in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
                continue
            text = payload.decode("utf-8", errors="surrogateescape")
            out.write(recording_line(int(time.time() * 1000), text) + "\n")
            counts["frames"] += 1
            counts["trade_frames"] += bool(trades_by_symbol(text))
        return counts
    finally:
        out.flush()
        ws.close()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m stock_platform_local.simulator.record",
        description="Record Finnhub websocket frames (FINNHUB_WS_URL, FINNHUB_API_KEY) as JSONL for replay.",
    )
    parser.add_argument("--symbols", required=True, help="comma-separated, e.g. AAPL,BINANCE:BTCUSDT")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to record (default %(default)s)")
    parser.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    parser.add_argument("--out", type=Path, required=True, help="JSONL file to write (overwritten)")
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    env = os.environ if environ is None else environ
    url = env.get("FINNHUB_WS_URL") or DEFAULT_WS_URL
    token = env.get("FINNHUB_API_KEY")
    try:
        if not token:
            raise RecorderError("FINNHUB_API_KEY is not set: export your Finnhub token to record (it is never printed)")
        symbols = _parse_symbols(args.symbols)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("w", encoding="utf-8") as out:
            counts = record(url, token, symbols, args.seconds, out, args.max_frames)
    except RecorderError as error:
        print(f"record: {error}", file=sys.stderr)
        return 1
    summary = f"{counts['frames']} frames ({counts['trade_frames']} trade frames)"
    print(f"recorded {summary} from {masked(with_token(url, token))} to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
