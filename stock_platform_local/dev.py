"""`stock-platform dev`: the local stack (Apache Kafka, optionally Apache Cassandra, the Finnhub simulator) plus `dg dev`.

What is configured externally (KAFKA_BOOTSTRAP_SERVERS, CASSANDRA_CONTACT_POINTS, FINNHUB_API_KEY) is not started.
Servers keep their data under STOCK_PLATFORM_DATA_DIR, so Ctrl-C and `make dev` again resumes where it stopped.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping, MutableMapping
from contextlib import ExitStack
from pathlib import Path

from stock_platform.env_defaults import ENV_DEFAULTS
from stock_platform.jvm_artifacts import ArtifactResolutionError
from stock_platform.paths import project_root
from stock_platform.processing.settings import checkpoints_under
from stock_platform.storage.settings import CASSANDRA_STORE, StoreEnv
from stock_platform_local.servers.broker import LocalKafkaBroker
from stock_platform_local.servers.cassandra import LocalCassandraNode
from stock_platform_local.servers.process import (
    ServerStartError,
    free_port,
    start_announcing_server,
    stop_process,
    stop_process_group,
)

logger = logging.getLogger(__name__)

_LOCAL_INSTANCE_CONFIG = Path(__file__).resolve().parent / "servers" / "dagster_local.yaml"
# Dagster's project CLI beside this interpreter (the venv's): `dagster dev` is superseded by `dg dev`.
DG_COMMAND = (str(Path(sys.executable).with_name("dg")),)
KAFKA_PORT = 9092
CASSANDRA_PORT = 9042


def simulator_command(rate: float) -> list[str]:
    return [sys.executable, "-m", "stock_platform_local.simulator", "--host", "127.0.0.1", "--port", "0", "--rate", str(rate)]


def prepare_dagster_home(path: Path) -> Path:
    """Create DAGSTER_HOME with the local instance config (run queue limits, monitoring) unless one exists."""
    path.mkdir(parents=True, exist_ok=True)
    config = path / "dagster.yaml"
    if not config.exists():
        shutil.copyfile(_LOCAL_INSTANCE_CONFIG, config)
    return path.resolve()


def preferred_port(port: int) -> int:
    """`port` when nothing listens on it (the usual one, easy to point tools at), else any free port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return free_port()
    return port


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def start_local_servers(stack: ExitStack, env: MutableMapping[str, str], explicit: set[str]) -> None:
    """Start Kafka (and Cassandra for STOCK_PLATFORM_STORE=cassandra) unless configured externally; point `env` at them."""
    data_dir = Path(env["STOCK_PLATFORM_DATA_DIR"])
    if "KAFKA_BOOTSTRAP_SERVERS" not in explicit:
        print("Starting Apache Kafka ...", flush=True)
        broker = stack.enter_context(LocalKafkaBroker(data_dir / "kafka", port=preferred_port(KAFKA_PORT)))
        env["KAFKA_BOOTSTRAP_SERVERS"] = broker.bootstrap_servers
        print(f"Apache Kafka on {broker.bootstrap_servers} (pid {broker.pid}, data in {broker.log_dir})", flush=True)
    if StoreEnv.from_environ(env).backend.strip().lower() == CASSANDRA_STORE and "CASSANDRA_CONTACT_POINTS" not in explicit:
        print("Starting Apache Cassandra (about 20 s) ...", flush=True)
        node = stack.enter_context(LocalCassandraNode(data_dir / "cassandra", port=preferred_port(CASSANDRA_PORT)))
        env.update(CASSANDRA_CONTACT_POINTS=node.contact_point, CASSANDRA_PORT=str(node.port), CASSANDRA_LOCAL_DC=node.local_dc)
        subprocess.run([sys.executable, "-m", "stock_platform.cli.main", "cassandra-apply"], env=env, check=True)
        print(f"Apache Cassandra on {node.contact_point}:{node.port} (pid {node.pid}, data in {node.data_dir})", flush=True)


def local_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The runs' environment: `environ` over the settings models' defaults, with unset state folders under STOCK_PLATFORM_DATA_DIR.

    Without this, moving STOCK_PLATFORM_DATA_DIR (a fresh Kafka log) left Spark on the old checkpoint in
    .stock_platform/checkpoints, whose offsets belong to another topic.
    """
    env = {**ENV_DEFAULTS, **environ}
    if "SPARK_CHECKPOINT_DIR" not in environ:
        env["SPARK_CHECKPOINT_DIR"] = checkpoints_under(env["STOCK_PLATFORM_DATA_DIR"])
    return env


def run_dev(port: int, simulator_rate: float) -> int:
    """Start what is not configured externally, then `dg dev`; stop everything by PID on exit."""
    # Ctrl-C and `kill <pid>` both unwind the stack below, so nothing is left running; a launcher started
    # in the background inherits SIGINT ignored, hence the explicit handler.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    explicit = set(os.environ)
    env = local_environment(os.environ)
    env["DAGSTER_HOME"] = str(prepare_dagster_home(Path(env.get("DAGSTER_HOME") or project_root() / ".dagster_home")))
    Path(env["STOCK_PLATFORM_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        try:
            start_local_servers(stack, env, explicit)
        except (ServerStartError, ArtifactResolutionError, subprocess.CalledProcessError) as error:
            print(f"stock-platform dev: {error}", file=sys.stderr, flush=True)
            return 1
        except KeyboardInterrupt:
            return 0
        if not env["FINNHUB_API_KEY"] and "FINNHUB_WS_URL" not in explicit:
            simulator, announced = start_announcing_server(simulator_command(simulator_rate), "READY")
            stack.callback(stop_process, simulator)
            env["FINNHUB_WS_URL"] = announced["ws_url"]
            env["FINNHUB_REST_URL"] = announced["rest_url"]
            print(f"Finnhub simulator on {announced['ws_url']} (pid {simulator.pid}); no FINNHUB_API_KEY set", flush=True)
        print(f"Dagster UI: http://127.0.0.1:{port}  (Ctrl-C stops everything)", flush=True)
        dagster = subprocess.Popen(
            [*DG_COMMAND, "dev", "-w", str(project_root() / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
            env=env,
            cwd=project_root(),
            start_new_session=True,
        )
        # dg dev's children (daemon, webserver, code server, run workers) share its group and stop with it;
        # the servers are stopped after them (ExitStack order), so run workers can still flush and commit.
        stack.callback(stop_process_group, dagster, 30.0)
        try:
            return dagster.wait()
        except KeyboardInterrupt:
            return 0
