"""The local stack's `stock-platform` subcommands: dev, the benchmarks and the ingest dry run."""

from __future__ import annotations

import argparse
import json

from stock_platform_local.dry_run import add_arguments as add_dry_run_arguments


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Register the local subcommands on the `stock-platform` parser."""
    dev = commands.add_parser("dev", help="run the embedded stack and the Dagster UI (the main local command)")
    dev.add_argument("--port", type=int, default=3000, help="Dagster UI port")
    dev.add_argument("--simulator-rate", type=float, default=200.0, help="simulated trades per second")
    bench = commands.add_parser("bench-ingest", help="benchmark websocket -> Kafka throughput against its ceiling")
    bench.add_argument("--seconds", type=float, default=20.0, help="measurement length of each phase")
    processing = commands.add_parser(
        "bench-processing", help="benchmark both stream engines (throughput, latency) against the raw consume rate"
    )
    processing.add_argument(
        "--engines", default="spark,spark-jvm,light", help="comma-separated: spark, spark-jvm (decoding in the JVM), light"
    )
    processing.add_argument("--backlog-trades", type=int, default=400_000, help="trades pre-loaded for the throughput phase")
    processing.add_argument("--rate", type=float, default=5_000.0, help="offered trades/s of the latency phase")
    processing.add_argument("--seconds", type=float, default=20.0, help="length of the latency phase")
    add_dry_run_arguments(
        commands.add_parser(
            "ingest-dry-run", help="read Finnhub (or the simulator), validate as the ingest does, print counts; no Kafka"
        )
    )


def run(args: argparse.Namespace) -> int:
    """Run one of the subcommands `add_commands` registered; returns the exit code."""
    if args.command == "dev":
        from stock_platform_local.dev import run_dev

        return run_dev(args.port, args.simulator_rate)
    if args.command == "bench-ingest":
        from stock_platform_local.bench_ingest import run_benchmark

        return run_benchmark(args.seconds)
    if args.command == "bench-processing":
        from stock_platform_local.bench_processing import run_benchmark

        engines = [name.strip() for name in args.engines.split(",") if name.strip()]
        print(json.dumps(run_benchmark(engines, args.backlog_trades, args.rate, args.seconds)), flush=True)
        return 0
    from stock_platform_local.dry_run import run as run_dry_run

    return run_dry_run(args)
