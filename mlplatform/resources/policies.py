"""Policies: settings of training, promotion and monitoring, configurable per run in the UI.

Their defaults are the core's config dataclasses' own, so each is stated once.
"""

from dataclasses import fields
from typing import Any, TypeVar

from dagster import ConfigurableResource
from pydantic import Field

from mlplatform.core.drift import DriftConfig
from mlplatform.core.gate import GateConfig
from mlplatform.core.labels import LabelConfig
from mlplatform.core.predictions import LabelingConfig
from mlplatform.core.retention import RetentionConfig
from mlplatform.core.retraining import RetrainingConfig
from mlplatform.core.tuning_config import TuningConfig
from mlplatform.core.volume import VolumeConfig

T = TypeVar("T")


class IngestionPolicy(ConfigurableResource):
    """How much smaller than the stored table a new batch may be."""

    max_drop_fraction: float = VolumeConfig.max_drop_fraction
    accept_shrink: bool = VolumeConfig.accept_shrink

    def volume_config(self) -> VolumeConfig:
        return config_from(self, VolumeConfig)


class TrainingPolicy(ConfigurableResource):
    """How `trained_model` tunes and fits, and which rows are held out.

    Tuning fields carry `TuningConfig`'s names and labeling fields `LabelConfig`'s (with
    `accepted_tags`, `min_tag_count` for the UI), so each maps onto the core by name.
    """

    n_trials: int = TuningConfig.n_trials
    timeout_seconds: float | None = TuningConfig.timeout_seconds
    cv_folds: int = TuningConfig.cv_folds
    time_aware: bool = TuningConfig.time_aware
    min_gain_standard_errors: float = TuningConfig.min_gain_standard_errors
    sample_rows: int | None = TuningConfig.sample_rows
    embeddings: bool = TuningConfig.embeddings
    embedding_max_rows: int | None = TuningConfig.embedding_max_rows
    seed: int = TuningConfig.seed
    workers: int = TuningConfig.workers
    storage: str | None = TuningConfig.storage
    accepted_tags: list[str] | None = Field(
        default_factory=lambda: list(LabelConfig.accepted or ())
    )
    min_tag_count: int = LabelConfig.min_count
    test_fraction: float = LabelConfig.test_fraction
    # Train on the newest N months only (a rolling window); None: every month stored.
    window_months: int | None = None

    def tuning_config(self, study_name: str) -> TuningConfig:
        return config_from(self, TuningConfig, study_name=study_name)

    def label_config(self) -> LabelConfig:
        accepted = None if self.accepted_tags is None else tuple(self.accepted_tags)
        return LabelConfig(
            accepted=accepted, min_count=self.min_tag_count, test_fraction=self.test_fraction
        )


class PromotionPolicy(ConfigurableResource):
    """When a challenger may replace the champion."""

    f1_tolerance: float = GateConfig.f1_tolerance
    collapse_tolerance: float = GateConfig.collapse_tolerance
    min_f1: float = GateConfig.min_f1
    min_slice_rows: int = GateConfig.min_slice_rows

    def gate_config(self) -> GateConfig:
        return config_from(self, GateConfig)


class MonitoringPolicy(ConfigurableResource):
    """When new data counts as drift."""

    # The run's months are the window; within a backfill's range, only the newest N days if set
    # (months of unseen rows would dilute a sudden shift in the latest one).
    window_days: float | None = None
    min_rows: int = DriftConfig.min_rows
    label_p_value: float = DriftConfig.label_p_value
    length_p_value: float = DriftConfig.length_p_value
    content_auc: float = DriftConfig.content_auc
    prediction_distance: float = DriftConfig.prediction_distance
    required_tests: list[str] = Field(default_factory=lambda: list(DriftConfig.required_tests))
    min_drifted_tests: int = DriftConfig.min_drifted_tests
    reference_rows: int | None = DriftConfig.reference_rows

    def drift_config(self) -> DriftConfig:
        return config_from(self, DriftConfig, required_tests=tuple(self.required_tests))


class LabelingPolicy(ConfigurableResource):
    """The month's label budget and how `labeling_queue` spends it; when `label_review` asks a
    person to look at a label (`LabelingConfig`)."""

    budget_share: float = LabelingConfig.budget_share
    max_tag_share: float = LabelingConfig.max_tag_share
    review_confidence: float = LabelingConfig.review_confidence

    def labeling_config(self) -> LabelingConfig:
        return config_from(self, LabelingConfig)


class RetrainingPolicy(ConfigurableResource):
    """When the retraining sensor asks for a challenger: drift, decay on new rows, data growth,
    or a first model; at most once per cool-down. A rule set to null never fires."""

    cooldown_seconds: float = RetrainingConfig.cooldown_seconds
    on_drift: bool = RetrainingConfig.on_drift
    decay_margin: float | None = RetrainingConfig.decay_margin
    confidence: float = RetrainingConfig.confidence
    growth_ratio: float | None = RetrainingConfig.growth_ratio
    min_new_rows: int = RetrainingConfig.min_new_rows
    first_training_rows: int | None = RetrainingConfig.first_training_rows

    def retraining_config(self) -> RetrainingConfig:
        return config_from(self, RetrainingConfig)


class RetentionPolicy(ConfigurableResource):
    """What `prune` keeps: the champion, the previous champion and this many newest model
    versions; runs, trials, reports and dbt targets younger than the window (the newest of each
    kind always)."""

    keep_model_versions: int = RetentionConfig.keep_model_versions
    window_days: float = RetentionConfig.window_days

    def retention_config(self) -> RetentionConfig:
        return config_from(self, RetentionConfig)


def config_from(policy: ConfigurableResource, config: type[T], **given: Any) -> T:
    """The core config whose fields the policy shares by name; `given` fields are set as is."""
    shared = {
        f.name: getattr(policy, f.name)
        for f in fields(config)
        if f.name not in given and f.name in type(policy).model_fields
    }
    return config(**shared, **given)
