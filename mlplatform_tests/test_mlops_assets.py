import dataclasses
import json
import os
import subprocess

import numpy as np
import pytest
from dagster import (
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    build_input_context,
    build_output_context,
)
from dagster._core.definitions.data_version import StaleStatus

from mlplatform.cli import summary as cli_summary
from mlplatform.core.gate import FIRST_MODEL
from mlplatform.core.training import prepare_labeled, train_tagger
from mlplatform.core.tuning_config import TuningConfig
from mlplatform.definitions import build_definitions
from mlplatform.defs.monitoring.assets import DRIFT_REFERENCE
from mlplatform.resources.model_io import MlflowModelIOManager
from mlplatform.resources.model_registry import CHAMPION, PREVIOUS, TaggerModel
from mlplatform.resources.notifications import Notifier
from mlplatform_tests.support.dataops import (
    DATAOPS,
    check_evaluations,
    materialized_keys,
    read_warehouse_table,
)
from mlplatform_tests.support.fixtures import make_projects_and_tags, write_source
from mlplatform_tests.support.mlops import (
    evaluate_and_promote,
    materialize_all,
    mlplatform_cli,
    record_as_trained,
    register_tagger,
    registry_for,
    stale_status,
)
from mlplatform_tests.support.standins.slack import slack_stand_in


@pytest.fixture
def settings(settings_for, tmp_path):
    return settings_for(write_source(tmp_path / "source", *make_projects_and_tags(rows=160)))


@pytest.mark.slow
def test_whole_graph_trains_registers_and_crowns_a_champion(settings, tmp_path) -> None:
    instance = DagsterInstance.ephemeral()
    result = materialize_all(settings, instance=instance)
    assert result.success
    assert materialized_keys(result) >= {"trained_model", "model_evaluation", "champion_model"}
    gate = check_evaluations(result)["model_evaluation:promotion_gate"]
    assert gate.passed
    assert gate.metadata["verdict"].value == FIRST_MODEL
    comparison = gate.metadata["comparison"]
    assert [c.name for c in comparison.schema.columns] == ["metric", "n", "challenger"]
    assert comparison.records[0].data["metric"] == "weighted f1"

    registry = registry_for(settings)
    assert registry.alias_version(CHAMPION) == "1"
    trained = next(
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "trained_model"
    ).materialization.metadata
    assert trained["model_version"].value == "1"
    assert trained["test_f1_weighted"].value > 0.8
    client = registry.tracking.client()
    run = client.get_run(trained["mlflow_run_id"].value)
    assert run.data.tags["data_rows"] == "160"
    assert len(run.data.tags["data_sha256"]) == 64
    assert run.data.tags["training_cutoff"].startswith("2020-")
    assert run.data.metrics["trials"] == 3
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"confusion_matrix.png", "per_class_report.json"} <= artifacts
    # MLflow 3 keeps the model as a logged model of the run, beside its artifacts.
    source = client.get_model_version(registry.registered_model_name, "1").source
    logged = client.get_logged_model(source.removeprefix("models:/"))
    assert logged.source_run_id == run.info.run_id
    assert {"MLmodel", "model.skops"} <= {
        a.path for a in client.list_logged_model_artifacts(logged.model_id)
    }
    nested = client.search_runs(
        [run.info.experiment_id], f"tags.`mlflow.parentRunId` = '{run.info.run_id}'"
    )
    assert len(nested) == 3
    assert all("features" in n.data.params for n in nested)

    summary = cli_summary.summary(settings)
    assert (summary.champion_version, summary.table_rows) == ("1", 160)
    assert summary.champion_test_f1 == pytest.approx(trained["test_f1_weighted"].value, abs=1e-3)
    assert "v1, weighted F1" in summary.to_text()

    # The same source ingested again keeps every data version: nothing downstream is unsynced.
    assert materialize_all(settings, DATAOPS, instance).success
    for asset in ("labeled_projects", "trained_model", "model_evaluation", "champion_model"):
        assert stale_status(settings, instance, asset) == StaleStatus.FRESH, asset
    # New rows give their months a new data version. (Dagster does not carry staleness from a
    # time-partitioned parent to an unpartitioned child: the retraining policy decides.)
    before = _latest_data_version(instance, "labeled_projects")
    write_source(tmp_path / "source", *make_projects_and_tags(rows=170))
    assert materialize_all(settings, DATAOPS, instance).success
    assert _latest_data_version(instance, "labeled_projects") != before


def _latest_data_version(instance: DagsterInstance, asset: str) -> str:
    record = instance.fetch_materializations(AssetKey(asset), limit=1).records[0]
    return record.asset_materialization.tags["dagster/data_version"]


def test_io_manager_round_trip(settings) -> None:
    frame = read_or_make_labeled(settings)
    outcome = train_tagger(frame, TuningConfig(n_trials=2, cv_folds=3, timeout_seconds=None))
    registry = registry_for(settings)
    io_manager = MlflowModelIOManager(registry=registry)
    with registry.tracking.training_run("round-trip", {}) as run_id:
        context = build_output_context(run_id="dagster-run-1")
        io_manager.handle_output(context, TaggerModel(outcome.tagger, run_id, {"k": "v"}))
    upstream = build_output_context(run_id="dagster-run-1")
    loaded = io_manager.load_input(build_input_context(upstream_output=upstream))
    texts = (frame["title"] + " " + frame["description"]).tolist()
    np.testing.assert_allclose(
        loaded.tagger.probabilities(texts), outcome.tagger.probabilities(texts)
    )
    assert loaded.tagger.threshold == outcome.tagger.threshold
    assert loaded.tags["k"] == "v" and loaded.tags["dagster_run_id"] == "dagster-run-1"
    assert loaded.version == "1" and loaded.run_id == run_id


def test_mlflow_leaves_the_process_environment_alone(settings, monkeypatch) -> None:
    """MLflow's fluent API exports its URIs to os.environ; a leak would turn later resources'
    URIs into `EnvVar`s pointing at whichever store was used last."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    registry = registry_for(settings)
    version = register_tagger(registry, read_or_make_labeled(settings))
    registry.load(version)
    assert registry.load_frame(version, DRIFT_REFERENCE) is None  # none before monitoring
    assert "MLFLOW_TRACKING_URI" not in os.environ
    assert "MLFLOW_REGISTRY_URI" not in os.environ
    resources = build_definitions(settings).resources
    assert resources["mlflow_tracking"].tracking_uri == settings.mlflow_tracking_uri
    assert resources["model_registry"].latest_version() == version


def read_or_make_labeled(settings):
    projects, tags = make_projects_and_tags(rows=160)
    return prepare_labeled(projects.merge(tags, on="id"))


def test_gate_promotes_only_better_models_and_rollback_restores(settings) -> None:
    assert materialize_all(settings, selection=["projects", "tags", "labeled_projects"]).success
    labeled = prepare_labeled(read_warehouse_table(settings, "labeled_projects"))
    registry = registry_for(settings)
    instance = DagsterInstance.ephemeral()

    def trained(**options) -> str:  # registered, and recorded as trained_model's materialization
        return record_as_trained(instance, register_tagger(registry, labeled, **options))

    with slack_stand_in() as slack:
        notifier = Notifier(slack_webhook_url=slack.url)

        bad_first = trained(shuffle_labels=True)
        result = evaluate_and_promote(settings, instance=instance, notifier=notifier)
        assert not check_evaluations(result)["model_evaluation:promotion_gate"].passed
        assert registry.alias_version(CHAMPION) is None, f"v{bad_first} is below min quality"
        assert slack.messages("regression")[0].startswith(f"v{bad_first} not promoted: ")

        good = trained()
        assert evaluate_and_promote(settings, instance=instance, notifier=notifier).success
        assert registry.alias_version(CHAMPION) == good
        assert slack.messages("champion_changed") == [f"champion is now v{good} (was none)"]

        worse = trained(shuffle_labels=True)
        result = evaluate_and_promote(settings, instance=instance, notifier=notifier)
        assert not result.success
        assert "champion_model" not in materialized_keys(result)
        started = {
            e.step_key for e in result.all_events if e.event_type == DagsterEventType.STEP_START
        }
        assert "champion_model" not in started  # the gate blocks: the step does not even start
        assert registry.alias_version(CHAMPION) == good
        report = settings.home / "reports" / f"regression-v{worse}.md"
        assert "worse than the champion" in report.read_text()
        regression = slack.messages("regression")[-1]
        assert regression.startswith(f"v{worse} not promoted: weighted F1 ")
        assert "worse than the champion" in regression

        better = trained()  # as good as the champion: within tolerance
        assert evaluate_and_promote(settings, instance=instance, notifier=notifier).success
        aliases = (registry.alias_version(CHAMPION), registry.alias_version(PREVIOUS))
        assert aliases == (better, good)
        assert slack.messages("champion_changed")[-1] == f"champion is now v{better} (was v{good})"
        assert [event for event, _ in slack.events()] == [
            "regression",
            "champion_changed",
            "regression",
            "champion_changed",
        ]

    assert registry.rollback() == (better, good)
    assert (registry.alias_version(CHAMPION), registry.alias_version(PREVIOUS)) == (good, better)
    registry.rollback(to_version=better)
    assert registry.alias_version(CHAMPION) == better


def _cli(settings, *args: str) -> subprocess.CompletedProcess:
    """`mlplatform` as a user runs it: the console script in its own process."""
    return mlplatform_cli({"MLPLATFORM_HOME": str(settings.home)}, *args)


@pytest.fixture
def cli_in_process(settings, monkeypatch, capsys):
    """The same `main`, called in this process: no second start-up of the ML stack."""
    from mlplatform.cli import main

    monkeypatch.setenv("MLPLATFORM_HOME", str(settings.home))

    def run(*args: str) -> subprocess.CompletedProcess:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, captured.out, captured.err)

    return run


def test_prediction_cli_uses_the_champion(settings, cli_in_process) -> None:
    missing = cli_in_process("predict", "a", "b")
    assert missing.returncode == 1 and "no champion yet" in missing.stderr

    assert materialize_all(settings, selection=["projects", "tags", "labeled_projects"]).success
    registry = registry_for(settings)
    labeled = prepare_labeled(read_warehouse_table(settings, "labeled_projects"))
    first, second = register_tagger(registry, labeled), register_tagger(registry, labeled)
    registry.promote(first, None)
    registry.promote(second, first)

    completed = _cli(
        settings,
        "predict",
        "Object detection",
        "A study of image segmentation and detection with pixels",
    )
    assert completed.returncode == 0, completed.stderr
    prediction = json.loads(completed.stdout)
    assert prediction["tag"] == "computer-vision"
    assert 0.25 < prediction["probability"] <= 1.0
    assert prediction["version"] == second

    summary = cli_in_process("summary")
    assert summary.returncode == 0, summary.stderr
    assert f"champion model    v{second}" in summary.stdout
    assert "labeled_projects: 160 rows" in summary.stdout

    rolled = cli_in_process("rollback")
    assert json.loads(rolled.stdout) == {"champion": first, "previous": second}
    champion = json.loads(cli_in_process("champion").stdout)
    assert champion == {"champion": first, "previous": second}


def test_notifier_posts_to_a_slack_webhook_stand_in() -> None:
    with slack_stand_in() as slack:
        Notifier(slack_webhook_url=slack.url).notify("champion_changed", "champion is now v2")
    assert slack.bodies == [{"text": "*mlplatform · champion_changed*\nchampion is now v2"}]
    # An unreachable webhook is logged, never raised: notifications must not fail a step.
    Notifier(slack_webhook_url="http://127.0.0.1:9/hook", timeout_seconds=1).notify("x", "y")


def test_summary_offers_mlflow_ui_for_a_local_store_on_any_port() -> None:
    local = cli_summary.PlatformSummary(
        None, None, None, "w.s.labeled_projects", None, "http://127.0.0.1:5001", "sqlite:///m.db"
    )
    assert "uv run mlflow ui --backend-store-uri sqlite:///m.db   -> http://127.0.0.1:5001" in (
        local.to_text()
    )
    server = dataclasses.replace(
        local, mlflow_ui_url="http://mlflow:5000", tracking_uri="http://mlflow:5000"
    )
    assert "(served by the tracking server)   -> http://mlflow:5000" in server.to_text()
    database = dataclasses.replace(local, tracking_uri="postgresql://ml:secret@db:5432/mlflow")
    assert '--backend-store-uri "$MLFLOW_TRACKING_URI"' in database.to_text()
    assert "secret" not in database.to_text()
