"""Throughput of the simulator to one websocket client: `python -m stock_platform_local.simulator.bench --rate 150000`.

Starts the simulator CLI as its own process (its own core), reads with one websocket-client connection
subscribed to the default symbols, and prints one JSON line: trades/s received and the simulator's CPU
seconds per million trades (from its /_sim/stats `process_cpu_s`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import requests
import websocket

from stock_platform_local.servers.process import start_announcing_server, stop_process

_SYMBOLS = (
    "AAPL,AMZN,MSFT,GOOGL,META,NVDA,TSLA,NFLX,ADBE,INTC,AMD,ORCL,CRM,CSCO,QCOM,AVGO,TXN,IBM,PYPL,UBER,"
    "BINANCE:BTCUSDT,BINANCE:ETHUSDT"
)
_TRADE_MARKER = b'"s":'


def measure(rate: float, frame_size: int, seconds: float, warmup_s: float = 1.0) -> dict[str, float]:
    """Offer `rate` trades/s and count what one client receives over `seconds` after a warm-up."""
    command = [
        sys.executable,
        "-m",
        "stock_platform_local.simulator",
        "--rate",
        str(rate),
        "--frame-size",
        str(frame_size),
        "--ping-interval",
        "0",
        "--seed",
        "1",
    ]
    simulator, announced = start_announcing_server(command, "READY")
    try:
        ws = websocket.create_connection(announced["ws_url"], timeout=5, skip_utf8_validation=True)
        for symbol in _SYMBOLS.split(","):
            ws.send(json.dumps({"type": "subscribe", "symbol": symbol}))
        deadline = time.monotonic() + warmup_s
        while time.monotonic() < deadline:
            ws.recv_data()
        before = requests.get(f"{announced['admin_url']}/stats", timeout=5).json()
        trades = frames = 0
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < seconds:
            _, payload = ws.recv_data()
            trades += payload.count(_TRADE_MARKER)
            frames += 1
        after = requests.get(f"{announced['admin_url']}/stats", timeout=5).json()
        ws.close()
    finally:
        stop_process(simulator)
    sent = after["trades_sent"] - before["trades_sent"]
    cpu_s = after["process_cpu_s"] - before["process_cpu_s"]
    return {
        "offered_trades_per_s": rate,
        "received_trades_per_s": round(trades / elapsed),
        "received_frames_per_s": round(frames / elapsed),
        "simulator_cpu_share": round(cpu_s / elapsed, 3),
        "simulator_cpu_us_per_trade": round(cpu_s / sent * 1e6, 3) if sent else float("nan"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=150_000.0)
    parser.add_argument("--frame-size", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    print(json.dumps(measure(args.rate, args.frame_size, args.seconds)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
