"""What stored data looks like after a materialization is killed (-9) mid-step."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance, DagsterRunStatus, RunsFilter

from mlplatform.core.sources import data_fingerprint
from mlplatform.lib.execution import HOST_TAG
from mlplatform.settings import Settings
from mlplatform_tests.support.commands import BIN, local_dagster_home, materialize_command, spawn
from mlplatform_tests.support.dataops import materialize_dataops, read_warehouse_table
from mlplatform_tests.support.fixtures import make_projects_and_tags, write_source
from mlplatform_tests.support.mlops import materialize_all, mlplatform_cli, registry_for

MATERIALIZE_DATAOPS = materialize_command("group:ingestion or group:transformation")
DBT_STEP_STARTED = 'Started execution of step "madewithml_dbt_models"'
MATERIALIZE_ALL = materialize_command("*")
TRIALS = 8


def _materialize(
    env: dict[str, str], kill_at: str | None = None, command: list[str] = MATERIALIZE_DATAOPS
) -> tuple[int, str]:
    """Run `command`; with `kill_at`, SIGKILL its process group when that text shows."""
    process = spawn(command, env)
    lines = []
    for line in process.stdout:
        lines.append(line)
        if kill_at and kill_at in line:
            os.killpg(process.pid, signal.SIGKILL)
            break
    process.wait(timeout=600)
    return process.returncode, "".join(lines)


PUBLISHED = ("projects", "tags", "labeled_projects")


def _champion_after_last_gate(env: dict[str, str], default: str | None = None) -> str | None:
    """The champion the last promotion in the instance set (`default` when none ran there)."""
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        records = instance.fetch_materializations(AssetKey("champion_model"), limit=1).records
    if not records:
        return default
    return records[0].asset_materialization.metadata["champion_version"].value


@pytest.mark.slow
def test_killed_during_dbt_keeps_the_published_table_and_a_rerun_converges(tmp_path) -> None:
    # As the README runs it: an instance whose pool lets one step at a time use the warehouse.
    dagster_home = local_dagster_home(tmp_path / "dagster")

    def env_for(home: str, source: Path) -> dict[str, str]:
        return {
            "PATH": str(BIN),
            "DAGSTER_HOME": str(dagster_home),
            "MLPLATFORM_HOME": str(tmp_path / home),
            "MLPLATFORM_SOURCE": str(source),
        }

    first = write_source(tmp_path / "first", *make_projects_and_tags(seed=1))
    second = write_source(tmp_path / "second", *make_projects_and_tags(seed=2))
    env = env_for("home", first)
    assert _materialize(env)[0] == 0
    settings = Settings.from_env(env)
    published = read_warehouse_table(settings, "labeled_projects")

    env = env_for("home", second)
    code, output = _materialize(env, kill_at=DBT_STEP_STARTED)
    assert code == -signal.SIGKILL, output[-3000:]
    pd.testing.assert_frame_equal(read_warehouse_table(settings, "labeled_projects"), published)
    # The killed run still holds the warehouse pool's slot: a new run would wait for it forever.
    # Its pid means something only on the host it ran on, which the run recorded.
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        [killed] = instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.STARTED]))
        assert killed.tags[HOST_TAG] == socket.gethostname()
        instance.add_run_tags(killed.run_id, {HOST_TAG: "another-host"})
        assert json.loads(mlplatform_cli(env, "recover").stdout)["runs"] == []
        assert instance.get_run_by_id(killed.run_id).status == DagsterRunStatus.STARTED
        instance.add_run_tags(killed.run_id, {HOST_TAG: socket.gethostname()})
    recover = mlplatform_cli(env, "recover")
    assert recover.returncode == 0, recover.stderr
    assert [run["job_name"] for run in json.loads(recover.stdout)["runs"]] == ["__ASSET_JOB"]
    assert json.loads(mlplatform_cli(env, "recover").stdout)["runs"] == []  # nothing left

    code, output = _materialize(env)
    assert code == 0, output[-3000:]
    # The reference needs no process of its own: an uninterrupted run, in this process.
    uninterrupted = Settings.from_env(env_for("clean", second))
    assert materialize_dataops(uninterrupted).success
    pd.testing.assert_frame_equal(
        read_warehouse_table(settings, "labeled_projects"),
        read_warehouse_table(uninterrupted, "labeled_projects"),
    )


@pytest.mark.slow
def test_killed_during_training_leaves_no_half_registered_model_and_a_rerun_resumes(
    tmp_path,
) -> None:
    dagster_home = local_dagster_home(tmp_path / "dagster")
    env = {
        "PATH": str(BIN),
        "DAGSTER_HOME": str(dagster_home),
        "MLPLATFORM_HOME": str(tmp_path / "home"),
        "MLPLATFORM_SOURCE": str(write_source(tmp_path / "first", *make_projects_and_tags(seed=1))),
        "MLPLATFORM_TUNING_TRIALS": str(TRIALS),
    }
    settings = Settings.from_env(env)
    assert materialize_all(settings).success
    registry = registry_for(settings)
    assert (registry.latest_version(), registry.alias_version("champion")) == ("1", "1")

    second = write_source(tmp_path / "second", *make_projects_and_tags(seed=2))
    env["MLPLATFORM_SOURCE"] = str(second)
    code, output = _materialize(env, kill_at=f"trial 3/{TRIALS}", command=MATERIALIZE_ALL)
    assert code == -signal.SIGKILL, output[-3000:]
    # Nothing was registered: the champion and the newest version are the first run's.
    assert (registry.latest_version(), registry.alias_version("champion")) == ("1", "1")
    training_run = _training_runs(registry, status="RUNNING")
    assert len(training_run) == 1  # the dead run's, until `recover` ends it

    recover = json.loads(mlplatform_cli(env, "recover").stdout)
    assert recover["mlflow_runs_killed"] == training_run
    assert _training_runs(registry, status="KILLED") == training_run

    code, output = _materialize(env, command=MATERIALIZE_ALL)
    assert code == 0, output[-3000:]
    assert registry.latest_version() == "2"
    assert registry.alias_version("champion") == _champion_after_last_gate(env, default="1")
    # The re-run resumed the study: the trials finished before the kill count towards the budget.
    study = _study_of_version(settings, registry, "2")
    finished = [t for t in study.trials if t.state.is_finished()]
    assert len(finished) == TRIALS
    assert output.count(f"/{TRIALS}: ") < TRIALS  # it ran only the trials still missing
    # The uninterrupted reference: same tables, so the model was trained on the same data.
    uninterrupted = Settings.from_env({**env, "MLPLATFORM_HOME": str(tmp_path / "clean")})
    assert materialize_dataops(uninterrupted).success
    reference = read_warehouse_table(uninterrupted, "labeled_projects")
    pd.testing.assert_frame_equal(read_warehouse_table(settings, "labeled_projects"), reference)
    assert _version_tags(registry, "2")["data_sha256"] == data_fingerprint(reference)["sha256"]


def _training_runs(registry, status: str) -> list[str]:
    tracking = registry.tracking
    runs = tracking.client().search_runs(
        [tracking.experiment_id()],
        filter_string=f"attributes.status = '{status}' and attributes.run_name LIKE 'trained%'",
    )
    return [run.info.run_id for run in runs]


def _version_tags(registry, version: str) -> dict[str, str]:
    client = registry.tracking.client()
    return client.get_model_version(registry.registered_model_name, version).tags


def _study_of_version(settings: Settings, registry, version: str):
    import optuna

    sha = _version_tags(registry, version)["data_sha256"]
    names = optuna.get_all_study_names(settings.tuning.storage)
    (name,) = [name for name in names if sha[:12] in name]
    return optuna.load_study(study_name=name, storage=settings.tuning.storage)


@contextmanager
def _warehouse_lock_held(database: Path, release_after: float | None = None) -> Iterator[None]:
    """Another process holds the warehouse's lock (as a run of another instance would) until the
    block ends, or for `release_after` seconds."""
    holder = "import sys, time; from filelock import FileLock; lock = FileLock(sys.argv[1])"
    holder += "; lock.acquire(); print('held', flush=True); time.sleep(float(sys.argv[2]))"
    command = [sys.executable, "-c", holder, f"{database}.lock", str(release_after or 600)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "held"
        yield
    finally:
        process.kill()
        process.wait()


def test_a_run_waits_for_the_warehouse_lock_and_gives_up_with_a_message(tmp_path) -> None:
    """A process outside the run's instance holds the warehouse: the run waits, saying so, and
    when the wait runs out it fails naming the file, with the stored tables unchanged."""
    env = {"MLPLATFORM_HOME": str(tmp_path / "home"), "MLPLATFORM_WAREHOUSE_LOCK_TIMEOUT": "2"}
    env["MLPLATFORM_SOURCE"] = str(
        write_source(tmp_path / "first", *make_projects_and_tags(seed=1))
    )
    settings = Settings.from_env(env)
    assert materialize_dataops(settings).success
    published = read_warehouse_table(settings, "labeled_projects")

    env["MLPLATFORM_SOURCE"] = str(
        write_source(tmp_path / "second", *make_projects_and_tags(seed=2))
    )
    with _warehouse_lock_held(settings.duckdb_path):
        refused = materialize_dataops(Settings.from_env(env))
    assert not refused.success
    failure = refused.get_step_failure_events()[0].step_failure_data.error.message
    assert f"The warehouse {settings.duckdb_path} stayed in use by another process" in failure
    assert "MLPLATFORM_WAREHOUSE_LOCK_TIMEOUT" in failure
    pd.testing.assert_frame_equal(read_warehouse_table(settings, "labeled_projects"), published)

    instance = DagsterInstance.ephemeral()
    env["MLPLATFORM_WAREHOUSE_LOCK_TIMEOUT"] = "600"
    with _warehouse_lock_held(settings.duckdb_path, release_after=5):
        waited = materialize_dataops(Settings.from_env(env), instance)
    assert waited.success
    messages = [entry.user_message for entry in instance.all_logs(waited.run_id)]
    assert any(f"The warehouse {settings.duckdb_path} is in use" in m for m in messages)
    assert not read_warehouse_table(settings, "labeled_projects").equals(published)


@pytest.mark.slow
def test_two_materializations_started_together_take_turns(tmp_path) -> None:
    """Two `dagster asset materialize` of the whole graph, started together on one project (one
    DAGSTER_HOME, one MLPLATFORM_HOME): warehouse steps wait for the pool, both runs succeed, and
    the warehouse and registry hold complete results."""
    dagster_home = local_dagster_home(tmp_path / "dagster")
    # A new instance creates its SQLite tables on first use, and two processes doing that at once
    # race (Dagster: "table ... already exists"); as after the README's first run, it exists.
    DagsterInstance.from_config(str(dagster_home)).dispose()
    source = write_source(tmp_path / "source", *make_projects_and_tags(seed=1))
    env = {
        "PATH": f"{BIN}{os.pathsep}{os.defpath}",
        "DAGSTER_HOME": str(dagster_home),
        "MLPLATFORM_HOME": str(tmp_path / "home"),
        "MLPLATFORM_SOURCE": str(source),
    }
    processes = [spawn(materialize_command("*"), env) for _ in range(2)]
    # Both pipes are read at once: a full pipe would stall its run while it holds the pool.
    with ThreadPoolExecutor(len(processes)) as pool:
        outputs = list(pool.map(lambda process: process.communicate(timeout=900)[0], processes))
    # Each run succeeds, or its promotion alone is refused: when both gates compared against
    # the same champion, the second promotion finds the alias moved (compare and set).
    refused = [output for output in outputs if "RUN_SUCCESS" not in output]
    assert len(refused) < len(outputs), outputs[0][-3000:]
    for output in refused:
        assert "not promoting v" in output and "re-run model_evaluation" in output, output[-3000:]
        failed_steps = set(re.findall(r'Execution of step "(\w+)" failed', output))
        assert failed_steps == {"champion_model"}, failed_steps
    assert "Step blocked by limit for pool warehouse" in "".join(outputs)

    settings = Settings.from_env(env)
    labeled = read_warehouse_table(settings, "labeled_projects")
    assert len(labeled) == len(pd.read_csv(source / "projects.csv"))
    registry = registry_for(settings)
    assert registry.latest_version() == "2"  # one registered version per run
    assert registry.alias_version("champion") == _champion_after_last_gate(env)


PUBLISH_THEN_DIE = """
import os, signal, sys
import duckdb
import pandas as pd
from mlplatform.resources.warehouses import build_warehouse
from mlplatform.settings import Settings


class DieAfterTheFirstTable(dict):
    def items(self):
        for number, item in enumerate(super().items()):
            if number:
                os.kill(os.getpid(), signal.SIGKILL)
            yield item


warehouse = build_warehouse(Settings.from_env({"MLPLATFORM_HOME": sys.argv[1]}))
frames = {name: pd.read_csv(f"{sys.argv[2]}/{name}.csv") for name in ("projects", "tags")}
warehouse.publish_batch(DieAfterTheFirstTable(frames))
"""


def test_raw_tables_are_published_together_or_not_at_all(good_home) -> None:
    """Both raw tables in one transaction: a failing write of the second, or the process killed
    (-9) between the two, leaves both as they were."""
    settings, warehouse = good_home
    before = {name: warehouse.read_table(name) for name in ("projects", "tags")}
    projects, tags = make_projects_and_tags(rows=12, seed=7)
    broken = tags.assign(tag=pd.period_range("2020-01", periods=12, freq="M"))  # DuckDB: no type
    with pytest.raises(duckdb.Error):
        warehouse.publish_batch({"projects": projects, "tags": broken})
    for name, frame in before.items():
        pd.testing.assert_frame_equal(warehouse.read_table(name), frame)

    source = write_source(settings.home.parent / "next", projects, tags)
    completed = subprocess.run(
        [sys.executable, "-c", PUBLISH_THEN_DIE, str(settings.home), str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == -signal.SIGKILL, completed.stderr
    for name, frame in before.items():
        pd.testing.assert_frame_equal(warehouse.read_table(name), frame)


@pytest.fixture
def good_home(tmp_path):
    from mlplatform.resources.warehouses import build_warehouse

    source = write_source(tmp_path / "source", *make_projects_and_tags(seed=1))
    settings = Settings.from_env(
        {"MLPLATFORM_HOME": str(tmp_path / "home"), "MLPLATFORM_SOURCE": str(source)}
    )
    assert materialize_dataops(settings, selection=["projects", "tags"]).success
    return settings, build_warehouse(settings)


@contextmanager
def small_file_system(directory: Path, megabytes: int) -> Iterator[Path]:
    """A tmpfs of `megabytes` at `directory` (needs root, as CI runs)."""
    directory.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs (needs root): {mounted.stderr.strip()}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False)


def fill(directory: Path, leave_bytes: int) -> Path:
    """A file that takes all but `leave_bytes` of the file system's free space."""
    filler = directory / "filler"
    free = os.statvfs(directory).f_bavail * os.statvfs(directory).f_frsize
    with filler.open("wb") as out:
        out.write(b"\0" * max(free - leave_bytes, 0))
    return filler


def test_a_full_disk_fails_the_run_naming_the_path_and_keeps_every_published_table(
    tmp_path,
) -> None:
    with small_file_system(tmp_path / "home", megabytes=24) as home:
        settings = Settings.from_env(
            {
                "MLPLATFORM_HOME": str(home),
                "MLPLATFORM_SOURCE": str(
                    write_source(tmp_path / "first", *make_projects_and_tags(rows=60, seed=1))
                ),
            }
        )
        assert materialize_dataops(settings).success
        published = {t: read_warehouse_table(settings, t) for t in PUBLISHED}
        # Hourly: 6,000 projects within 2020, the months the partitions hold.
        bigger = write_source(
            tmp_path / "second", *make_projects_and_tags(rows=6000, seed=2, freq="1h")
        )
        settings = dataclasses.replace(settings, source=str(bigger))

        filler = fill(home, leave_bytes=64 * 1024)
        result = materialize_dataops(settings)

        assert not result.success
        [failure] = [e for e in result.all_events if e.is_step_failure]
        error = str(failure.step_failure_data.error)
        assert "No space left on device" in error and str(home) in error, error[-2000:]
        for table, frame in published.items():
            pd.testing.assert_frame_equal(read_warehouse_table(settings, table), frame)

        filler.unlink()
        assert materialize_dataops(settings).success, "space freed: the same batch goes in"
        assert len(read_warehouse_table(settings, "labeled_projects")) == 6000
