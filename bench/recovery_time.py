"""Seconds from a `kill -9` of a run's process to the run marked failed, its pool slot free.

- `daemon`: the run launched through the queue (`dagster job launch`), started by
  `dagster-daemon` in a process of the gRPC code server; the run worker is killed while the dbt
  step runs. The code server notices its child died and fails the run.
- `command_line`: `dagster asset materialize` killed as the dbt step starts; nothing watches it,
  and `mlplatform recover` (timed as a user runs it) fails it and frees its slot.

A lost machine (run worker and code server gone together) is not measured: no process is left to
notice, and only `run_monitoring.max_runtime_seconds` (`deploy/dagster.yaml`) ends the run.

    uv run python bench/recovery_time.py [--repeats 3] [--output FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import yaml
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter
from import_time import commit_of

from mlplatform_tests.support.commands import local_dagster_home, spawn

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
DBT_STARTED = 'Started execution of step "madewithml_dbt_models"'
DATAOPS = "group:ingestion or group:transformation"


def instance_home(scratch: Path) -> Path:
    """The project's dagster.yaml (pools, telemetry off) with its storage under `scratch`, and
    run monitoring on."""
    home = local_dagster_home(scratch)
    config = yaml.safe_load((home / "dagster.yaml").read_text())
    config["run_monitoring"] = {"enabled": True, "poll_interval_seconds": 5}
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    return home


def environment(scratch: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DAGSTER_HOME": str(instance_home(scratch / "dagster")),
        "MLPLATFORM_HOME": str(scratch / "home"),
    }


def until(condition, timeout: float, step: float = 0.2) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"not within {timeout} s")
        time.sleep(step)
    return time.monotonic() - started


def dbt_step_started(instance: DagsterInstance, run_id: str) -> bool:
    steps = instance.all_logs(run_id, of_type=DagsterEventType.STEP_START)
    return any(event.step_key == "madewithml_dbt_models" for event in steps)


def failed(instance: DagsterInstance, run_id: str) -> bool:
    return instance.get_run_by_id(run_id).status == DagsterRunStatus.FAILURE


def under_the_daemon(scratch: Path) -> float:
    env = environment(scratch)
    workspace = ["-m", "mlplatform.definitions"]
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        instance.get_runs(limit=1)  # creates the SQLite tables before two processes race to
        daemon = subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", *workspace],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            # Tagged: the daemon's sensors launch runs of their own beside it.
            tags = {"bench": uuid.uuid4().hex}
            launch = [str(BIN / "dagster"), "job", "launch", *workspace, "-j", "refresh"]
            launch += ["--tags", json.dumps(tags)]
            subprocess.run(launch, env=env, cwd=ROOT, check=True, capture_output=True)
            run_id = instance.get_runs(RunsFilter(tags=tags))[0].run_id
            until(lambda: dbt_step_started(instance, run_id), timeout=300)
            start = instance.all_logs(run_id, of_type=DagsterEventType.RUN_START)[0]
            os.kill(start.dagster_event.pid, signal.SIGKILL)
            return until(lambda: failed(instance, run_id), timeout=300)
        finally:
            os.killpg(daemon.pid, signal.SIGTERM)
            daemon.wait(timeout=60)


def from_the_command_line(scratch: Path) -> float:
    env = environment(scratch)
    materialize = [str(BIN / "dagster"), "asset", "materialize", "-m", "mlplatform.definitions"]
    process = spawn([*materialize, "--select", DATAOPS], env)
    for line in process.stdout:
        if DBT_STARTED in line:
            os.killpg(process.pid, signal.SIGKILL)
            break
    process.wait(timeout=60)
    started = time.monotonic()
    recovered = subprocess.run(
        [str(BIN / "mlplatform"), "recover"], env=env, cwd=ROOT, check=True, capture_output=True
    )
    seconds = time.monotonic() - started
    assert json.loads(recovered.stdout)["runs"], "recover found the killed run"
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=ROOT / "bench/results/recovery_time.json")
    args = parser.parse_args()

    measured: dict[str, list[float]] = {"daemon": [], "command_line": []}
    for repeat in range(args.repeats):
        for mode, measure in (
            ("daemon", under_the_daemon),
            ("command_line", from_the_command_line),
        ):
            with tempfile.TemporaryDirectory(prefix=f"recovery-{mode}-") as scratch:
                measured[mode].append(round(measure(Path(scratch)), 2))
            print(mode, repeat, measured[mode][-1], flush=True)
    report = {
        "commit": commit_of(ROOT),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "seconds_to_failed": measured,
        "median_seconds": {mode: statistics.median(v) for mode, v in measured.items()},
        "not_measured": "a lost machine: only run_monitoring.max_runtime_seconds ends the run",
    }
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["median_seconds"]))


if __name__ == "__main__":
    main()
