"""`stock-platform dev`: the embedded stack (broker, Finnhub simulator) plus `dagster dev`, in one command."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

from stock_platform.embedded.broker import EmbeddedKafkaBroker
from stock_platform.embedded.process import start_announcing_server, stop_process, stop_process_group
from stock_platform.env_defaults import ENV_DEFAULTS
from stock_platform.paths import project_root

logger = logging.getLogger(__name__)

_LOCAL_INSTANCE_CONFIG = Path(__file__).resolve().parent.parent / "embedded" / "dagster_local.yaml"


def simulator_command(rate: float) -> list[str]:
    return [sys.executable, "-m", "stock_platform.simulator", "--host", "127.0.0.1", "--port", "0", "--rate", str(rate)]


def prepare_dagster_home(path: Path) -> Path:
    """Create DAGSTER_HOME with the local instance config (run queue limits, monitoring) unless one exists."""
    path.mkdir(parents=True, exist_ok=True)
    config = path / "dagster.yaml"
    if not config.exists():
        shutil.copyfile(_LOCAL_INSTANCE_CONFIG, config)
    return path.resolve()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_dev(port: int, simulator_rate: float) -> int:
    """Start what is not configured externally, then `dagster dev`; stop everything by PID on exit."""
    # Ctrl-C and `kill <pid>` both unwind the stack below, so nothing is left running; a launcher started
    # in the background inherits SIGINT ignored, hence the explicit handler.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    explicit = set(os.environ)
    env = {**ENV_DEFAULTS, **os.environ}
    env["DAGSTER_HOME"] = str(prepare_dagster_home(Path(env.get("DAGSTER_HOME") or project_root() / ".dagster_home")))
    Path(env["STOCK_PLATFORM_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        if "KAFKA_BOOTSTRAP_SERVERS" not in explicit:
            broker = stack.enter_context(EmbeddedKafkaBroker())
            env["KAFKA_BOOTSTRAP_SERVERS"] = broker.bootstrap_servers
            print(f"Embedded Kafka broker on {broker.bootstrap_servers} (pid {broker.pid})", flush=True)
        if not env["FINNHUB_API_KEY"] and "FINNHUB_WS_URL" not in explicit:
            simulator, announced = start_announcing_server(simulator_command(simulator_rate), "READY")
            stack.callback(stop_process, simulator)
            env["FINNHUB_WS_URL"] = announced["ws_url"]
            env["FINNHUB_REST_URL"] = announced["rest_url"]
            print(f"Finnhub simulator on {announced['ws_url']} (pid {simulator.pid}); no FINNHUB_API_KEY set", flush=True)
        print(f"Dagster UI: http://127.0.0.1:{port}  (Ctrl-C stops everything)", flush=True)
        dagster = subprocess.Popen(
            [sys.executable, "-m", "dagster", "dev", "-w", str(project_root() / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
            env=env,
            cwd=project_root(),
            start_new_session=True,
        )
        # dagster dev's children (daemon, webserver, code server, run workers) share its group and stop with it.
        stack.callback(stop_process_group, dagster, 30.0)
        try:
            return dagster.wait()
        except KeyboardInterrupt:
            return 0
