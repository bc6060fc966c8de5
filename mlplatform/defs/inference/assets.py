"""Batch inference: the champion's predictions for every project, and the labeling queue."""

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from mlplatform.core.features import FEATURE_TABLE
from mlplatform.core.predictions import LABELING_QUEUE_TABLE, PREDICTIONS_TABLE
from mlplatform.lib.automation import fresh_when_parents_update
from mlplatform.lib.features import stored_features
from mlplatform.lib.metadata import frame_metadata
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
    from mlplatform.core.predictions import prediction_rows, tag_distribution
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
    deps=[AssetKey(PREDICTIONS_TABLE)],
    automation_condition=fresh_when_parents_update(),
)
def labeling_queue(
    context: AssetExecutionContext, warehouse: Warehouse, labeling_policy: LabelingPolicy
) -> MaterializeResult:
    """The month's least confident predictions, ranked, for people to label first (the course's
    active-learning step)."""
    from mlplatform.core.predictions import least_confident

    window = run_window(context)
    predictions = warehouse.read_table(PREDICTIONS_TABLE, window)
    projects = warehouse.read_table("projects", window)
    queue = least_confident(predictions, projects, labeling_policy.labeling_config())
    warehouse.publish_batch({LABELING_QUEUE_TABLE: queue}, window)
    return MaterializeResult(
        metadata={
            **frame_metadata(queue),
            "window": str(window),
            "of_predictions": len(predictions),
            "max_probability": round(float(queue["probability"].max()), 4) if len(queue) else 0,
        }
    )
