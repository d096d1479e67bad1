"""Start and stop helper servers by PID, escalating to SIGKILL when they ignore SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time


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


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_process_group(process: subprocess.Popen, timeout_s: float = 30.0) -> None:
    """Interrupt the process group led by `process` (as Ctrl-C would), then kill what is left after `timeout_s`.

    For a process started with `start_new_session=True` whose children must not outlive it. The leader may
    exit before its children (run workers still flushing their producers), so the whole group gets the time.
    """
    deadline = time.monotonic() + timeout_s
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            pass
    while _group_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    process.wait(timeout_s)


class ServerStartError(RuntimeError):
    """A helper server exited or did not become ready in time."""


def start_announcing_server(command: list[str], ready_prefix: str, timeout_s: float = 30.0) -> tuple[subprocess.Popen, dict[str, str]]:
    """Start a server that prints `<ready_prefix> key=value ...` on stdout once it listens.

    Returns:
        The process and the announced key/value pairs. The process is stopped again on failure.
    """
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    announced: dict[str, str] = {}
    ready = threading.Event()

    def read_stdout() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if not ready.is_set() and line.startswith(ready_prefix):
                announced.update(part.split("=", 1) for part in line[len(ready_prefix):].split() if "=" in part)
                ready.set()

    threading.Thread(target=read_stdout, daemon=True).start()
    deadline = time.monotonic() + timeout_s
    while not ready.wait(0.1):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process(process)
            raise ServerStartError(f"{' '.join(command[:3])} did not start (exit code {process.returncode})")
    return process, announced
