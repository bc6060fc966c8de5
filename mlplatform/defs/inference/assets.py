"""Batch inference: the champion's predictions for every project; from them, the month's labeling
queue (active learning) and the labels a confident champion disagrees with (label QA)."""

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    MaterializeResult,
    MetadataValue,
    asset,
)

from mlplatform.core.features import FEATURE_TABLE
from mlplatform.core.labels import OTHER
from mlplatform.core.predictions import (
    LABEL_REVIEW_TABLE,
    LABELING_QUEUE_TABLE,
    PREDICTIONS_TABLE,
    tag_distribution,
)
from mlplatform.lib.automation import fresh_when_parents_update
from mlplatform.lib.features import stored_features
from mlplatform.lib.metadata import frame_metadata, preview_table
from mlplatform.lib.ownership import ML_OWNERS
from mlplatform.lib.partitions import MONTHLY_PARTITIONS, ONE_RUN, run_window
from mlplatform.lib.retries import SERVICE_RETRY_POLICY
from mlplatform.resources.model_registry import CHAMPION, MlflowModelRegistry
from mlplatform.resources.policies import LabelingPolicy
from mlplatform.resources.warehouse import WAREHOUSE_POOL, WAREHOUSE_TABLE_TAG, Warehouse

INFERENCE_ASSET_OPTIONS = dict(
    group_name="inference",
    owners=ML_OWNERS,
    tags={WAREHOUSE_TABLE_TAG: ""},
    pool=WAREHOUSE_POOL,
    partitions_def=MONTHLY_PARTITIONS,
    backfill_policy=ONE_RUN,
)


@asset(
    **INFERENCE_ASSET_OPTIONS,
    kinds={"mlflow", "pandas"},
    deps=[AssetKey("projects"), AssetKey("champion_model"), AssetKey(FEATURE_TABLE)],
    # A new month is predicted when it lands, and every month again when the champion changes;
    # the features only spare the encoder.
    automation_condition=fresh_when_parents_update(ignore=[FEATURE_TABLE]),
    retry_policy=SERVICE_RETRY_POLICY,
    output_required=False,  # nothing to predict with before the first champion
)
def project_predictions(
    context: AssetExecutionContext, warehouse: Warehouse, model_registry: MlflowModelRegistry
):
    """The champion's tag, probabilities and precision-mode tag for every project of the month,
    with the version that predicted them."""
    from mlplatform.core.predictions import prediction_rows
    from mlplatform.core.text import project_text

    window = run_window(context)
    version = model_registry.alias_version(CHAMPION)
    if version is None:
        context.log.warning(f"No champion yet: {PREDICTIONS_TABLE} {window} not written.")
        return
    tagger = model_registry.load(version).tagger
    projects = warehouse.read_table("projects", window)
    with stored_features(context, warehouse, window.end):
        predictions = tagger.predictions(project_text(projects))
    rows = prediction_rows(projects, predictions, version)
    warehouse.publish_batch({PREDICTIONS_TABLE: rows}, window)
    context.log.info(f"{PREDICTIONS_TABLE} {window}: {len(rows)} projects by champion v{version}")
    yield MaterializeResult(
        metadata={
            **frame_metadata(rows.drop(columns="probabilities")),
            "window": str(window),
            "model_version": version,
            "predicted_tags": MetadataValue.json(tag_distribution(rows)),
            "mean_probability": round(float(rows["probability"].mean()), 4) if len(rows) else 0,
        }
    )


@asset(
    **INFERENCE_ASSET_OPTIONS,
    kinds={"pandas"},
    deps=[AssetKey(PREDICTIONS_TABLE), AssetKey("tags")],
    automation_condition=fresh_when_parents_update(),
)
def labeling_queue(
    context: AssetExecutionContext, warehouse: Warehouse, labeling_policy: LabelingPolicy
) -> MaterializeResult:
    """The month's unlabeled projects the champion is least sure of, ranked, as many as the
    month's label budget has left; no predicted tag takes more than its share while others wait
    (the course's active-learning step)."""
    from mlplatform.core.predictions import labeling_queue_rows

    window = run_window(context)
    predictions = warehouse.read_table(PREDICTIONS_TABLE, window)
    labeled = warehouse.read_table("tags", window)["id"]
    projects = warehouse.read_table("projects", window)
    config = labeling_policy.labeling_config()
    queue = labeling_queue_rows(predictions, projects, labeled, config)
    warehouse.publish_batch({LABELING_QUEUE_TABLE: queue}, window)
    already_labeled = int(predictions["id"].isin(labeled).sum())
    context.log.info(
        f"{LABELING_QUEUE_TABLE} {window}: {len(queue)} projects to label; "
        f"{already_labeled} of {len(predictions)} already labeled"
    )
    return MaterializeResult(
        metadata={
            **frame_metadata(queue),
            "window": str(window),
            "of_predictions": len(predictions),
            "already_labeled": already_labeled,
            "budget_share": config.budget_share,
            "queued_tags": MetadataValue.json(tag_distribution(queue)),
            "max_probability": round(float(queue["probability"].max()), 4) if len(queue) else 0,
        }
    )


@asset(
    **INFERENCE_ASSET_OPTIONS,
    kinds={"pandas"},
    deps=[AssetKey(PREDICTIONS_TABLE), AssetKey("labeled_projects")],
    automation_condition=fresh_when_parents_update(),
    check_specs=[
        AssetCheckSpec(
            "no_confident_disagreements",
            asset=LABEL_REVIEW_TABLE,
            description="No label of the month waits for review (warns, never blocks).",
        )
    ],
)
def label_review(
    context: AssetExecutionContext, warehouse: Warehouse, labeling_policy: LabelingPolicy
):
    """Label QA: the month's labels that a confident champion disagrees with, for a person to
    look at. Nothing is dropped or changed; the check warns while any wait."""
    from mlplatform.core.predictions import label_disagreements

    window = run_window(context)
    predictions = warehouse.read_table(PREDICTIONS_TABLE, window)
    labeled = warehouse.read_table("labeled_projects", window)
    config = labeling_policy.labeling_config()
    review = label_disagreements(predictions, labeled, OTHER, config)
    warehouse.publish_batch({LABEL_REVIEW_TABLE: review}, window)
    preview = review[["id", "label", "tag", "probability"]].head(10)
    yield MaterializeResult(
        metadata={
            **frame_metadata(review),
            "window": str(window),
            "of_labeled": len(labeled),
            "review_confidence": config.review_confidence,
        }
    )
    yield AssetCheckResult(
        check_name="no_confident_disagreements",
        passed=review.empty,
        severity=AssetCheckSeverity.WARN,
        description=(
            f"{len(review)} of {len(labeled)} labels in {window} disagree with a champion at "
            f"least {config.review_confidence:.0%} sure: see the {LABEL_REVIEW_TABLE} table"
        ),
        metadata={"disagreements": len(review), "first": preview_table(preview)},
    )
