"""MLflow tracking: runs, nested trial runs, params, metrics and artifacts."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import ConfigurableResource
from pydantic import Field

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from mlplatform.core.tuning import TrialRecord

MLFLOW_URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


def import_mlflow():
    """Import mlflow lazily (it is heavy) with its usage telemetry off (no network here) and no
    download progress bars in the step logs (each model load downloads its files)."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    return mlflow


class MlflowTracking(ConfigurableResource):
    """Training runs in one experiment of an MLflow tracking store (local SQLite by default)."""

    tracking_uri: str = Field(description="MLflow tracking and registry URI.")
    artifact_location: str | None = Field(
        default=None, description="Where the experiment stores artifacts (None: the server's)."
    )
    ui_url: str = Field(description="Base URL of the MLflow UI that links in metadata point at.")
    experiment_name: str = "mlplatform"

    @contextmanager
    def fluent(self) -> Iterator[Any]:
        """The `mlflow` module pointed at this store, for its model APIs (they use global URIs).

        `mlflow.set_tracking_uri` also exports the URI to the process environment, where it
        would leak into later settings and `EnvVar` resolution: the environment is restored.
        """
        mlflow = import_mlflow()
        exported = {name: os.environ.get(name) for name in MLFLOW_URI_VARIABLES}
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        try:
            yield mlflow
        finally:
            for name, value in exported.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def client(self) -> MlflowClient:
        return import_mlflow().MlflowClient(
            tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri
        )

    def experiment_id(self) -> str:
        client = self.client()
        experiment = client.get_experiment_by_name(self.experiment_name)
        if experiment is not None:
            return experiment.experiment_id
        if self.tracking_uri.startswith("sqlite:///"):
            Path(self.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(
                parents=True, exist_ok=True
            )
        return client.create_experiment(
            self.experiment_name, artifact_location=self.artifact_location
        )

    def run_url(self, run_id: str) -> str:
        """Where the run shows up in the MLflow UI."""
        return f"{self.ui_url.rstrip('/')}/#/experiments/{self.experiment_id()}/runs/{run_id}"

    @contextmanager
    def training_run(self, run_name: str, tags: dict[str, str]) -> Iterator[str]:
        """A parent run; FAILED if the body raises."""
        client = self.client()
        run = client.create_run(self.experiment_id(), run_name=run_name, tags=tags)
        try:
            yield run.info.run_id
        except BaseException:
            client.set_terminated(run.info.run_id, status="FAILED")
            raise
        client.set_terminated(run.info.run_id, status="FINISHED")

    def running_tag_values(self, run_tag: str) -> set[str]:
        """The `run_tag` values of the runs still RUNNING (the Dagster runs they belong to)."""
        runs = self.client().search_runs(
            [self.experiment_id()], filter_string="attributes.status = 'RUNNING'"
        )
        return {run.data.tags[run_tag] for run in runs if run_tag in run.data.tags}

    def kill_runs_of(self, run_tag: str, values: Sequence[str]) -> list[str]:
        """End as KILLED the runs still RUNNING whose `run_tag` is one of `values` (the training
        runs of Dagster runs that died); their ids."""
        client, killed = self.client(), []
        for value in values:  # MLflow's filter has no IN for tags
            runs = client.search_runs(
                [self.experiment_id()],
                filter_string=f"tags.{run_tag} = '{value}' and attributes.status = 'RUNNING'",
            )
            for run in runs:
                client.set_terminated(run.info.run_id, status="KILLED")
                killed.append(run.info.run_id)
        return killed

    def log_trials(self, parent_run_id: str, trials: Sequence[TrialRecord]) -> None:
        """Each optuna trial as a nested run with its params and CV score."""
        from mlflow.entities import Metric, Param

        client, experiment_id = self.client(), self.experiment_id()
        for trial in trials:
            run = client.create_run(
                experiment_id,
                run_name=f"trial-{trial.number}",
                tags={"mlflow.parentRunId": parent_run_id, "optuna.state": trial.state},
            )
            metrics = [] if trial.value is None else [Metric("cv_f1_weighted", trial.value, 0, 0)]
            params = [Param(k, str(v)) for k, v in trial.params.items()]
            client.log_batch(run.info.run_id, metrics=metrics, params=params)
            client.set_terminated(
                run.info.run_id, status="FINISHED" if trial.state == "COMPLETE" else "KILLED"
            )

    def log_summary(
        self,
        run_id: str,
        params: dict[str, Any],
        metrics: dict[str, float],
        tags: dict[str, str],
        artifacts: dict[str, Any],
    ) -> None:
        """Params, metrics, tags and JSON/figure artifacts of a training run."""
        from mlflow.entities import Metric, Param, RunTag

        client = self.client()
        client.log_batch(
            run_id,
            metrics=[Metric(k, float(v), 0, 0) for k, v in metrics.items() if v is not None],
            params=[Param(k, str(v)[:6000]) for k, v in params.items()],
            tags=[RunTag(k, str(v)) for k, v in tags.items()],
        )
        for name, artifact in artifacts.items():
            if name.endswith(".png"):
                client.log_figure(run_id, artifact, name)
            else:
                client.log_text(run_id, json.dumps(artifact, indent=2, default=str), name)

    def log_report(self, run_name: str, path: Path, tags: dict[str, str]) -> str:
        """A finished run holding one report file; returns where the UI shows it."""
        client = self.client()
        run = client.create_run(self.experiment_id(), run_name=run_name, tags=tags)
        client.log_artifact(run.info.run_id, str(path))
        client.set_terminated(run.info.run_id, status="FINISHED")
        return f"{self.run_url(run.info.run_id)}/artifacts"
