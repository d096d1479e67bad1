"""The `stock-platform` command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping
from importlib.metadata import entry_points
from types import ModuleType

from stock_platform.storage.schema import SchemaSettings

# Provided by the local stack (the `local` extra): the simulator, local servers and benchmarks.
LOCAL_COMMANDS = ("dev", "bench-ingest", "bench-processing", "ingest-dry-run")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stock-platform", description="Stock Platform commands.")
    commands = parser.add_subparsers(dest="command", required=True)
    schema = commands.add_parser("cassandra-apply", help="apply cassandra/schema.cql to the CASSANDRA_* cluster (idempotent)")
    schema.add_argument("--datacenters", default="", help="NetworkTopologyStrategy replicas, e.g. dc1:3,dc2:3")
    schema.add_argument(
        "--replication-factor",
        type=int,
        default=SchemaSettings.replication_factor,
        help="SimpleStrategy replicas when --datacenters is not given",
    )
    schema.add_argument(
        "--trades-ttl-days", type=float, default=SchemaSettings.trades_ttl_seconds / 86_400, help="0 keeps trades forever"
    )
    jars = commands.add_parser("fetch-jars", help="resolve the Kafka, Cassandra and Spark connector jars from Maven Central")
    jars.add_argument("components", nargs="*", default=["kafka", "cassandra", "spark"], help="kafka, cassandra, spark")
    topics = commands.add_parser("kafka-topics", help="create the market and dead-letter topics if missing")
    # Left out: KafkaResource's own defaults (partitions, replication_factor), not a second copy of them here.
    topics.add_argument("--partitions", type=int, help="partitions of the market topic (default: KafkaResource.partitions)")
    topics.add_argument(
        "--replication-factor", type=int, help="replicas of both topics (default: KafkaResource.replication_factor)"
    )
    reset = commands.add_parser(
        "stream-reset", help="forget where the stream processor was, so its next run starts at the earliest offsets in Kafka"
    )
    reset.add_argument("engine", choices=["spark", "light"], help="spark: delete the checkpoint; light: reset the group's offsets")
    reset.add_argument("--checkpoint", help="spark: the checkpoint folder (default: SPARK_CHECKPOINT_DIR/<topic>)")
    reset.add_argument("--topic", help="the market topic (default: KAFKA_TOPIC_MARKET)")
    reset.add_argument("--group", help="light: the consumer group (default: the stream processor's)")
    local, _ = _local_commands()
    if local is not None:
        local.add_commands(commands)
    else:
        for name in LOCAL_COMMANDS:
            commands.add_parser(name, help="needs the local stack (pip install -e '.[local]')")
    return parser


def _local_commands() -> tuple[ModuleType | None, str]:
    """The local stack's subcommands (the `stock_platform.commands` entry point) or, when they cannot load, why.

    The platform never names the local stack: it registers itself, and the image never installs it.
    """
    for entry_point in entry_points(group="stock_platform.commands", name="local"):
        try:
            return entry_point.load(), ""
        except ModuleNotFoundError as error:
            return None, f"module {error.name!r} is not installed"
    return None, "no local commands are registered"


def configure_logging() -> None:
    """INFO for the platform's own lines; py4j's INFO is one line per Spark micro-batch ("Received command c")."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run a command; the platform's commands read their settings from `environ` (default `os.environ`), never writing it."""
    environ = os.environ if environ is None else environ
    configure_logging()
    parser = build_parser()
    # Unknown options are allowed through only for a local command that is not installed, to say why in one line.
    args, unknown = parser.parse_known_args(argv)
    if args.command in LOCAL_COMMANDS:
        local, missing = _local_commands()
        if local is None:
            print(
                f"stock-platform {args.command}: the local stack is not installed here ({missing}); "
                "from a checkout run: pip install -e '.[local]'",
                file=sys.stderr,
            )
            return 2
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command in LOCAL_COMMANDS:
        return local.run(args)
    if args.command == "fetch-jars":
        return _fetch_jars(args.components)
    if args.command == "stream-reset":
        return _stream_reset(args, environ)
    return _setup(args, environ)


def _stream_reset(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from confluent_kafka import KafkaException

    from stock_platform.defs.kafka.resources import KafkaResource
    from stock_platform.defs.processing.resources import StreamProcessorResource
    from stock_platform.processing.offset_guard import TopicMissingError
    from stock_platform.processing.stream_reset import StreamResetError, reset_consumer_group, reset_spark_checkpoint

    kafka_resource, processor = KafkaResource.from_environ(environ), StreamProcessorResource.from_environ(environ)
    topic = args.topic or kafka_resource.market_topic
    kafka = kafka_resource.settings()
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


def _setup(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from stock_platform.cli.admin import SetupError, apply_cassandra_schema, create_kafka_topics

    # The outcome is one line; the driver's per-attempt connection tracebacks would bury it.
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("cassandra").setLevel(logging.CRITICAL)
    try:
        if args.command == "cassandra-apply":
            statements = apply_cassandra_schema(args.datacenters, args.replication_factor, args.trades_ttl_days, environ)
            print(f"applied {len(statements)} schema statements", flush=True)
        else:
            created = create_kafka_topics(args.partitions, args.replication_factor, environ)
            print(f"created topics: {', '.join(created) or 'none (all exist)'}", flush=True)
    except (SetupError, ValueError) as error:
        print(f"stock-platform {args.command}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
