"""The promotion gate: a blocking check, so `champion_model` never runs on a regression."""

from dagster import AssetCheckResult, AssetCheckSeverity, AssetKey, asset_check

from mlplatform.core.gate import ModelEvaluation
from mlplatform.lib.metadata import evaluation_metadata


@asset_check(
    asset=AssetKey("model_evaluation"),
    name="promotion_gate",
    blocking=True,
    description="Challenger not worse beyond tolerance and no class or slice collapsed.",
)
def promotion_gate(model_evaluation: ModelEvaluation) -> AssetCheckResult:
    decision = model_evaluation.decision
    return AssetCheckResult(
        passed=decision.promote,
        severity=AssetCheckSeverity.ERROR,
        description="; ".join(decision.reasons),
        metadata=evaluation_metadata(model_evaluation),
    )
