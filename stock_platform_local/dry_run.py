"""`stock-platform ingest-dry-run`: the ingest's websocket, handling and validation, printing instead of producing.

Endpoint: `--url`, else FINNHUB_WS_URL, else Finnhub when FINNHUB_API_KEY is set, else a local simulator started
here as `make dev` starts it (and stopped on exit). Kafka is never contacted: its client is not even imported.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from stock_platform_local.servers.process import ServerStartError, start_announcing_server, stop_process

if TYPE_CHECKING:
    from stock_platform.ingest.dry_run_reasons import IntervalReport

_PROG = "stock-platform ingest-dry-run"


def _positive(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {value}")
    return number


def _count(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return number


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The subcommand's options."""
    parser.add_argument("--symbols", help="comma-separated symbols (default: FINNHUB_SYMBOLS, else the default list)")
    parser.add_argument("--interval-seconds", type=_positive, default=5.0, help="seconds per report (default 5)")
    parser.add_argument("--duration-seconds", type=_positive, help="stop after this long (default: run until Ctrl-C)")
    parser.add_argument("--samples", type=_count, default=3, help="raw frames shown per interval (default 3)")
    parser.add_argument("--json", action="store_true", help="one JSON line per interval and one for the summary")
    parser.add_argument(
        "--url",
        help="websocket to read, e.g. a running simulator's ws_url (default: FINNHUB_WS_URL; else Finnhub when "
        "FINNHUB_API_KEY is set; else a simulator started for the run)",
    )
    parser.add_argument(
        "--simulator-rate", type=_positive, default=200.0, help="trades/s of the simulator started when no endpoint is set"
    )


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextmanager
def _interrupts_stop() -> Iterator[None]:
    """SIGINT and SIGTERM end the run cleanly, even when started in the background (SIGINT ignored there)."""
    previous = {signum: signal.signal(signum, _interrupt) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def _quiet_dead_letter_warnings() -> Iterator[None]:
    """The dry run reports dead letters grouped; the handler's warning per dead letter would bury that."""
    handler_logger = logging.getLogger("stock_platform.ingest.frames")
    previous = handler_logger.level
    handler_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        handler_logger.setLevel(previous)


@contextmanager
def _endpoint(url: str | None, rate: float, note: Callable[[str], None]) -> Iterator[str]:
    """The given websocket URL, or a simulator started (the way `stock-platform dev` does) for the block."""
    if url:
        yield url
        return
    command = [sys.executable, "-m", "stock_platform_local.simulator", "--host", "127.0.0.1", "--port", "0", "--rate", str(rate)]
    simulator, announced = start_announcing_server(command, "READY")
    try:
        note(f"Finnhub simulator on {announced['ws_url']} (pid {simulator.pid}); no FINNHUB_API_KEY set")
        yield announced["ws_url"]
    finally:
        stop_process(simulator)


def _choose_url(args: argparse.Namespace, environ: dict[str, str], finnhub_url: str) -> str | None:
    """The endpoint to read; None means start a simulator (no key and no URL configured, as `make dev` does)."""
    if args.url:
        return args.url
    if "FINNHUB_WS_URL" in environ:
        return environ["FINNHUB_WS_URL"]
    return finnhub_url if environ.get("FINNHUB_API_KEY") else None


def run(args: argparse.Namespace) -> int:
    """Run the dry run; returns the exit code (1 with one line on stderr when the endpoint or token is bad)."""
    # Imported here so that building the parser of every command does not load the ingest and Dagster.
    from stock_platform.defs.finnhub.resources import FinnhubConfigError, FinnhubResource
    from stock_platform.finnhub.settings import FinnhubEnv
    from stock_platform.finnhub.websocket import FinnhubAuthError
    from stock_platform.ingest.dry_run import (
        EndpointUnreachableError,
        build_dry_run,
        public_url,
        redact,
        run_dry_run,
    )
    from stock_platform.kafka.settings import KafkaEnv

    environ = dict(os.environ)
    # The ingest's settings models; here a variable set but empty counts as unset (the models' default).
    configured = {name: value for name, value in environ.items() if value}
    finnhub_env, kafka_env = FinnhubEnv.from_environ(configured), KafkaEnv.from_environ(configured)
    token = finnhub_env.api_key
    symbols = args.symbols or finnhub_env.symbols

    def note(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    def emit(report: IntervalReport) -> None:
        print(report.as_json() if args.json else report.as_text(), flush=True)

    url = _choose_url(args, environ, FinnhubEnv().ws_url)
    try:
        with _interrupts_stop(), _quiet_dead_letter_warnings(), _endpoint(url, args.simulator_rate, note) as ws_url:
            finnhub = FinnhubResource(api_key=token, ws_url=ws_url, symbols=symbols)
            settings = finnhub.stream_settings()
            dry = build_dry_run(
                settings,
                finnhub.source_name(),
                args.samples,
                kafka_env.market_topic,
                kafka_env.dead_letter_topic,
            )
            note(
                f"Dry run of the ingest on {public_url(ws_url)} ({finnhub.source_name()}), "
                f"{len(settings.symbols)} symbol(s), a report every {args.interval_seconds:g} s; "
                "nothing is sent to Kafka. Ctrl-C stops."
            )
            summary = run_dry_run(dry, args.interval_seconds, args.duration_seconds, emit)
    except (FinnhubConfigError, FinnhubAuthError, EndpointUnreachableError, ServerStartError, ValueError) as error:
        print(f"{_PROG}: {redact(str(error), token)}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        # Interrupted before the stream started (e.g. while the simulator was starting): nothing to sum up.
        return 130
    emit(summary)
    return 0
