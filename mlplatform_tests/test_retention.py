"""Retention (#30): what `prune` keeps and deletes, in the pure plan and on real stores (MLflow
registry and artifacts in SQLite, optuna storage, report and dbt folders, a Dagster instance)."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

import optuna
import pytest
from dagster import AssetKey, DagsterInstance, asset, instance_for_test, materialize

from mlplatform.core.retention import MODEL_VERSION, Item, RetentionConfig, plan_prune
from mlplatform.definitions import build_definitions
from mlplatform.resources.model_registry import CHAMPION, PREVIOUS
from mlplatform.resources.policies import RetentionPolicy
from mlplatform.resources.retention import prune, retention_stores
from mlplatform.settings import Settings
from mlplatform_tests.support.fixtures import make_projects_and_tags
from mlplatform_tests.support.mlops import mlplatform_cli, register_tagger, registry_for

NOW = datetime(2026, 11, 29, tzinfo=UTC)
OLD = NOW - timedelta(days=40)


def version(key: str, age_days: float = 0, **fields) -> Item:
    return Item(MODEL_VERSION, key, NOW - timedelta(days=age_days), **fields)


def test_the_champion_the_previous_and_the_newest_versions_stay():
    versions = [version(str(v), age_days=10 - v) for v in range(1, 9)]
    versions[1] = version("2", age_days=8, pinned=True)  # champion
    versions[4] = version("5", age_days=5, pinned=True)  # previous

    plan = plan_prune(versions, RetentionConfig(keep_model_versions=3), NOW)

    assert sorted(item.key for item in plan.delete) == ["1", "3", "4"]
    assert sorted(item.key for item in plan.keep) == ["2", "5", "6", "7", "8"]


def test_other_items_go_after_the_window_unless_newest_of_their_group_or_needed():
    items = [
        Item("report", "drift-old", OLD, size_bytes=10, group="drift"),
        Item("report", "drift-new", OLD + timedelta(days=1), group="drift"),
        Item("report", "regression-old", OLD, size_bytes=5, group="regression"),
        Item("report", "regression-new", NOW - timedelta(days=1), group="regression"),
        Item("mlflow_run", "run-of-kept-version", OLD, group="training"),
        Item("mlflow_run", "run-newest", OLD + timedelta(days=2), group="training"),
        Item("mlflow_run", "run-young", NOW, group="trial"),
        Item("mlflow_run", "run-old", OLD, group="trial"),
        version("1", needs=("run-of-kept-version",)),
    ]

    plan = plan_prune(items, RetentionConfig(window_days=30), NOW)

    assert sorted(item.key for item in plan.delete) == ["drift-old", "regression-old", "run-old"]
    assert plan.by_kind() == {"mlflow_run": (1, 0), "report": (2, 15)}
    assert plan.freed_bytes == 15


def test_a_window_of_zero_keeps_only_the_newest_of_each_group():
    items = [Item("dbt_target", str(n), NOW - timedelta(seconds=n)) for n in range(4)]
    plan = plan_prune(items, RetentionConfig(window_days=0), NOW)
    assert [item.key for item in plan.keep] == ["0"]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("MLPLATFORM_KEEP_MODEL_VERSIONS", "0", "keep_model_versions must be at least 1, not 0"),
        ("MLPLATFORM_RETENTION_DAYS", "-1", "window_days must not be negative, not -1.0"),
    ],
)
def test_a_retention_setting_that_keeps_nothing_is_refused_by_name(variable, value, message):
    with pytest.raises(ValueError, match=variable) as raised:
        Settings.from_env({variable: value})
    assert message in str(raised.value)


@pytest.fixture
def stored(tmp_path: Path):
    """Five registered versions (champion v4, previous v2), two optuna studies, old and new
    reports and dbt folders, and a Dagster instance with two runs of one asset."""
    settings = Settings.from_env({"MLPLATFORM_HOME": str(tmp_path / "home")})
    registry = registry_for(settings)
    projects, tags = make_projects_and_tags(60)
    frame = projects.merge(tags, on="id")
    for _ in range(5):
        register_tagger(registry, frame)
    registry.promote("2", None)
    registry.promote("4", "2")
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    for name in ("study-old", "study-new"):
        optuna.create_study(study_name=name, storage=storage).optimize(lambda t: 0.0, n_trials=1)
        time.sleep(0.01)
    reports = _aged_paths(
        settings.reports_dir, ["drift-a.html", "drift-b.html", "regression-v1.md"]
    )
    dbt = _aged_paths(tmp_path / "dbt_target", ["op-1111111-a/", "op-2222222-b/"])
    return settings, registry, storage, reports, dbt


def _aged_paths(directory: Path, names: list[str]) -> list[Path]:
    """`names` (a trailing / makes a folder) with modification times a day apart, oldest first."""
    paths = []
    for age, name in zip(range(len(names), 0, -1), names, strict=True):
        path = directory / name.rstrip("/")
        if name.endswith("/"):
            path.mkdir(parents=True)
            (path / "run_results.json").write_text("{}")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("report")
        stamp = (NOW - timedelta(days=age)).timestamp()
        os.utime(path, (stamp, stamp))
        paths.append(path)
    return paths


FOLDER_KINDS = ("report", "dbt_target")


def local_path(logged_model) -> Path:
    return Path(urlparse(logged_model.artifact_location).path)


@asset
def counted() -> int:
    return 1


def test_prune_deletes_what_the_policy_does_not_keep_with_its_files(stored, tmp_path: Path):
    settings, registry, storage, reports, dbt = stored
    client = registry.tracking.client()
    artifacts = {
        str(v.version): local_path(client.get_logged_model(v.source.removeprefix("models:/")))
        for v in client.search_model_versions(f"name='{registry.registered_model_name}'")
    }
    assert all(path.is_dir() and any(path.rglob("*")) for path in artifacts.values())

    with instance_for_test() as instance:
        first = materialize([counted], instance=instance).run_id
        second = materialize([counted], instance=instance).run_id
        stores = retention_stores(registry, storage, settings.reports_dir, dbt[0].parent, instance)
        config = RetentionConfig(keep_model_versions=1, window_days=0)

        planned = prune(stores, config, dry_run=True)
        assert {
            (i.kind, Path(i.key).name) for i in planned.delete if i.kind in ("report", "dbt_target")
        } == {
            ("report", "drift-a.html"),
            ("dbt_target", "op-1111111-a"),
        }, "the newest of each kind stays"
        assert all(path.exists() for path in [*reports, *dbt]), "a dry run deletes nothing"

        plan = prune(stores, config, dry_run=False)

        assert sorted(i.key for i in plan.delete if i.kind == MODEL_VERSION) == ["1", "3"]
        remaining = client.search_model_versions(f"name='{registry.registered_model_name}'")
        assert sorted(str(v.version) for v in remaining) == ["2", "4", "5"]
        assert not any(artifacts["1"].rglob("*")) and not any(artifacts["3"].rglob("*"))
        assert all(any(artifacts[v].rglob("*")) for v in ("2", "4", "5"))
        assert (registry.alias_version(CHAMPION), registry.alias_version(PREVIOUS)) == ("4", "2")
        assert registry.load("4").version == "4", "the champion still loads"
        assert [s.study_name for s in optuna.get_all_study_summaries(storage)] == ["study-new"]
        assert [p.exists() for p in reports] == [False, True, True]
        assert [p.exists() for p in dbt] == [False, True]
        assert instance.get_run_by_id(first) is None, "the older run went with its event log"
        assert instance.get_run_by_id(second) is not None, "it holds the latest materialization"
        latest = instance.get_latest_materialization_event(AssetKey("counted"))
        assert latest is not None and latest.run_id == second


def test_prune_job_and_cli_share_the_policy_from_settings(stored, tmp_path: Path):
    """The scheduled job deletes by version count (a long window leaves the rest), and
    `mlplatform prune --dry-run` lists what it would delete without deleting it."""
    settings, registry, *_ = stored
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    env = {
        "MLPLATFORM_HOME": str(settings.home),
        "DAGSTER_HOME": str(dagster_home),
        "MLPLATFORM_KEEP_MODEL_VERSIONS": "2",
        "MLPLATFORM_RETENTION_DAYS": "36500",
        "HOME": str(tmp_path),
    }
    listed = mlplatform_cli(env, "prune", "--dry-run")
    assert listed.returncode == 0, listed.stderr
    assert '"kind": "model_version", "key": "1"' in listed.stdout
    assert "would delete 2 model_version" in listed.stderr
    versions = registry.tracking.client().search_model_versions("name='project-tagger'")
    assert len(versions) == 5, "a dry run deletes nothing"

    defs = build_definitions(
        settings, retention_policy=RetentionPolicy(keep_model_versions=2, window_days=36500)
    )
    with DagsterInstance.ephemeral() as instance:
        result = defs.get_job_def("prune_job").execute_in_process(instance=instance)

    assert result.success
    [output] = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    assert output.event_specific_data.metadata["deleted model_version"].value == 2
    remaining = registry.tracking.client().search_model_versions("name='project-tagger'")
    assert sorted(str(v.version) for v in remaining) == ["2", "4", "5"]
