"""Evaluation gate and promotion: only a better challenger becomes the champion."""

import pandas as pd
from dagster import (
    AssetExecutionContext,
    Failure,
    MaterializeResult,
    MetadataValue,
    Output,
    asset,
)

from mlplatform.core.gate import ModelEvaluation, decide
from mlplatform.lib.automation import fresh_when_parents_update
from mlplatform.lib.features import stored_features
from mlplatform.lib.metadata import evaluation_metadata
from mlplatform.lib.ownership import ML_OWNERS
from mlplatform.lib.partitions import ONE_RUN
from mlplatform.lib.retries import SERVICE_RETRY_POLICY
from mlplatform.resources.model_registry import (
    CHAMPION,
    MlflowModelRegistry,
    ModelRefusedError,
    PromotionConflictError,
    TaggerModel,
)
from mlplatform.resources.notifications import Notifier, ReportStore
from mlplatform.resources.policies import PromotionPolicy, TrainingPolicy
from mlplatform.resources.warehouse import WAREHOUSE_POOL, Warehouse

DEPLOYMENT_ASSET_OPTIONS = dict(
    group_name="deployment",
    owners=ML_OWNERS,
    kinds={"mlflow"},
    # New data alone does not re-run the gate or promotion: only a new trained_model does.
    automation_condition=fresh_when_parents_update(ignore=["labeled_projects"]),
    pool=WAREHOUSE_POOL,
    backfill_policy=ONE_RUN,  # unpartitioned: in a range of months, it runs once
)
# Promotions one at a time (pools default to a limit of 1), so compare-and-set on the alias
# never races another run's promotion.
PROMOTION_POOL = "promotion"


@asset(
    io_manager_key="fs_io_manager", retry_policy=SERVICE_RETRY_POLICY, **DEPLOYMENT_ASSET_OPTIONS
)
def model_evaluation(
    context: AssetExecutionContext,
    trained_model: TaggerModel,
    labeled_projects: pd.DataFrame,
    model_registry: MlflowModelRegistry,
    training_policy: TrainingPolicy,
    promotion_policy: PromotionPolicy,
    notifier: Notifier,
    reports: ReportStore,
    warehouse: Warehouse,
) -> Output[ModelEvaluation]:
    """The challenger and the champion scored on the same held-out rows, and the gate's verdict."""
    from mlplatform.core.training import holdout_rows, score_tagger
    from mlplatform.lib.reporting import comparison_markdown

    holdout = holdout_rows(labeled_projects, training_policy.label_config())
    champion_version = model_registry.alias_version(CHAMPION)
    if champion_version == trained_model.version:
        # Re-evaluating the champion itself: judge it on minimum quality; promotion is a no-op.
        champion_version = None
    with stored_features(context, warehouse):
        challenger = score_tagger(trained_model.tagger, holdout)
        champion = (
            score_tagger(load_champion(model_registry, champion_version).tagger, holdout)
            if champion_version
            else None
        )
    decision = decide(challenger, champion, promotion_policy.gate_config())
    evaluation = ModelEvaluation(
        trained_model.version, champion_version, challenger, champion, decision
    )
    metadata = {**evaluation_metadata(evaluation), "holdout_rows": len(holdout)}
    context.log.info(f"gate: {decision.verdict}: " + "; ".join(decision.reasons))
    if not decision.promote:
        table = comparison_markdown(
            challenger, champion, f"v{trained_model.version}", f"v{champion_version}"
        )
        reasons = "\n".join(f"- {r}" for r in decision.reasons)
        report = f"# Regression: v{trained_model.version}\n\n{table}\n\n{reasons}\n"
        name = f"regression-v{trained_model.version}.md"
        path = reports.write(name, report)
        metadata["regression_report"] = MetadataValue.path(str(path))
        # Kept with the challenger's run too: a pod's disk does not outlive the run.
        model_registry.tracking.client().log_text(trained_model.run_id, report, name)
        notifier.notify(
            "regression", f"v{trained_model.version} not promoted: " + "; ".join(decision.reasons)
        )
    return Output(evaluation, metadata=metadata)


def load_champion(model_registry: MlflowModelRegistry, version: str) -> TaggerModel:
    """The champion to compare against; one that cannot load stops the gate with the fix."""
    try:
        return model_registry.load(version)
    except (ModelRefusedError, OSError) as error:
        raise Failure(
            f"the champion v{version} cannot be loaded, so no challenger can be judged: {error}. "
            "Roll back to a loadable version (`uv run mlplatform rollback`, or "
            "`uv run mlplatform rollback --to-version N`), then re-run model_evaluation.",
            allow_retries=False,
        ) from error


@asset(
    **{**DEPLOYMENT_ASSET_OPTIONS, "pool": PROMOTION_POOL},
    retry_policy=SERVICE_RETRY_POLICY,
)
def champion_model(
    model_evaluation: ModelEvaluation,
    model_registry: MlflowModelRegistry,
    notifier: Notifier,
) -> MaterializeResult:
    """Moves the registry alias `champion` to the challenger, if it still points where the
    evaluation saw it (compare and set); the old one becomes `previous`."""
    if not model_evaluation.decision.promote:
        raise Failure("the promotion gate did not pass; champion unchanged", allow_retries=False)
    version = model_evaluation.challenger_version
    try:
        replaced = model_registry.promote(version, model_evaluation.champion_version)
    except PromotionConflictError as error:
        raise Failure(str(error), allow_retries=False) from error
    notifier.notify(
        "champion_changed",
        f"champion is now v{version} (was {f'v{replaced}' if replaced else 'none'})",
    )
    return MaterializeResult(
        metadata={"champion_version": version, "previous_version": replaced or "none"}
    )
