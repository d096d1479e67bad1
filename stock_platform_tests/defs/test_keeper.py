import dagster as dg
import pytest

from stock_platform.defs.keeper import LONG_RUN_TAG, build_keeper_sensor


@dg.op
def _noop() -> None:
    pass


@dg.job(name="long_job")
def long_job() -> None:
    _noop()


keeper = build_keeper_sensor(long_job, "long_job_keeper", interval_s=30)


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


def _add_run(instance, status):
    return instance.create_run_for_job(long_job, status=status)


def _evaluate(instance):
    return keeper.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=dg.Definitions(jobs=[long_job], sensors=[keeper])))


def test_launches_when_no_run_exists(instance):
    result = _evaluate(instance)
    [request] = result.run_requests
    assert request.tags[LONG_RUN_TAG] == "long_job"
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


def test_sensor_is_on_by_default():
    assert keeper.default_status == dg.DefaultSensorStatus.RUNNING
