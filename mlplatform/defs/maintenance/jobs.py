"""Retention: the `prune` job deletes what the retention policy no longer keeps, daily."""

from dagster import (
    DefaultScheduleStatus,
    MetadataValue,
    OpExecutionContext,
    Output,
    ScheduleDefinition,
    job,
    op,
)

from mlplatform.defs.deployment.assets import PROMOTION_POOL
from mlplatform.lib.dbt_project import DBT_TARGET_DIR
from mlplatform.resources.model_registry import MlflowModelRegistry
from mlplatform.resources.notifications import ReportStore
from mlplatform.resources.policies import RetentionPolicy, TrainingPolicy
from mlplatform.resources.retention import prune, retention_stores


# In the promotion pool: a version is never deleted while champion_model moves the aliases.
@op(pool=PROMOTION_POOL)
def prune_stored_data(
    context: OpExecutionContext,
    model_registry: MlflowModelRegistry,
    training_policy: TrainingPolicy,
    reports: ReportStore,
    retention_policy: RetentionPolicy,
) -> Output[None]:
    """Delete model versions, MLflow runs, optuna studies, dbt targets, reports and Dagster runs
    the retention policy no longer keeps."""
    stores = retention_stores(
        model_registry,
        training_policy.storage,
        reports.directory,
        DBT_TARGET_DIR,
        context.instance,
    )
    plan = prune(stores, retention_policy.retention_config(), dry_run=False, log=context.log.info)
    deleted = {f"deleted {kind}": count for kind, (count, _) in plan.by_kind().items()}
    return Output(
        None,
        metadata={
            **deleted,
            "freed_mb": MetadataValue.float(round(plan.freed_bytes / 1e6, 1)),
            "kept": len(plan.keep),
        },
    )


@job(description="Delete what the retention policy no longer keeps (`mlplatform prune`).")
def prune_job() -> None:
    prune_stored_data()


prune_schedule = ScheduleDefinition(
    name="daily_prune",
    job=prune_job,
    cron_schedule="0 3 * * *",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Daily at 03:00: prune_job keeps disk use flat (settings: "
    "MLPLATFORM_KEEP_MODEL_VERSIONS, MLPLATFORM_RETENTION_DAYS).",
)
