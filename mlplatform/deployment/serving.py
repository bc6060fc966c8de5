"""Use the champion outside Dagster: predictions, and moving the `champion` alias by hand."""

from __future__ import annotations

from typing import Any

from mlplatform.resources.mlflow_tracking import CHAMPION, PREVIOUS, MlflowTracking
from mlplatform.settings import Settings


def mlflow_from_settings(settings: Settings | None = None) -> MlflowTracking:
    settings = settings or Settings.from_env()
    return MlflowTracking(
        tracking_uri=settings.mlflow_tracking_uri,
        artifact_location=settings.mlflow_artifact_location,
    )


def predict(
    title: str,
    description: str,
    precision_mode: bool = False,
    version: str | None = None,
    mlflow: MlflowTracking | None = None,
) -> dict[str, Any]:
    """Tag one project with the champion (or `version`): {tag, probability, version}."""
    mlflow = mlflow or mlflow_from_settings()
    version = version or mlflow.alias_version(CHAMPION)
    if version is None:
        raise LookupError(
            f"{mlflow.registered_model_name} has no champion yet: materialize champion_model first"
        )
    registered = mlflow.load_tagger(version)
    prediction = registered.tagger.predict_project(title, description, precision_mode)
    return {**prediction, "version": version}


def aliases(mlflow: MlflowTracking | None = None) -> dict[str, str | None]:
    mlflow = mlflow or mlflow_from_settings()
    return {alias: mlflow.alias_version(alias) for alias in (CHAMPION, PREVIOUS)}
