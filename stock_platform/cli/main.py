"""The `stock-platform` command line."""

from __future__ import annotations

import argparse
import logging
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stock-platform", description="Stock Platform commands.")
    commands = parser.add_subparsers(dest="command", required=True)
    dev = commands.add_parser("dev", help="run the embedded stack and the Dagster UI (the main local command)")
    dev.add_argument("--port", type=int, default=3000, help="Dagster UI port")
    dev.add_argument("--simulator-rate", type=float, default=200.0, help="simulated trades per second")
    bench = commands.add_parser("bench-ingest", help="benchmark websocket -> Kafka throughput against its ceiling")
    bench.add_argument("--seconds", type=float, default=20.0, help="measurement length of each phase")
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    if args.command == "dev":
        from stock_platform.cli.dev import run_dev

        return run_dev(args.port, args.simulator_rate)
    if args.command == "bench-ingest":
        from stock_platform.cli.bench_ingest import run_benchmark

        return run_benchmark(args.seconds)
    return 2


if __name__ == "__main__":
    sys.exit(main())
