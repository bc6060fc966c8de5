"""The stores retention prunes, one class each: what they hold (as `Item`s) and how to delete one.

MLflow's client only soft-deletes (versions, logged models, runs keep their files): each MLflow
deletion here also deletes the artifacts through MLflow's artifact repository, so the bytes go
whatever the artifact store (local folder, `mlflow-artifacts:` on a server). The soft-deleted
rows stay in the tracking database; `mlflow gc` removes them where that matters.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from mlplatform.core.retention import MODEL_VERSION, Item, PrunePlan, RetentionConfig, plan_prune
from mlplatform.resources.model_registry import CHAMPION, PREVIOUS, MlflowModelRegistry

FINISHED_RUN = [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED]
MLFLOW_PARENT_TAG = "mlflow.parentRunId"
MLFLOW_KIND_TAG = "mlplatform.kind"


class Store(Protocol):
    def items(self) -> list[Item]: ...

    def delete(self, item: Item) -> None: ...


def prune(
    stores: Sequence[Store],
    config: RetentionConfig,
    *,
    dry_run: bool,
    now: datetime | None = None,
    log: Callable[[str], None] = lambda message: None,
) -> PrunePlan:
    """Plan over every store's items and, unless `dry_run`, delete in the stores' order."""
    owners: dict[tuple[str, str], Store] = {}
    items = []
    for store in stores:
        for item in store.items():
            owners[(item.kind, item.key)] = store
            items.append(item)
    plan = plan_prune(items, config, now or datetime.now(UTC))
    for kind, (count, size) in plan.by_kind().items():
        log(f"{'would delete' if dry_run else 'deleting'} {count} {kind} ({size / 1e6:.1f} MB)")
    if not dry_run:
        for item in plan.delete:
            owners[(item.kind, item.key)].delete(item)
    return plan


@dataclass(frozen=True)
class ModelVersions:
    """Registered versions; the champion and the previous champion are pinned."""

    registry: MlflowModelRegistry

    def items(self) -> list[Item]:
        pinned = {self.registry.alias_version(CHAMPION), self.registry.alias_version(PREVIOUS)}
        items = []
        for version in self._versions():
            location = self._artifact_location(version)
            items.append(
                Item(
                    MODEL_VERSION,
                    str(version.version),
                    _from_millis(version.creation_timestamp),
                    size_bytes=_local_size(location),
                    pinned=str(version.version) in pinned,
                    needs=(version.run_id,),
                )
            )
        return items

    def delete(self, item: Item) -> None:
        client = self.registry.tracking.client()
        version = client.get_model_version(self.registry.registered_model_name, item.key)
        location = self._artifact_location(version)
        client.delete_model_version(self.registry.registered_model_name, item.key)
        model_id = _logged_model_id(version.source)
        if model_id and not any(v.source == version.source for v in self._versions()):
            client.delete_logged_model(model_id)
            _delete_artifacts(location)

    def _versions(self) -> list[Any]:
        query = f"name='{self.registry.registered_model_name}'"
        return self.registry._call(lambda client: client.search_model_versions(query))

    def _artifact_location(self, version: Any) -> str | None:
        model_id = _logged_model_id(version.source)
        if model_id is None:
            return None
        return self.registry.tracking.client().get_logged_model(model_id).artifact_location


@dataclass(frozen=True)
class MlflowRuns:
    """Finished runs of the experiment: trainings, their trials, drift reports."""

    registry: MlflowModelRegistry

    def items(self) -> list[Item]:
        tracking = self.registry.tracking
        runs = tracking.client().search_runs(
            [tracking.experiment_id()], filter_string="attributes.status != 'RUNNING'"
        )
        return [
            Item(
                "mlflow_run",
                run.info.run_id,
                _from_millis(run.info.start_time),
                size_bytes=_local_size(run.info.artifact_uri),
                group=_run_group(run.data.tags),
            )
            for run in runs
        ]

    def delete(self, item: Item) -> None:
        client = self.registry.tracking.client()
        _delete_artifacts(client.get_run(item.key).info.artifact_uri)
        client.delete_run(item.key)


@dataclass(frozen=True)
class OptunaStudies:
    """Studies in the tuning storage (one per data version and seed)."""

    storage: str

    def items(self) -> list[Item]:
        import optuna

        return [
            Item("optuna_study", summary.study_name, _aware(summary.datetime_start))
            for summary in optuna.get_all_study_summaries(self.storage, include_best_trial=False)
            if summary.datetime_start is not None
        ]

    def delete(self, item: Item) -> None:
        import optuna

        optuna.delete_study(study_name=item.key, storage=self.storage)


@dataclass(frozen=True)
class Folders:
    """Files or folders directly under `directory`; `group_of` names the newest-kept groups."""

    kind: str
    directory: Path
    directories_only: bool = False
    group_of: Callable[[str], str] = lambda name: ""

    def items(self) -> list[Item]:
        if not self.directory.is_dir():
            return []
        return [
            Item(
                self.kind,
                str(path),
                datetime.fromtimestamp(path.stat().st_mtime, UTC),
                size_bytes=_size(path),
                group=self.group_of(path.name),
            )
            for path in sorted(self.directory.iterdir())
            if path.is_dir() or not self.directories_only
        ]

    def delete(self, item: Item) -> None:
        path = Path(item.key)
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)


@dataclass(frozen=True)
class DagsterRuns:
    """Finished runs with their event logs and compute logs. A run that holds an asset's latest
    materialization is pinned: deleting it would delete that materialization."""

    instance: DagsterInstance

    def items(self) -> list[Item]:
        latest = self.instance.get_latest_materialization_events(self.instance.get_asset_keys())
        holding = {event.run_id for event in latest.values() if event is not None}
        return [
            Item(
                "dagster_run",
                record.dagster_run.run_id,
                _aware(record.create_timestamp),
                group=record.dagster_run.job_name,
                pinned=record.dagster_run.run_id in holding,
            )
            for record in self.instance.get_run_records(RunsFilter(statuses=FINISHED_RUN))
        ]

    def delete(self, item: Item) -> None:
        self.instance.compute_log_manager.delete_logs(prefix=[item.key])
        self.instance.delete_run(item.key)
        shard = getattr(self.instance.event_log_storage, "path_for_shard", None)
        if shard is not None:  # SQLite keeps one file per run; Postgres has none
            for suffix in ("", "-wal", "-shm"):
                Path(shard(item.key) + suffix).unlink(missing_ok=True)


def retention_stores(
    registry: MlflowModelRegistry,
    optuna_storage: str | None,
    reports_directory: str | Path,
    dbt_target_directory: Path,
    instance: DagsterInstance,
) -> list[Store]:
    """Every store retention prunes, in the order it deletes: versions before their runs."""
    stores: list[Store] = [ModelVersions(registry), MlflowRuns(registry)]
    if optuna_storage:  # None keeps studies in memory: nothing stored
        stores.append(OptunaStudies(optuna_storage))
    stores += [
        Folders("dbt_target", dbt_target_directory, directories_only=True),
        Folders("report", Path(reports_directory), group_of=report_group),
        DagsterRuns(instance),
    ]
    return stores


def report_group(name: str) -> str:
    """`drift-1a2b3c4d.html` -> `drift`: the newest report of each kind stays."""
    return name.split("-", 1)[0]


def _run_group(tags: dict[str, str]) -> str:
    if MLFLOW_PARENT_TAG in tags:
        return "trial"
    return tags.get(MLFLOW_KIND_TAG, "training")


def _logged_model_id(source: str | None) -> str | None:
    return source.removeprefix("models:/") if source and source.startswith("models:/m-") else None


def _delete_artifacts(location: str | None) -> None:
    if not location:
        return
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    get_artifact_repository(location).delete_artifacts()


def _local_size(uri: str | None) -> int:
    """Bytes under a local artifact location; 0 for a remote one (not measured)."""
    if not uri:
        return 0
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file"):
        return 0
    return _size(Path(unquote(parsed.path)))


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


def _from_millis(millis: int | None) -> datetime:
    return datetime.fromtimestamp((millis or 0) / 1000, UTC)


def _aware(moment: datetime) -> datetime:
    """Dagster and optuna give naive UTC datetimes."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
