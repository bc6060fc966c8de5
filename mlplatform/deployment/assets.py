"""Evaluation gate and promotion: only a better challenger becomes the champion."""

from typing import Any

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    Failure,
    MaterializeResult,
    MetadataValue,
    Output,
    asset,
    asset_check,
)

from mlplatform.core.gate import decide
from mlplatform.resources.mlflow_tracking import CHAMPION, MlflowTracking, RegisteredTagger
from mlplatform.resources.notifications import Notifier, ReportStore
from mlplatform.resources.policies import PromotionPolicy, TrainingPolicy


@asset(group_name="deployment", io_manager_key="fs_io_manager", kinds={"mlflow"})
def model_evaluation(
    context: AssetExecutionContext,
    trained_model: RegisteredTagger,
    labeled_projects: pd.DataFrame,
    mlflow: MlflowTracking,
    training: TrainingPolicy,
    promotion: PromotionPolicy,
    notifier: Notifier,
    reports: ReportStore,
) -> Output[dict[str, Any]]:
    """The challenger and the champion scored on the same held-out rows, and the gate's verdict."""
    from mlplatform.core.reporting import comparison_markdown
    from mlplatform.core.training import holdout_rows, score_tagger

    holdout = holdout_rows(labeled_projects, training.label_config(), training.test_fraction)
    challenger = score_tagger(trained_model.tagger, holdout)
    champion_version = mlflow.alias_version(CHAMPION)
    if champion_version == trained_model.version:
        champion_version = None
    champion = (
        score_tagger(mlflow.load_tagger(champion_version).tagger, holdout)
        if champion_version
        else None
    )
    decision = decide(challenger, champion, promotion.gate_config())
    table = comparison_markdown(
        challenger,
        champion,
        f"challenger v{trained_model.version}",
        champion_version and f"champion v{champion_version}",
    )
    metadata = {
        "verdict": decision.verdict,
        "holdout_rows": len(holdout),
        "challenger_version": trained_model.version,
        "champion_version": champion_version or "none",
        "comparison": MetadataValue.md(table),
        "reasons": MetadataValue.md("\n".join(f"- {r}" for r in decision.reasons)),
    }
    if not decision.promote:
        report = f"# Regression: v{trained_model.version}\n\n{table}\n\n" + "\n".join(
            f"- {r}" for r in decision.reasons
        )
        path = reports.write(f"regression-v{trained_model.version}.md", report)
        metadata["regression_report"] = MetadataValue.path(str(path))
        notifier.notify(
            "regression", f"v{trained_model.version} not promoted: " + "; ".join(decision.reasons)
        )
    return Output(
        {
            "challenger_version": trained_model.version,
            "champion_version": champion_version,
            "challenger": challenger,
            "champion": champion,
            "decision": {"promote": decision.promote, "reasons": decision.reasons},
        },
        metadata=metadata,
    )


@asset_check(
    asset=model_evaluation,
    name="promotion_gate",
    blocking=True,
    description="Challenger not worse beyond tolerance and no class or slice collapsed.",
)
def promotion_gate(model_evaluation: dict[str, Any]) -> AssetCheckResult:
    decision = model_evaluation["decision"]
    return AssetCheckResult(
        passed=decision["promote"],
        severity=AssetCheckSeverity.ERROR,
        description="; ".join(decision["reasons"]),
        metadata={
            "challenger_version": model_evaluation["challenger_version"],
            "champion_version": model_evaluation["champion_version"] or "none",
        },
    )


@asset(group_name="deployment", kinds={"mlflow"})
def champion_model(
    context: AssetExecutionContext,
    model_evaluation: dict[str, Any],
    mlflow: MlflowTracking,
    notifier: Notifier,
) -> MaterializeResult:
    """Moves the registry alias `champion` to the challenger; the old one becomes `previous`."""
    if not model_evaluation["decision"]["promote"]:
        raise Failure("the promotion gate did not pass; champion unchanged", allow_retries=False)
    version = model_evaluation["challenger_version"]
    replaced = mlflow.promote(version)
    notifier.notify(
        "champion_changed",
        f"champion is now v{version} (was {f'v{replaced}' if replaced else 'none'})",
    )
    return MaterializeResult(
        metadata={"champion_version": version, "previous_version": replaced or "none"}
    )
