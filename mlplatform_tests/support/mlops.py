"""Helpers for MLOps tests: a warehouse with fixture data, MLflow in a temporary SQLite store."""

from __future__ import annotations

import subprocess

import pandas as pd
from dagster import (
    AssetKey,
    AssetMaterialization,
    AssetSelection,
    DagsterInstance,
    ExecuteInProcessResult,
)
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
from dagster._core.loader import LoadingContextForTest

from mlplatform.core.training import Tagger
from mlplatform.core.tuning import fit_tagger
from mlplatform.definitions import build_definitions
from mlplatform.resources import build_model_registry
from mlplatform.resources.model_registry import MlflowModelRegistry, TaggerModel
from mlplatform.resources.policies import PromotionPolicy, TrainingPolicy
from mlplatform.settings import Settings
from mlplatform_tests.support.commands import BIN
from mlplatform_tests.support.dataops import materialize_selection

QUICK_TRAINING = TrainingPolicy(n_trials=3, cv_folds=3, timeout_seconds=None)
# Everything up to the champion; drift_report has tests of its own.
THROUGH_CHAMPION = AssetSelection.all() - AssetSelection.assets("drift_report")


def materialize_all(
    settings: Settings,
    selection=THROUGH_CHAMPION,
    instance: DagsterInstance | None = None,
    **overrides,
) -> ExecuteInProcessResult:
    defs = build_definitions(settings, **{"training_policy": QUICK_TRAINING, **overrides})
    return materialize_selection(defs, selection, instance)


def stale_status(settings: Settings, instance: DagsterInstance, asset: str) -> StaleStatus:
    """What the UI shows as synced (FRESH) or unsynced (STALE) for `asset`."""
    graph = build_definitions(settings).resolve_asset_graph()
    resolver = CachingStaleStatusResolver(instance, graph, LoadingContextForTest(instance))
    return resolver.get_status(AssetKey(asset))


def evaluate_and_promote(settings: Settings, **overrides) -> ExecuteInProcessResult:
    """Run the gate on the version trained_model's latest materialization recorded."""
    return materialize_all(settings, selection=["model_evaluation", "champion_model"], **overrides)


def registry_for(settings: Settings) -> MlflowModelRegistry:
    return build_model_registry(settings)


def register_tagger(
    registry: MlflowModelRegistry, frame: pd.DataFrame, shuffle_labels: bool = False
) -> str:
    """Fit a tagger on `frame` (labels shuffled for a deliberately bad one) and register it."""
    labels = (
        frame["tag"].sample(frac=1, random_state=0).to_numpy() if shuffle_labels else frame["tag"]
    )
    texts = frame["title"] + " " + frame["description"]
    params = {"features": "word", "classifier": "logistic_regression", "C": 10.0}
    tagger = Tagger(fit_tagger(texts, labels, params, seed=0), threshold=0.3)
    with registry.tracking.training_run("test-registration", {}) as run_id:
        return registry.register(TaggerModel(tagger, run_id)).version


def record_as_trained(instance: DagsterInstance, version: str) -> str:
    """Record `version` as trained_model's latest materialization (registered outside a run)."""
    instance.report_runless_asset_event(
        AssetMaterialization("trained_model", metadata={"model_version": version})
    )
    return version


def with_promotion(settings: Settings, **policy) -> dict:
    return {"promotion_policy": PromotionPolicy(**policy)}


def mlplatform_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """The `mlplatform` command as a user runs it, in a process with only `env` set."""
    return subprocess.run(
        [str(BIN / "mlplatform"), *args],
        env={**env, "PATH": str(BIN)},
        capture_output=True,
        text=True,
        check=False,
    )
