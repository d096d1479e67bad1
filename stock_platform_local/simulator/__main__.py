"""`python -m stock_platform_local.simulator`: the Finnhub simulator as a process; prints READY once listening."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from stock_platform_local.simulator.config import SimulatorConfig, SimulatorConfigError
from stock_platform_local.simulator.recording import RecordingError
from stock_platform_local.simulator.server import SimulatorUrls, serve


def build_parser() -> argparse.ArgumentParser:
    defaults = SimulatorConfig()
    parser = argparse.ArgumentParser(
        prog="python -m stock_platform_local.simulator",
        description="Local Finnhub simulator: trade websocket, company-news REST and /_sim/ test controls.",
    )
    parser.add_argument("--host", default=defaults.host, help="interface to bind (default %(default)s)")
    parser.add_argument(
        "--port", type=int, default=defaults.port, help="TCP port, 0 for a free one (default %(default)s)"
    )
    parser.add_argument(
        "--rate", type=float, default=defaults.rate, help="trades/s over all subscribed symbols (default %(default)s)"
    )
    parser.add_argument(
        "--frame-size", type=int, default=defaults.frame_size, help="most trades per frame (default %(default)s)"
    )
    parser.add_argument(
        "--tick", type=float, default=defaults.tick_s, help="seconds between trade batches (default %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of the price generator (default: random)")
    parser.add_argument(
        "--ping-interval", type=float, default=defaults.ping_interval_s, help="seconds between pings, 0 = none"
    )
    parser.add_argument(
        "--token-env",
        metavar="VAR",
        help="require the token held in this environment variable (kept off the command line and out of logs)",
    )
    parser.add_argument("--max-symbols", type=int, default=defaults.max_symbols, help="subscriptions per connection")
    parser.add_argument("--replay", type=Path, help="replay this JSONL recording instead of generating trades")
    parser.add_argument("--replay-fast", action="store_true", help="replay as fast as possible instead of paced")
    parser.add_argument("--replay-loop", action="store_true", help="start the recording again after its end")
    parser.add_argument("--replay-speed", type=float, default=1.0, help="divide recorded gaps by this when paced")
    parser.add_argument("--sent-log", type=Path, help="append every frame sent to this JSONL file")
    parser.add_argument(
        "--news-per-day", type=int, default=defaults.news_per_symbol_per_day, help="articles per symbol per day"
    )
    parser.add_argument(
        "--rest-calls-per-minute", type=int, default=None, help="answer 429 above this many REST calls/min"
    )
    parser.add_argument("--start-paused", action="store_true", help="send no trades until POST /_sim/resume")
    parser.add_argument("--log-level", default="WARNING", help="logging level on stderr (default %(default)s)")
    return parser


def config_from_args(args: argparse.Namespace, environ: dict[str, str]) -> SimulatorConfig:
    token = None
    if args.token_env:
        token = environ.get(args.token_env)
        if not token:
            raise SimulatorConfigError(f"--token-env {args.token_env}: that environment variable is not set or empty")
    return SimulatorConfig(
        host=args.host,
        port=args.port,
        rate=args.rate,
        frame_size=args.frame_size,
        tick_s=args.tick,
        seed=args.seed,
        ping_interval_s=args.ping_interval,
        token=token,
        max_symbols=args.max_symbols,
        replay_path=args.replay,
        replay_paced=not args.replay_fast,
        replay_loop=args.replay_loop,
        replay_speed=args.replay_speed,
        sent_log_path=args.sent_log,
        news_per_symbol_per_day=args.news_per_day,
        rest_calls_per_minute=args.rest_calls_per_minute,
        start_paused=args.start_paused,
    )


async def _run(config: SimulatorConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    def announce(urls: SimulatorUrls) -> None:
        print(urls.ready_line(), flush=True)

    await serve(config, stop, announce)


def main(argv: Sequence[str] | None = None, environ: dict[str, str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = config_from_args(args, dict(os.environ) if environ is None else environ)
        asyncio.run(_run(config))
    except (SimulatorConfigError, RecordingError, OSError) as error:
        print(f"simulator: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
