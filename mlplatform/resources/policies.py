"""Training and promotion policies, as resources so one place (settings) configures them."""

from typing import TYPE_CHECKING

from dagster import ConfigurableResource
from pydantic import Field

from mlplatform.core.drift import DriftConfig
from mlplatform.core.gate import GateConfig
from mlplatform.core.labels import ACCEPTED_TAGS, LabelConfig

if TYPE_CHECKING:
    from mlplatform.core.tuning import TuningConfig


class TrainingPolicy(ConfigurableResource):
    """How `trained_model` tunes and fits."""

    n_trials: int = 50
    timeout_seconds: float | None = 100.0
    cv_folds: int = 5
    seed: int = 42
    ensemble_size: int = 1
    optuna_storage: str | None = None
    accepted_tags: list[str] | None = Field(default_factory=lambda: list(ACCEPTED_TAGS))
    min_tag_count: int = 0
    test_fraction: float = 0.2

    def tuning_config(self, study_name: str) -> "TuningConfig":
        from mlplatform.core.tuning import TuningConfig  # optuna and sklearn: only when training

        return TuningConfig(
            n_trials=self.n_trials,
            timeout_seconds=self.timeout_seconds,
            cv_folds=self.cv_folds,
            seed=self.seed,
            ensemble_size=self.ensemble_size,
            storage=self.optuna_storage,
            study_name=study_name,
        )

    def label_config(self) -> LabelConfig:
        accepted = None if self.accepted_tags is None else tuple(self.accepted_tags)
        return LabelConfig(accepted=accepted, min_count=self.min_tag_count)


class PromotionPolicy(ConfigurableResource):
    """When a challenger may replace the champion."""

    f1_tolerance: float = 0.01
    collapse_tolerance: float = 0.15
    min_f1: float = 0.5
    min_slice_rows: int = 5

    def gate_config(self) -> GateConfig:
        return GateConfig(
            self.f1_tolerance, self.collapse_tolerance, self.min_f1, self.min_slice_rows
        )


class MonitoringPolicy(ConfigurableResource):
    """When new data counts as drift, and how often drift may trigger retraining."""

    window_days: float | None = 30.0  # compare the newest month of unseen rows
    min_rows: int = 30
    label_p_value: float = 0.01
    length_p_value: float = 0.01
    content_auc: float = 0.70
    prediction_distance: float = 0.1
    required_tests: list[str] = Field(default_factory=lambda: ["text_content"])
    min_drifted_tests: int = 2
    retraining_cooldown_seconds: float = 3600.0

    def drift_config(self) -> DriftConfig:
        return DriftConfig(
            min_rows=self.min_rows,
            label_p_value=self.label_p_value,
            length_p_value=self.length_p_value,
            content_auc=self.content_auc,
            prediction_distance=self.prediction_distance,
            required_tests=tuple(self.required_tests),
            min_drifted_tests=self.min_drifted_tests,
        )
