"""The champion outside Dagster: predictions, the aliases, and moving `champion` by hand."""

from __future__ import annotations

from typing import Any

from mlplatform.resources import build_model_registry
from mlplatform.resources.model_registry import CHAMPION, PREVIOUS, MlflowModelRegistry
from mlplatform.settings import Settings


def registry_from_settings(settings: Settings | None = None) -> MlflowModelRegistry:
    return build_model_registry(settings or Settings.from_env(), reveal_secrets=True)


def predict(
    title: str,
    description: str,
    precision_mode: bool = False,
    version: str | None = None,
    registry: MlflowModelRegistry | None = None,
) -> dict[str, Any]:
    """Tag one project with the champion (or `version`): {tag, probability, version}."""
    registry = registry or registry_from_settings()
    version = version or registry.alias_version(CHAMPION)
    if version is None:
        raise LookupError(
            f"{registry.registered_model_name} has no champion yet: "
            "materialize champion_model first"
        )
    prediction = registry.load(version).tagger.predict_project(title, description, precision_mode)
    return {**prediction, "version": version}


def aliases(registry: MlflowModelRegistry | None = None) -> dict[str, str | None]:
    registry = registry or registry_from_settings()
    return {alias: registry.alias_version(alias) for alias in (CHAMPION, PREVIOUS)}
