"""The `stock-platform` command line."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from stock_platform.storage.schema import SchemaSettings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stock-platform", description="Stock Platform commands.")
    commands = parser.add_subparsers(dest="command", required=True)
    dev = commands.add_parser("dev", help="run the embedded stack and the Dagster UI (the main local command)")
    dev.add_argument("--port", type=int, default=3000, help="Dagster UI port")
    dev.add_argument("--simulator-rate", type=float, default=200.0, help="simulated trades per second")
    bench = commands.add_parser("bench-ingest", help="benchmark websocket -> Kafka throughput against its ceiling")
    bench.add_argument("--seconds", type=float, default=20.0, help="measurement length of each phase")
    processing = commands.add_parser(
        "bench-processing", help="benchmark both stream engines (throughput, latency) against the raw consume rate"
    )
    processing.add_argument("--engines", default="spark,light", help="comma-separated: spark, light")
    processing.add_argument("--backlog-trades", type=int, default=400_000, help="trades pre-loaded for the throughput phase")
    processing.add_argument("--rate", type=float, default=5_000.0, help="offered trades/s of the latency phase")
    processing.add_argument("--seconds", type=float, default=20.0, help="length of the latency phase")
    schema = commands.add_parser("cassandra-apply", help="apply cassandra/schema.cql to the CASSANDRA_* cluster (idempotent)")
    schema.add_argument("--datacenters", default="", help="NetworkTopologyStrategy replicas, e.g. dc1:3,dc2:3")
    schema.add_argument(
        "--replication-factor", type=int, default=1, help="SimpleStrategy replicas when --datacenters is not given"
    )
    schema.add_argument(
        "--trades-ttl-days", type=float, default=SchemaSettings.trades_ttl_seconds / 86_400, help="0 keeps trades forever"
    )
    jars = commands.add_parser("fetch-jars", help="resolve the Kafka, Cassandra and Spark connector jars from Maven Central")
    jars.add_argument("components", nargs="*", default=["kafka", "cassandra", "spark"], help="kafka, cassandra, spark")
    topics = commands.add_parser("kafka-topics", help="create the market and dead-letter topics if missing")
    topics.add_argument("--partitions", type=int, default=6, help="partitions of the market topic")
    topics.add_argument("--replication-factor", type=int, default=1)
    from stock_platform.cli.dry_run import add_arguments as add_dry_run_arguments

    add_dry_run_arguments(
        commands.add_parser(
            "ingest-dry-run", help="read Finnhub (or the simulator), validate as the ingest does, print counts; no Kafka"
        )
    )
    reset = commands.add_parser(
        "stream-reset", help="forget where the stream processor was, so its next run starts at the earliest offsets in Kafka"
    )
    reset.add_argument("engine", choices=["spark", "light"], help="spark: delete the checkpoint; light: reset the group's offsets")
    reset.add_argument("--checkpoint", help="spark: the checkpoint folder (default: SPARK_CHECKPOINT_DIR/<topic>)")
    reset.add_argument("--topic", help="the market topic (default: KAFKA_TOPIC_MARKET)")
    reset.add_argument("--group", help="light: the consumer group (default: the stream processor's)")
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
    if args.command == "bench-processing":
        from stock_platform.cli.bench_processing import run_benchmark

        engines = [name.strip() for name in args.engines.split(",") if name.strip()]
        print(json.dumps(run_benchmark(engines, args.backlog_trades, args.rate, args.seconds)), flush=True)
        return 0
    if args.command == "ingest-dry-run":
        from stock_platform.cli.dry_run import run as run_dry_run

        return run_dry_run(args)
    if args.command == "fetch-jars":
        return _fetch_jars(args.components)
    if args.command == "stream-reset":
        return _stream_reset(args)
    return _setup(args)


def _stream_reset(args: argparse.Namespace) -> int:
    from stock_platform.cli.admin import _env_resources
    from stock_platform.defs.resources import kafka_resource, processing_resources
    from confluent_kafka import KafkaException

    from stock_platform.processing.offset_guard import TopicMissingError
    from stock_platform.processing.stream_reset import StreamResetError, reset_consumer_group, reset_spark_checkpoint

    with _env_resources(kafka=kafka_resource(), stream_processor=processing_resources()["stream_processor"]) as resources:
        topic = args.topic or resources.kafka.market_topic
        kafka, processor = resources.kafka.settings(), resources.stream_processor
    try:
        if args.engine == "spark":
            print(reset_spark_checkpoint(args.checkpoint or processor.spark_settings(topic).checkpoint_dir), flush=True)
        else:
            group = args.group or processor.consumer_group
            offsets = reset_consumer_group(kafka, topic, group)
            print(f"group {group!r} now starts {topic!r} at {offsets}", flush=True)
    except (StreamResetError, TopicMissingError, KafkaException) as error:
        print(f"stock-platform stream-reset: {error}", file=sys.stderr)
        return 1
    return 0


def _fetch_jars(names: list[str]) -> int:
    from stock_platform.jvm_artifacts import COMPONENTS, ArtifactResolutionError, resolve

    unknown = sorted(set(names) - set(COMPONENTS))
    if unknown:
        print(f"stock-platform fetch-jars: unknown component(s) {', '.join(unknown)}; choose from {', '.join(COMPONENTS)}", file=sys.stderr)
        return 2
    for name in names:
        component = COMPONENTS[name]()
        try:
            folder = resolve(component)
        except ArtifactResolutionError as error:
            print(f"stock-platform fetch-jars: {error}", file=sys.stderr)
            return 1
        print(f"{component.folder_name}: {folder}", flush=True)
    return 0


def _setup(args: argparse.Namespace) -> int:
    from stock_platform.cli.admin import SetupError, apply_cassandra_schema, create_kafka_topics

    # The outcome is one line; the driver's per-attempt connection tracebacks would bury it.
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("cassandra").setLevel(logging.CRITICAL)
    try:
        if args.command == "cassandra-apply":
            statements = apply_cassandra_schema(args.datacenters, args.replication_factor, args.trades_ttl_days)
            print(f"applied {len(statements)} schema statements", flush=True)
        else:
            created = create_kafka_topics(args.partitions, args.replication_factor)
            print(f"created topics: {', '.join(created) or 'none (all exist)'}", flush=True)
    except (SetupError, ValueError) as error:
        print(f"stock-platform {args.command}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
