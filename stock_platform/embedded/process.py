"""Start and stop helper servers by PID, escalating to SIGKILL when they ignore SIGTERM."""

from __future__ import annotations

import socket
import subprocess


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def stop_process(process: subprocess.Popen, timeout_s: float = 5.0) -> None:
    """Terminate `process` (by its PID), then kill it if it is still alive after `timeout_s`."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout_s)
