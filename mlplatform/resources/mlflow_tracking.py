"""MLflow tracking and model registry behind one resource (local SQLite by default)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from dagster import ConfigurableResource
from pydantic import Field

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from mlplatform.core.training import Tagger
    from mlplatform.core.tuning import TrialRecord

CHAMPION, PREVIOUS = "champion", "previous"
REFERENCE_DIR, REFERENCE_FILE = "reference", "reference.parquet"
# Explicit requirements: inferring them costs seconds per logged model.
MODEL_PIP_REQUIREMENTS = ["scikit-learn", "numpy", "pandas", "mlplatform"]


@dataclass(frozen=True)
class RegisteredTagger:
    version: str
    run_id: str
    tagger: Tagger
    tags: dict[str, str]


def _mlflow():
    """Import mlflow lazily (it is heavy) with its usage telemetry off: no network here."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow

    return mlflow


class MlflowTracking(ConfigurableResource):
    """Runs, nested trial runs, artifacts, and the `project-tagger` registry with its aliases."""

    tracking_uri: str
    artifact_location: str = Field(description="Where the experiment stores artifacts.")
    experiment_name: str = "mlplatform"
    registered_model_name: str = "project-tagger"

    def fluent(self):
        """The `mlflow` module pointed at this store (its model APIs use global URIs)."""
        mlflow = _mlflow()
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        return mlflow

    def client(self) -> MlflowClient:
        return _mlflow().MlflowClient(
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
        """Where the run shows up in the MLflow UI (served by `mlflow ui` on port 5000)."""
        base = (
            "http://127.0.0.1:5000"
            if not self.tracking_uri.startswith("http")
            else (self.tracking_uri.rstrip("/"))
        )
        return f"{base}/#/experiments/{self.experiment_id()}/runs/{run_id}"

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

    def log_tagger(self, run_id: str, tagger: Tagger, tags: dict[str, str]) -> str:
        """Log the model into `run_id` and register it as a new version; returns the version."""
        import numpy as np
        import skops.io

        mlflow = self.fluent()
        from mlflow.models import infer_signature

        example = np.array(["transformers for text classification with attention"], dtype=object)
        # MLflow saves sklearn models with skops, which loads only types it was told to trust:
        # those of our own estimator, listed from its dump.
        trusted = skops.io.get_untrusted_types(data=skops.io.dumps(tagger.estimator))
        with mlflow.start_run(run_id=run_id):
            info = mlflow.sklearn.log_model(
                tagger.estimator,
                name="model",
                signature=infer_signature(example, tagger.probabilities(example)),
                pip_requirements=MODEL_PIP_REQUIREMENTS,
                metadata={
                    "threshold": tagger.threshold,
                    "other": tagger.other,
                    "classes": tagger.classes,
                },
                registered_model_name=self.registered_model_name,
                skops_trusted_types=trusted,
            )
        version = str(info.registered_model_version)
        client = self.client()
        for key, value in tags.items():
            client.set_model_version_tag(self.registered_model_name, version, key, str(value))
        return version

    def load_tagger(self, version: str) -> RegisteredTagger:
        mlflow = self.fluent()
        from mlflow.models import get_model_info

        from mlplatform.core.training import Tagger

        model_version = self.client().get_model_version(self.registered_model_name, version)
        uri = f"models:/{self.registered_model_name}/{version}"
        metadata = get_model_info(uri).metadata or {}
        tagger = Tagger(
            mlflow.sklearn.load_model(uri),
            metadata.get("threshold"),
            metadata.get("other", "other"),
        )
        return RegisteredTagger(version, model_version.run_id, tagger, dict(model_version.tags))

    def log_reference(self, version: str, profile: pd.DataFrame) -> None:
        """Save the drift reference of a version in its run (at promotion time)."""
        run_id = self.client().get_model_version(self.registered_model_name, version).run_id
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / REFERENCE_FILE
            profile.to_parquet(path, index=False)
            self.client().log_artifact(run_id, str(path), REFERENCE_DIR)

    def load_reference(self, version: str) -> pd.DataFrame | None:
        """The drift reference saved when `version` was promoted, if any."""
        from mlflow.exceptions import MlflowException

        run_id = self.client().get_model_version(self.registered_model_name, version).run_id
        try:
            path = _mlflow().artifacts.download_artifacts(
                run_id=run_id,
                artifact_path=f"{REFERENCE_DIR}/{REFERENCE_FILE}",
                tracking_uri=self.tracking_uri,
            )
        except (MlflowException, OSError):
            return None
        return pd.read_parquet(path)

    def latest_version(self, tag: tuple[str, str] | None = None) -> str | None:
        """The newest registered version (optionally with a given tag)."""
        query = f"name='{self.registered_model_name}'"
        if tag:
            query += f" and tags.{tag[0]}='{tag[1]}'"
        versions = self.client().search_model_versions(query)
        return str(max(int(v.version) for v in versions)) if versions else None

    def alias_version(self, alias: str) -> str | None:
        from mlflow.exceptions import MlflowException

        try:
            version = self.client().get_model_version_by_alias(self.registered_model_name, alias)
        except MlflowException:
            return None
        return str(version.version)

    def promote(self, version: str) -> str | None:
        """Make `version` the champion; the replaced champion becomes `previous`."""
        current = self.alias_version(CHAMPION)
        client = self.client()
        if current is not None and current != version:
            client.set_registered_model_alias(self.registered_model_name, PREVIOUS, current)
        client.set_registered_model_alias(self.registered_model_name, CHAMPION, version)
        return current

    def rollback(self, to_version: str | None = None) -> tuple[str | None, str]:
        """Point `champion` at `previous` (or `to_version`); the replaced one becomes `previous`.

        Returns (replaced champion, new champion). Rolling back twice undoes the rollback.
        """
        target = to_version or self.alias_version(PREVIOUS)
        if target is None:
            raise LookupError(f"{self.registered_model_name} has no 'previous' version to restore")
        self.client().get_model_version(self.registered_model_name, target)  # must exist
        return self.promote(target), target
