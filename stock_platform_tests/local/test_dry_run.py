"""`stock-platform ingest-dry-run` against real simulators: counts, reasons, clean stops and one-line errors."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from stock_platform.cli.main import main
from stock_platform_local.servers.process import free_port
from stock_platform_local.simulator import SimulatorConfig, SimulatorServer

# Runs the command and says whether the Kafka client library was ever imported: the strongest evidence that
# nothing was produced is that no producer could have been.
_RUN_AND_REPORT_KAFKA = (
    "import sys; from stock_platform.cli.main import main; code = main(sys.argv[1:]); "
    "print('KAFKA_LOADED' if 'confluent_kafka' in sys.modules else 'KAFKA_NOT_LOADED', file=sys.stderr); sys.exit(code)"
)


def _environment(**extra):
    """This process's environment without any Finnhub endpoint or key, and with no Kafka broker to reach."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("FINNHUB_")}
    return {**env, "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}", **extra}


def _json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.fixture
def isolated_env(monkeypatch):
    for name in [name for name in os.environ if name.startswith("FINNHUB_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{free_port()}")


def test_out_of_the_box_it_starts_the_simulator_counts_trades_and_never_touches_kafka():
    command = [sys.executable, "-c", _RUN_AND_REPORT_KAFKA, "ingest-dry-run", "--symbols", "AAPL,BINANCE:BTCUSDT",
               "--interval-seconds", "1", "--duration-seconds", "4", "--samples", "2", "--json"]  # fmt: skip
    done = subprocess.run(command, env=_environment(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = _json_lines(done.stdout)
    intervals, summary = lines[:-1], lines[-1]
    assert summary["type"] == "summary" and summary["trades"] > 0 and summary["messages"] > 0
    assert summary["dead_letters"] == 0 and summary["trades"] == sum(line["trades"] for line in intervals)
    assert len(intervals) >= 3 and all(line["type"] == "interval" and line["trades"] > 0 for line in intervals)
    assert all(0 < len(line["samples"]) <= 2 and line["samples"][0].startswith('{"data":[') for line in intervals)
    assert "Finnhub simulator on ws://127.0.0.1:" in done.stderr and "KAFKA_NOT_LOADED" in done.stderr
    assert "Traceback" not in done.stderr


def test_ctrl_c_prints_the_summary_and_stops_the_simulator_it_started():
    command = [sys.executable, "-m", "stock_platform.cli.main", "ingest-dry-run", "--symbols", "AAPL",
               "--interval-seconds", "1", "--json"]  # fmt: skip
    process = subprocess.Popen(command, env=_environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = json.loads(process.stdout.readline())
        assert first["type"] == "interval"
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
    assert _json_lines(stdout)[-1]["type"] == "summary" and "Traceback" not in stderr
    simulator_pid = int(stderr.split("(pid ", 1)[1].split(")", 1)[0])
    with pytest.raises(ProcessLookupError):
        os.kill(simulator_pid, 0)


def test_bad_frames_show_as_dead_letters_grouped_by_reason(isolated_env, capsys):
    with SimulatorServer(SimulatorConfig(rate=100, ping_interval_s=0, seed=3)) as simulator:
        bad = json.dumps({"type": "trade", "data": [{"s": "AAPL", "p": -1, "v": 1, "t": int(time.time() * 1000)}]})

        def inject_once_connected():
            deadline = time.monotonic() + 30
            while simulator.inject(bad) == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            simulator.inject(bad)
            simulator.inject("not json")

        injector = threading.Thread(target=inject_once_connected)
        injector.start()
        try:
            code = main(["ingest-dry-run", "--url", simulator.ws_url, "--symbols", "AAPL", "--interval-seconds", "1",
                         "--duration-seconds", "3", "--json"])  # fmt: skip
        finally:
            injector.join()
    out = capsys.readouterr().out
    assert code == 0
    summary = _json_lines(out)[-1]
    assert summary["dead_letters"] == 3 and summary["rejected_trades"] == 2 and summary["trades"] > 0
    assert [(group["kind"], group["rule"], group["count"]) for group in summary["dead_letter_reasons"]] == [
        ("trade", "price is not a number in (0, 1e+09]", 2),
        ("frame", "not valid JSON", 1),
    ]


def test_an_unreachable_endpoint_is_one_line_and_a_failing_exit_code(isolated_env, capsys):
    url = f"ws://127.0.0.1:{free_port()}/"
    assert main(["ingest-dry-run", "--url", url, "--duration-seconds", "5"]) == 1
    captured = capsys.readouterr()
    error_lines = [line for line in captured.err.splitlines() if line.startswith("stock-platform ingest-dry-run:")]
    assert error_lines == [f"stock-platform ingest-dry-run: cannot connect to {url} (ConnectionRefusedError: [Errno 111] Connection refused)"]
    assert captured.out == "" and "Traceback" not in captured.err


def test_a_rejected_token_is_one_line_and_never_printed(isolated_env, monkeypatch, capsys):
    monkeypatch.setenv("FINNHUB_API_KEY", "wrong-s3cret")
    with SimulatorServer(SimulatorConfig(rate=100, ping_interval_s=0, token="right-token")) as simulator:
        assert main(["ingest-dry-run", "--url", simulator.ws_url, "--duration-seconds", "5"]) == 1
    captured = capsys.readouterr()
    assert "stock-platform ingest-dry-run: Finnhub rejected the API key (HTTP 401); check FINNHUB_API_KEY" in captured.err
    assert "wrong-s3cret" not in captured.err + captured.out


def test_real_finnhub_without_a_key_says_how_to_fix_it(isolated_env, monkeypatch, capsys):
    monkeypatch.setenv("FINNHUB_WS_URL", "wss://ws.finnhub.io")
    assert main(["ingest-dry-run", "--duration-seconds", "1"]) == 1
    assert "FINNHUB_API_KEY is not set" in capsys.readouterr().err


@pytest.mark.parametrize(
    "option", [["--interval-seconds", "0"], ["--duration-seconds", "-1"], ["--samples", "-1"], ["--samples", "x"]]
)
def test_bad_options_are_rejected_with_usage(option, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["ingest-dry-run", *option])
    assert exited.value.code == 2 and "ingest-dry-run: error: argument" in capsys.readouterr().err
