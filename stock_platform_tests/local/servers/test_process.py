import os
import subprocess
import sys
import time

import pytest

from stock_platform_local.servers.process import stop_process_group


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A killed child of the reaped leader is re-parented to init; until init reaps it, it shows as a zombie.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ")[1][0] != "Z"


@pytest.mark.parametrize("child_traps_int", [False, True])
def test_group_stop_leaves_no_child_behind(tmp_path, child_traps_int):
    child_pid = tmp_path / "child.pid"
    trap = "trap '' INT; " if child_traps_int else ""
    script = tmp_path / "leader.sh"
    script.write_text(f"#!/bin/sh\nsh -c \"{trap}echo \\$\\$ > {child_pid}; while true; do sleep 0.1; done\" &\nwait\n")
    script.chmod(0o755)
    leader = subprocess.Popen([str(script)], start_new_session=True)
    deadline = time.monotonic() + 10
    while not (child_pid.exists() and child_pid.read_text().strip()):
        assert time.monotonic() < deadline, "child did not start"
        time.sleep(0.01)
    child = int(child_pid.read_text())
    stop_process_group(leader, timeout_s=0.5)
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leader.returncode is not None
    assert not _alive(child)


def test_children_still_finishing_after_the_leader_exits_get_the_time_to_finish(tmp_path):
    finished, child_pid = tmp_path / "finished", tmp_path / "child.pid"
    # The child stands in for a run worker that flushes for a moment after Ctrl-C; the leader exits at once.
    child = tmp_path / "child.py"
    child.write_text(
        "import os, pathlib, signal, sys, time\n"
        "def flush(signum, frame):\n"
        f"    time.sleep(0.5); pathlib.Path({str(finished)!r}).touch(); sys.exit(0)\n"
        "signal.signal(signal.SIGINT, flush)\n"
        f"pathlib.Path({str(child_pid)!r}).write_text(str(os.getpid()))\n"
        "while True: time.sleep(0.05)\n"
    )
    script = tmp_path / "leader.sh"
    script.write_text(f"#!/bin/sh\n{sys.executable} {child} &\ntrap 'exit 0' INT\nwhile true; do sleep 0.05; done\n")
    script.chmod(0o755)
    leader = subprocess.Popen([str(script)], start_new_session=True)
    deadline = time.monotonic() + 10
    while not (child_pid.exists() and child_pid.read_text().strip()):
        assert time.monotonic() < deadline, "child did not start"
        time.sleep(0.01)
    stop_process_group(leader, timeout_s=10)
    assert finished.exists()
