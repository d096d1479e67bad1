"""Keeper sensors: keep exactly one run of a long-running job alive."""

from __future__ import annotations

import time

import dagster as dg

LONG_RUN_TAG = "stock_platform/long_run"

IN_PROGRESS_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
_MAX_BACKOFF_DOUBLINGS = 6
_INTERRUPT_ERRORS = {"DagsterExecutionInterruptedError", "KeyboardInterrupt"}


def long_run_tags(job_name: str) -> dict[str, str]:
    """Tags that the run queue's tag concurrency limit (1 per value) keys on.

    Run retries are off for long runs: the keeper relaunches them (with its crash backoff), and a retry of a
    run interrupted by stopping the stack would queue a second run beside the keeper's.
    """
    return {LONG_RUN_TAG: job_name, "dagster/max_retries": "0"}


def _interrupted(instance: dg.DagsterInstance, run_id: str) -> bool:
    """Whether the run failed because its process was interrupted (Ctrl-C of `make dev`, SIGTERM to a pod).

    Dagster records such a run as FAILURE, not CANCELED (that is kept for terminations from the UI), with
    the interrupt as the error of its run failure event; a crash fails with its own error, or with none.
    """
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_FAILURE, limit=1, ascending=False).records
    event = records[0].event_log_entry.dagster_event if records else None
    # Run monitoring and `report_run_failed` may record a failure without any data.
    failure = event.job_failure_data if event is not None else None
    return failure is not None and failure.error is not None and failure.error.cls_name in _INTERRUPT_ERRORS


def _consecutive_crashes(instance: dg.DagsterInstance, records: list[dg.RunRecord]) -> int:
    """Failed runs since the last run that succeeded, was canceled or was only interrupted: those prove the job can run."""
    crashes = 0
    for record in records:
        if record.dagster_run.status != dg.DagsterRunStatus.FAILURE or _interrupted(instance, record.dagster_run.run_id):
            break
        crashes += 1
    return crashes


def build_keeper_sensor(job: dg.JobDefinition, name: str, interval_s: int = 30) -> dg.SensorDefinition:
    """A sensor that requests a run of `job` only when none is in progress.

    Run keys are time-bucketed so a finished run can be replaced in the next bucket but a tick can
    never request two; after consecutive failures the wait doubles (crash-loop protection), but a run
    that was interrupted because the stack was stopped is no crash: its successor starts at once.
    """

    @dg.sensor(
        name=name,
        job=job,
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Keeps one run of `{job.name}` in progress; relaunches it when none is.",
    )
    def _keeper(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        in_progress = context.instance.get_run_records(
            dg.RunsFilter(job_name=job.name, statuses=IN_PROGRESS_STATUSES), limit=1
        )
        if in_progress:
            return dg.SkipReason(f"run {in_progress[0].dagster_run.run_id} of {job.name} is in progress")
        recent = context.instance.get_run_records(dg.RunsFilter(job_name=job.name), limit=_MAX_BACKOFF_DOUBLINGS + 1)
        crashes = _consecutive_crashes(context.instance, recent)
        if crashes and recent[0].end_time is not None:
            wait_s = interval_s * 2 ** min(crashes, _MAX_BACKOFF_DOUBLINGS)
            if time.time() - recent[0].end_time < wait_s:
                return dg.SkipReason(f"{crashes} consecutive failed runs of {job.name}; waiting {wait_s}s before relaunch")
        bucket = int(time.time() // interval_s)
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=f"{job.name}-{bucket}", tags=long_run_tags(job.name))]
        )

    return _keeper
