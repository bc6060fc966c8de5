"""`project_features`: the offline feature table, a month at a time, each project encoded once."""

import time

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    MaterializeResult,
    asset,
)

from mlplatform.core.features import FEATURE_TABLE, FEATURE_VERSION
from mlplatform.lib.automation import fresh_when_parents_update
from mlplatform.lib.metadata import frame_metadata
from mlplatform.lib.ownership import ML_OWNERS
from mlplatform.lib.partitions import MONTHLY_PARTITIONS, ONE_RUN, run_window
from mlplatform.resources.policies import TrainingPolicy
from mlplatform.resources.warehouse import WAREHOUSE_POOL, WAREHOUSE_TABLE_TAG, Warehouse

FEATURES_CHECK_NAME = "features_valid"


@asset(
    name=FEATURE_TABLE,
    group_name="features",
    owners=ML_OWNERS,
    kinds={"pandas"},
    tags={WAREHOUSE_TABLE_TAG: ""},
    deps=[AssetKey("projects")],
    check_specs=[
        AssetCheckSpec(
            FEATURES_CHECK_NAME,
            asset=FEATURE_TABLE,
            blocking=True,
            description="One row per project; every embedding 384 finite values of unit norm.",
        )
    ],
    automation_condition=fresh_when_parents_update(),
    pool=WAREHOUSE_POOL,
    partitions_def=MONTHLY_PARTITIONS,
    backfill_policy=ONE_RUN,
    output_required=False,  # features that break a rule are not published
)
def project_features(
    context: AssetExecutionContext, warehouse: Warehouse, training_policy: TrainingPolicy
):
    """The month's projects featurized: only those new or whose text changed are encoded; the
    month's rows are published only when every row passes the check."""
    from mlplatform.core.embeddings import sentence_encoder
    from mlplatform.core.features import feature_problems, featurize, month_features, to_featurize

    window = run_window(context)
    projects = warehouse.read_table("projects", window)
    stored = warehouse.feature_rows(window)
    todo = to_featurize(projects, stored)
    embed = _embeds(warehouse, training_policy)
    unembedded = " (no embeddings: more projects than training_policy.embedding_max_rows)"
    context.log.info(
        f"{window}: {len(todo)} of {len(projects)} projects to featurize"
        + ("" if embed else unembedded)
    )
    started = time.perf_counter()
    computed = featurize(todo, sentence_encoder().encode if embed else None)
    seconds = time.perf_counter() - started
    month = month_features(projects, stored, computed)
    problems = feature_problems(month)
    yield AssetCheckResult(
        check_name=FEATURES_CHECK_NAME,
        passed=not problems,
        severity=AssetCheckSeverity.ERROR,
        description="; ".join(map(str, problems)) or f"{len(month)} rows pass",
        metadata={"rows": len(month)},
    )
    if problems:
        context.log.error(f"{FEATURE_TABLE} {window} not published: {problems[0]}")
        return
    warehouse.publish_batch({FEATURE_TABLE: month}, window)
    yield MaterializeResult(
        metadata={
            **frame_metadata(month.drop(columns="embedding")),
            "window": str(window),
            "feature_version": FEATURE_VERSION,
            "featurized": len(computed),
            "reused": len(month) - len(computed),
            "embeddings": embed,
            "featurize_seconds": round(seconds, 2),
        }
    )


def _embeds(warehouse: Warehouse, policy: TrainingPolicy) -> bool:
    """Embeddings while the tagger may use them: the same bound as training's."""
    if not policy.embeddings:
        return False
    bound = policy.embedding_max_rows
    return bound is None or (warehouse.row_count("projects") or 0) <= bound
