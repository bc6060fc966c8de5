"""The production deployment on this machine's services: a Postgres-backed Dagster instance, an
MLflow tracking server on Postgres, optuna on Postgres (`deploy/`)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import psycopg2
import pytest
from dagster import (
    AssetKey,
    AssetSelection,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    RunsFilter,
)
from dagster._core.storage.tags import (
    AUTOMATION_CONDITION_TAG,
    PARTITION_NAME_TAG,
    SENSOR_NAME_TAG,
)
from dagster_postgres import PostgresRunStorage

from mlplatform.core.text import project_text
from mlplatform.core.training import prepare_labeled
from mlplatform.core.tuning import tune
from mlplatform.core.tuning_config import TuningConfig
from mlplatform.definitions import build_definitions
from mlplatform.resources.model_registry import CHAMPION, PREVIOUS
from mlplatform.settings import PROJECT_ROOT, Settings
from mlplatform_tests.support.commands import BIN, materialize_command, spawn
from mlplatform_tests.support.dataops import materialize_selection, read_warehouse_table
from mlplatform_tests.support.events import REPORTED_MONTH
from mlplatform_tests.support.fixtures import make_projects_and_tags, write_source
from mlplatform_tests.support.mlops import (
    QUICK_TRAINING,
    evaluate_and_promote,
    materialize_all,
    mlplatform_cli,
    register_tagger,
    registry_for,
)
from mlplatform_tests.support.services import (
    RABBITMQ,
    SQLALCHEMY_SCHEME,
    background,
    mlflow_server,
    postgres_database,
    private_postgres,
    require,
)
from mlplatform_tests.support.webserver import dagster_server, free_port

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

RUNNING = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch) -> Iterator[dict[str, str]]:
    """Three fresh databases, an MLflow server on one, and the environment that points at them."""
    with ExitStack() as stack:
        dagster_db, mlflow_db, optuna_db = (
            stack.enter_context(postgres_database(f"mlp_{part}"))
            for part in ("dagster", "mlflow", "optuna")
        )
        env = deployed_environment(stack, tmp_path, dagster_db, mlflow_db, monkeypatch)
        monkeypatch.setenv("MLPLATFORM_OPTUNA_STORAGE", optuna_db)
        yield {**env, "MLPLATFORM_OPTUNA_STORAGE": optuna_db}


def deployed_environment(
    stack: ExitStack, tmp_path: Path, dagster_db: str, mlflow_db: str, monkeypatch
) -> dict[str, str]:
    """An MLflow server on `mlflow_db`, a DAGSTER_HOME holding `deploy/dagster.yaml` on
    `dagster_db`, and the environment (also set in this process) that points at them."""
    tracking_uri = stack.enter_context(
        mlflow_server(mlflow_db, tmp_path / "artifacts", free_port(), tmp_path / "mlflow.log")
    )
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    shutil.copy(PROJECT_ROOT / "deploy" / "dagster.yaml", dagster_home)
    env = {
        "DAGSTER_HOME": str(dagster_home),
        "DAGSTER_PG_URL": dagster_db,
        "DAGSTER_COMPUTE_LOG_DIR": str(tmp_path / "logs"),
        "MLFLOW_TRACKING_URI": tracking_uri,
        "MLPLATFORM_HOME": str(tmp_path / "home"),
        "MLPLATFORM_SOURCE": str(
            write_source(tmp_path / "source", *make_projects_and_tags(rows=160))
        ),
        "MLPLATFORM_TUNING_TRIALS": str(QUICK_TRAINING.n_trials),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def _cli(env: dict[str, str], *args: str) -> dict:
    completed = mlplatform_cli(env, *args)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def test_full_graph_on_postgres_with_an_mlflow_server(deployment) -> None:
    import optuna

    instance = DagsterInstance.from_config(deployment["DAGSTER_HOME"])
    assert isinstance(instance.run_storage, PostgresRunStorage)
    # Enough trials that the helper worker, a few seconds to start, surely takes some.
    tuned = {"MLPLATFORM_TUNING_WORKERS": "2", "MLPLATFORM_TUNING_TRIALS": "20"}
    settings = Settings.from_env({**deployment, **tuned})
    assert settings.mlflow_artifact_location is None  # the server keeps the artifacts
    result = materialize_selection(build_definitions(settings), AssetSelection.all(), instance)
    assert result.success

    dsn = deployment["DAGSTER_PG_URL"].replace(SQLALCHEMY_SCHEME, "postgresql")
    with psycopg2.connect(dsn) as connection:
        cursor = connection.cursor()
        cursor.execute("select status from runs where run_id = %s", (result.run_id,))
        assert cursor.fetchone() == ("SUCCESS",)
    (study,) = optuna.get_all_study_summaries(storage=settings.tuning.storage)
    trials = optuna.load_study(study_name=study.study_name, storage=settings.tuning.storage).trials
    assert {trial.user_attrs["worker"] for trial in trials} == {0, 1}

    registry = registry_for(settings)
    assert registry.alias_version(CHAMPION) == "1"
    labeled = read_warehouse_table(settings, "labeled_projects")
    second = register_tagger(registry, prepare_labeled(labeled))
    registry.promote(second, "1")
    assert _cli(deployment, "rollback") == {"champion": "1", "previous": second}
    assert (registry.alias_version(CHAMPION), registry.alias_version(PREVIOUS)) == ("1", second)
    prediction = _cli(deployment, "predict", "Object detection", "Image segmentation with pixels")
    assert prediction["version"] == "1"
    instance.dispose()


def test_tuning_workers_share_one_postgres_study() -> None:
    """Two processes add trials to one study in Postgres, with different proposals, and stop
    together once the study's budget is spent."""
    import optuna

    projects, tags = make_projects_and_tags(rows=160, seed=1)
    labeled = projects.merge(tags, on="id")
    with postgres_database("mlp_optuna") as storage:
        config = TuningConfig(
            n_trials=30, cv_folds=3, timeout_seconds=None, storage=storage, workers=2
        )
        result = tune(project_text(labeled), labeled["tag"], config)
        trials = optuna.load_study(study_name=config.study_name, storage=storage).trials
    # A worker may finish the trial it had started when the budget ran out.
    assert config.n_trials <= len(result.trials) <= config.n_trials + 1
    assert {trial.user_attrs["worker"] for trial in trials} == {0, 1}
    params = [tuple(sorted(trial.params.items())) for trial in trials]
    assert len(set(params)) == len(params)  # seeded apart: no trial proposed twice
    assert result.best_value == max(t.value for t in result.trials if t.value is not None)


def test_code_server_daemon_and_webserver_run_the_platform(deployment, tmp_path) -> None:
    """Started as in production: sensors tick under the daemon, automation follows new data, and
    two runs launched at once through GraphQL go through the queue and both succeed."""
    from dagster_graphql import DagsterGraphQLClient

    code_port = free_port()
    env = {
        **deployment,
        "PATH": str(BIN),
        "MLPLATFORM_CODE_SERVER_HOST": "127.0.0.1",
        "MLPLATFORM_CODE_SERVER_PORT": str(code_port),
    }
    workspace = str(PROJECT_ROOT / "deploy" / "workspace.yaml")
    code_server = [str(BIN / "dagster"), "code-server", "start", "-m", "mlplatform.definitions"]
    code_server += ["-h", "127.0.0.1", "-p", str(code_port)]
    instance = DagsterInstance.from_config(deployment["DAGSTER_HOME"])
    with ExitStack() as stack:
        stack.enter_context(background(code_server, env, tmp_path / "code.log", PROJECT_ROOT))
        webserver = [str(BIN / "dagster-webserver"), "-w", workspace]
        base_url = stack.enter_context(dagster_server(webserver, env, tmp_path / "web.log"))
        daemon = stack.enter_context(ExitStack())
        run_daemon = [str(BIN / "dagster-daemon"), "run", "-w", workspace]
        daemon.enter_context(background(run_daemon, env, tmp_path / "daemon.log", PROJECT_ROOT))

        ingestion = _wait_for_run(instance, {SENSOR_NAME_TAG: "source_change_sensor"})
        automation = _wait_for_run(instance, {AUTOMATION_CONDITION_TAG: "true"})
        assert AssetKey("labeled_projects") in automation.dagster_run.asset_selection
        assert automation.create_timestamp.timestamp() > ingestion.end_time

        port = int(base_url.rpartition(":")[2])
        client = DagsterGraphQLClient("127.0.0.1", port_number=port)
        launched = [
            client.submit_job_execution(
                "refresh",
                "mlplatform",
                "__repository__",
                tags={"n": n, PARTITION_NAME_TAG: REPORTED_MONTH},
            )
            for n in "12"
        ]
        runs = [_wait_for_run(instance, {"n": n}) for n in "12"]
        # The sensor asked for one run per month of the source; automation follows each month.
        settings = Settings.from_env(deployment)
        _wait_for(lambda: len(read_warehouse_table(settings, "labeled_projects")) == 160)
        # Nothing new starts; what has started (automation goes on to monitor the months) ends
        # before the code server that runs it stops, which would fail it.
        daemon.close()
        _wait_for(lambda: not instance.get_runs(RunsFilter(statuses=RUNNING)))
    assert sorted(run.dagster_run.run_id for run in runs) == sorted(launched)
    for run in runs:  # each went through the queue, and none met another's DuckDB lock
        enqueued = DagsterEventType.RUN_ENQUEUED
        assert instance.get_records_for_run(run.dagster_run.run_id, of_type=enqueued).records
    months = instance.get_runs(RunsFilter(tags={SENSOR_NAME_TAG: "source_change_sensor"}))
    assert len(months) == 11  # February to December 2020
    failed = instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.FAILURE]))
    assert not failed, {run.run_id: _failure_messages(instance, run.run_id) for run in failed}
    instance.dispose()


def _failure_messages(instance: DagsterInstance, run_id: str) -> list[str]:
    """What a failed run's event log says about why, for the assertion's message."""
    failures = (DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE)
    return [
        f"{entry.step_key or 'run'}: {entry.dagster_event.message or ''} "
        f"{getattr(entry.dagster_event.event_specific_data, 'error', '') or ''}"
        for entry in instance.all_logs(run_id)
        if entry.dagster_event and entry.dagster_event.event_type in failures
    ]


def _wait_for(condition, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(2)


def _wait_for_run(instance: DagsterInstance, tags: dict[str, str], timeout: float = 600):
    """The record of the first run with `tags` once it has finished successfully."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        records = instance.get_run_records(RunsFilter(tags=tags), ascending=True, limit=1)
        if records and records[0].dagster_run.is_finished:
            run = records[0].dagster_run
            assert run.status == DagsterRunStatus.SUCCESS, f"run {run.run_id}: {run.status}"
            return records[0]
        time.sleep(2)
    raise TimeoutError(f"no finished run tagged {tags} after {timeout} s")


def _worker(name: str, env: dict[str, str], tmp_path: Path):
    command = [str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app"]
    command += ["-y", str(PROJECT_ROOT / "deploy" / "celery.yaml"), "--name", name]
    return background(command, env, tmp_path / f"{name}.log", PROJECT_ROOT)


def _wait_for_text(path: Path, text: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        time.sleep(0.5)
    raise TimeoutError(f"{text!r} not in {path} after {timeout} s")


@pytest.mark.celery
def test_graph_runs_on_celery_workers_and_survives_a_killed_worker(deployment, tmp_path) -> None:
    """Two workers take the steps; the one running `trained_model` is killed (-9) mid-step."""
    require("RabbitMQ", RABBITMQ)
    env = {**deployment, "MLPLATFORM_EXECUTOR": "celery", "PATH": str(BIN)}
    # Tasks left by an earlier, interrupted run must not reach these workers.
    purge = [str(BIN / "celery"), "-A", "dagster_celery.app", "purge", "-f", "-Q", "dagster"]
    subprocess.run(purge, env=env, cwd=PROJECT_ROOT, capture_output=True, check=False)
    logs = {name: tmp_path / f"{name}.log" for name in ("first", "second")}
    with _worker("first", env, tmp_path) as first, _worker("second", env, tmp_path) as second:
        workers = {"first": first, "second": second}
        for log in logs.values():
            _wait_for_text(log, "ready.")
        run = spawn(materialize_command("*"), env)
        killed = _kill_worker_running(workers, logs, 'step "trained_model"')
        output, _ = run.communicate(timeout=900)
        assert killed, "no worker ran trained_model"
    # Tasks are acknowledged late: the killed worker's step went back to RabbitMQ, the other
    # worker ran it again, and the run went on to crown a champion.
    assert run.returncode == 0 and "RUN_SUCCESS" in output, output[-3000:]
    survivor = next(name for name in logs if name != killed)
    assert 'step "trained_model"' in logs[survivor].read_text(errors="replace")
    settings = Settings.from_env(deployment)
    assert len(read_warehouse_table(settings, "labeled_projects")) == 160
    registry = registry_for(settings)
    assert registry.alias_version(CHAMPION) is not None
    assert registry.latest_version() == "1"  # the redelivered step registered once
    # The killed attempt's MLflow run (if it had started one) is ended by `recover`: its Dagster
    # run has finished, so nothing of it still runs.
    _cli(deployment, "recover")
    running = registry.tracking.client().search_runs(
        [registry.tracking.experiment_id()], filter_string="attributes.status = 'RUNNING'"
    )
    assert running == []


def _kill_worker_running(workers: dict, logs: dict[str, Path], step: str) -> str | None:
    """SIGKILL the process group of the worker whose log shows `step` starting."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        for name, log in logs.items():
            if f"Started execution of {step}" in log.read_text(errors="replace"):
                os.killpg(workers[name].pid, signal.SIGKILL)
                return name
        time.sleep(0.2)
    return None


def test_a_registry_outage_fails_the_gate_and_decides_nothing(tmp_path: Path, monkeypatch) -> None:
    """The MLflow server (on Postgres) stops before the gate runs: the step fails naming the
    server, nothing is promoted; after a restart the same gate decides normally."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # fail fast: the policy retries
    port, artifacts, log = free_port(), tmp_path / "artifacts", tmp_path / "mlflow.log"
    source = write_source(tmp_path / "source", *make_projects_and_tags(rows=160))
    url = f"http://127.0.0.1:{port}"
    settings = Settings.from_env(
        {
            "MLPLATFORM_HOME": str(tmp_path / "home"),
            "MLPLATFORM_SOURCE": str(source),
            "MLFLOW_TRACKING_URI": url,
        }
    )
    registry = registry_for(settings)
    with postgres_database("mlp_mlflow") as store, DagsterInstance.ephemeral() as instance:
        with mlflow_server(store, artifacts, port, log):
            assert materialize_all(settings, instance=instance).success
            assert materialize_all(settings, ["trained_model"], instance).success
            assert (registry.alias_version(CHAMPION), registry.latest_version()) == ("1", "2")
        outage = evaluate_and_promote(settings, instance=instance)
        assert not outage.success
        failure = next(e for e in outage.all_events if e.is_step_failure)
        message = failure.step_failure_data.error.to_string()
        assert f"the MLflow registry at {url} could not be read" in message
        assert [e.step_key for e in outage.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
        assert "champion_model" not in {e.step_key for e in outage.all_events if e.is_step_start}
        with mlflow_server(store, artifacts, port, log):
            assert registry.alias_version(CHAMPION) == "1"  # unchanged by the outage
            decided = evaluate_and_promote(settings, instance=instance)
            evaluation = decided.asset_materializations_for_node("model_evaluation")[0]
            assert evaluation.metadata["champion_version"].value == "1"  # compared, not blind
            assert evaluation.metadata["verdict"].value != "first_model"


def test_a_postgres_restart_mid_run_fails_the_run_clearly_and_a_rerun_completes(
    tmp_path, monkeypatch
) -> None:
    """The production instance (deploy/dagster.yaml) and an MLflow server on a PostgreSQL of the
    test's own, restarted while trained_model tunes: the run ends (failed, naming the lost
    connection, or done), nothing is left STARTED, the MLflow server answers again, and a re-run
    completes with a champion."""
    with ExitStack() as stack:
        postgres = stack.enter_context(private_postgres(free_port()))
        dagster_db, mlflow_db = (postgres.create_database(name) for name in ("dagster", "mlflow"))
        env = deployed_environment(stack, tmp_path, dagster_db, mlflow_db, monkeypatch)
        env |= {"PATH": str(BIN), "MLPLATFORM_TUNING_TRIALS": "6"}
        dagster_home = env["DAGSTER_HOME"]
        with DagsterInstance.from_config(dagster_home) as instance:
            assert (instance.run_retries_enabled, instance.run_retries_max_retries) == (True, 2)

        process = spawn(materialize_command("*"), env)
        output = []
        for line in process.stdout:
            output.append(line)
            if "trial 2/6" in line:
                postgres.pg_ctl("restart", "-m", "fast")
        process.wait(timeout=600)
        text = "".join(output)
        assert postgres.starts() == 2, "restarted while the run was tuning"
        if process.returncode != 0:
            lost = re.search(r".*(connection|terminating|server closed).*", text, re.I)
            assert lost, text[-3000:]

        rerun = spawn(materialize_command("*"), env)
        rerun_output = rerun.communicate(timeout=600)[0]
        assert rerun.returncode == 0, rerun_output[-3000:]
        with DagsterInstance.from_config(dagster_home) as instance:
            started = RunsFilter(statuses=[DagsterRunStatus.STARTING, DagsterRunStatus.STARTED])
            assert instance.get_runs(started) == []
        assert registry_for(Settings.from_env(env)).alias_version(CHAMPION) is not None
