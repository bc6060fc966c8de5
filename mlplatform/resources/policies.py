"""Training and promotion policies, as resources so one place (settings) configures them."""

from typing import TYPE_CHECKING

from dagster import ConfigurableResource
from pydantic import Field

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
