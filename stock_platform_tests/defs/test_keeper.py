import os
import signal
import subprocess
import sys
import time

import dagster as dg
import pytest

from stock_platform.defs.keeper import LONG_RUN_TAG, build_keeper_sensor
from stock_platform.paths import project_root


class _Behaviour(dg.Config):
    crash: bool = False


@dg.op
def _work(config: _Behaviour) -> None:
    if config.crash:
        raise RuntimeError("the websocket library blew up")
    while True:
        time.sleep(0.05)


@dg.job(name="long_job")
def long_job() -> None:
    _work()


keeper = build_keeper_sensor(long_job, "long_job_keeper", interval_s=30)


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


def _add_run(instance, status):
    return instance.create_run_for_job(long_job, status=status)


def _crash(instance):
    result = long_job.execute_in_process(
        run_config={"ops": {"_work": {"config": {"crash": True}}}}, instance=instance, raise_on_error=False
    )
    assert result.dagster_run.status == dg.DagsterRunStatus.FAILURE


# A run worker as Dagster launches one: the job reconstructed by module, steps in subprocesses (multiprocess executor).
_RUN_WORKER = (
    "import sys, dagster as dg; from stock_platform_tests.defs import test_keeper as module; "
    "dg.execute_job(dg.reconstructable(module.long_job), dg.DagsterInstance.from_ref(dg.deserialize_value(sys.argv[1])))"
)


def _run_in_its_op(instance):
    for run in instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
        if instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START):
            return run
    return None


def _interrupt_like_stopping_make_dev(instance, timeout_s=120.0):
    """Start a run in its own process group, then SIGINT the group once the op runs, as Ctrl-C of `make dev` does."""
    python_path = os.pathsep.join(filter(None, [str(project_root()), os.environ.get("PYTHONPATH")]))
    worker = subprocess.Popen(
        [sys.executable, "-c", _RUN_WORKER, dg.serialize_value(instance.get_ref())],
        cwd=project_root(),
        env={**os.environ, "PYTHONPATH": python_path},
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout_s
        while (run := _run_in_its_op(instance)) is None:
            assert worker.poll() is None and time.monotonic() < deadline, "the run never reached its op"
            time.sleep(0.2)
        os.killpg(worker.pid, signal.SIGINT)
        worker.wait(timeout_s)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
    return instance.get_run_by_id(run.run_id)


def _evaluate(instance):
    return keeper.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=dg.Definitions(jobs=[long_job], sensors=[keeper])))


def test_launches_when_no_run_exists(instance):
    result = _evaluate(instance)
    [request] = result.run_requests
    assert request.tags[LONG_RUN_TAG] == "long_job"
    assert request.tags["dagster/max_retries"] == "0"
    assert request.run_key.startswith("long_job-")


@pytest.mark.parametrize(
    "status", [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
)
def test_does_not_launch_while_a_run_is_in_progress(instance, status):
    run = _add_run(instance, status)
    result = _evaluate(instance)
    assert result.run_requests == []
    assert run.run_id in result.skip_message


@pytest.mark.parametrize("status", [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.CANCELED])
def test_relaunches_after_a_run_ended(instance, status):
    _add_run(instance, status)
    assert len(_evaluate(instance).run_requests) == 1


def test_waits_longer_after_consecutive_failures(instance):
    for _ in range(3):
        run = _add_run(instance, dg.DagsterRunStatus.STARTED)
        instance.report_run_failed(run)
    result = _evaluate(instance)
    assert result.run_requests == []
    assert "3 consecutive failed runs" in result.skip_message


def test_a_crashed_run_backs_off(instance):
    _crash(instance)
    result = _evaluate(instance)
    assert result.run_requests == []
    assert "1 consecutive failed runs of long_job; waiting 60s" in result.skip_message


def test_a_run_interrupted_by_stopping_the_stack_is_relaunched_at_once_and_ends_a_crash_streak(instance):
    _crash(instance)
    _crash(instance)
    interrupted = _interrupt_like_stopping_make_dev(instance)
    # Dagster calls it a failure: the keeper has to tell it from a crash by the run's failure event.
    assert interrupted.status == dg.DagsterRunStatus.FAILURE
    assert len(_evaluate(instance).run_requests) == 1
    _crash(instance)
    assert "1 consecutive failed runs" in _evaluate(instance).skip_message


def test_sensor_is_on_by_default():
    assert keeper.default_status == dg.DefaultSensorStatus.RUNNING
