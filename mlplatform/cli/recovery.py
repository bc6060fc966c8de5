"""Runs whose process died (kill -9, a lost machine) without telling the instance.

Such a run stays STARTED and keeps its `warehouse` pool slot, so every later run waits for it
forever. Under the daemon, run monitoring (`deploy/dagster.yaml`) finds them; runs started from the
command line have no daemon, and `mlplatform recover` does the same on the machine that ran them.
A pid means something only on its own machine: runs record their host (`HOST_TAG`), and a run of
another host, or of no recorded host, is never judged here.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

from mlplatform.lib.execution import HOST_TAG


@dataclass(frozen=True)
class RecoveredRun:
    run_id: str
    job_name: str
    pid: int


def recover_dead_runs(instance: DagsterInstance) -> list[RecoveredRun]:
    """Mark failed, and free the pool slots of, every started run of this machine whose process
    is gone."""
    recovered = []
    started = RunsFilter(
        statuses=[DagsterRunStatus.STARTING, DagsterRunStatus.STARTED],
        tags={HOST_TAG: socket.gethostname()},
    )
    for record in instance.get_run_records(started):
        run = record.dagster_run
        pid = _run_pid(instance, run.run_id)
        if pid is None or _alive(pid):  # only runs proven dead on this machine
            continue
        instance.report_run_failed(
            run, f"process {pid} is gone (killed?): marked failed by `mlplatform recover`"
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        recovered.append(RecoveredRun(run.run_id, run.job_name, pid))
    return recovered


def finished_runs(instance: DagsterInstance, run_ids: Iterable[str]) -> list[str]:
    """Those of `run_ids` that this instance knows as finished: nothing of theirs still runs, so
    an MLflow run they left RUNNING (a step killed and retried elsewhere, a Celery redelivery)
    is an orphan."""
    finished = []
    for run_id in sorted(run_ids):
        run = instance.get_run_by_id(run_id)
        if run is not None and run.is_finished:
            finished.append(run_id)
    return finished


def _run_pid(instance: DagsterInstance, run_id: str) -> int | None:
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.RUN_START).records
    return records[0].event_log_entry.dagster_event.pid if records else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: alive
    return True
