from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
import requests
import websocket

from stock_platform_local.simulator.__main__ import build_parser, config_from_args
from stock_platform_local.simulator.config import SimulatorConfigError

STOP_TIMEOUT_S = 10.0


def _start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    command = [sys.executable, "-m", "stock_platform_local.simulator", "--host", "127.0.0.1", "--port", "0", *args]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env
    )


def _stop(process: subprocess.Popen) -> int:
    """SIGTERM by PID, SIGKILL if it is still alive after the timeout."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT_S)
            raise AssertionError("simulator ignored SIGTERM and had to be killed") from None
    return process.returncode


def _ready_fields(process: subprocess.Popen) -> dict[str, str]:
    line = process.stdout.readline()
    assert line.startswith("READY "), f"first stdout line was {line!r}"
    return dict(part.split("=", 1) for part in line.split()[1:])


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_cli_prints_ready_serves_and_exits_cleanly_on_signal(signum):
    process = _start("--rate", "500", "--seed", "3")
    try:
        fields = _ready_fields(process)
        ws = websocket.create_connection(fields["ws_url"], timeout=5)
        ws.send(json.dumps({"type": "subscribe", "symbol": "AAPL"}))
        frame = json.loads(ws.recv())
        assert frame["type"] == "trade" and frame["data"][0]["s"] == "AAPL"
        assert requests.get(f"{fields['admin_url']}/health", timeout=5).json() == {"ok": True}
        assert fields["rest_url"].endswith("/api/v1")

        process.send_signal(signum)
        assert process.wait(STOP_TIMEOUT_S) == 0
        ws.close()
    finally:
        _stop(process)


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--replay", "/nonexistent/frames.jsonl"], "does not exist"),
        (["--rate", "-1"], "rate must be"),
        (["--token-env", "SIMULATOR_TEST_UNSET_TOKEN"], "SIMULATOR_TEST_UNSET_TOKEN"),
    ],
)
def test_cli_refuses_bad_settings_with_one_line(args, complaint):
    process = _start(*args)
    try:
        _, stderr = process.communicate(timeout=STOP_TIMEOUT_S)
    finally:
        _stop(process)

    assert process.returncode == 2
    assert complaint in stderr and len(stderr.strip().splitlines()) == 1


def test_token_comes_from_the_named_environment_variable():
    args = build_parser().parse_args(["--token-env", "SIM_TOKEN", "--rate", "10"])

    config = config_from_args(args, {"SIM_TOKEN": "abc"})

    assert config.token == "abc" and "abc" not in repr(config)
    with pytest.raises(SimulatorConfigError):
        config_from_args(args, {})
