"""Monitoring the champion on rows that arrived after its training cutoff.

`drift_report`: those rows vs its training reference. `champion_performance`: its F1 on them
(labels land with the data) vs on its own test rows, and how many rows it has not seen.
"""

from dataclasses import asdict
from typing import Any

import pandas as pd
from dagster import AssetExecutionContext, AssetKey, MetadataValue, Output, asset

from mlplatform.lib.automation import fresh_when_parents_update
from mlplatform.lib.metadata import (
    drift_tests_table,
    inline_image,
    performance_metadata,
    rounded,
)
from mlplatform.lib.ownership import ML_OWNERS
from mlplatform.lib.retries import SERVICE_RETRY_POLICY
from mlplatform.resources.mlflow_tracking import MlflowTracking
from mlplatform.resources.model_registry import CHAMPION, MlflowModelRegistry, TaggerModel
from mlplatform.resources.notifications import Notifier, ReportStore
from mlplatform.resources.policies import MonitoringPolicy, RetrainingPolicy, TrainingPolicy
from mlplatform.resources.warehouse import WAREHOUSE_POOL

MONITORING_ASSET_OPTIONS = dict(
    group_name="monitoring",
    owners=ML_OWNERS,
    deps=[AssetKey("champion_model")],
    io_manager_key="fs_io_manager",
    pool=WAREHOUSE_POOL,
    retry_policy=SERVICE_RETRY_POLICY,
)


@asset(
    **MONITORING_ASSET_OPTIONS,
    kinds={"evidently"},
    automation_condition=fresh_when_parents_update(),
)
def drift_report(
    context: AssetExecutionContext,
    labeled_projects: pd.DataFrame,
    model_registry: MlflowModelRegistry,
    training_policy: TrainingPolicy,
    monitoring_policy: MonitoringPolicy,
    mlflow_tracking: MlflowTracking,
    notifier: Notifier,
    reports: ReportStore,
) -> Output[dict[str, Any]]:
    """Label, length, content and prediction drift of new rows vs the champion's reference."""
    from mlplatform.core.drift import drift_profile, measure_drift
    from mlplatform.core.text import project_text
    from mlplatform.core.training import rows_after
    from mlplatform.lib.reporting import drift_figure

    version = model_registry.alias_version(CHAMPION)
    if version is None:
        context.log.warning("No champion yet: nothing to compare.")
        return Output(
            {"status": "no_reference", "drift_detected": False},
            metadata={"status": "no_reference", "drift_detected": False},
        )
    champion = model_registry.load(version)
    reference = champion_reference(
        context, model_registry, champion, labeled_projects, training_policy, monitoring_policy
    )
    cutoff = champion.tags.get("training_cutoff")
    new_rows = rows_after(
        labeled_projects, cutoff, training_policy.label_config(), monitoring_policy.window_days
    )
    current = drift_profile(new_rows, champion.tagger.predict(project_text(new_rows)))
    stem = f"drift-{context.run_id[:8]}"
    html = reports.path(f"{stem}.html")
    result = measure_drift(reference, current, monitoring_policy.drift_config(), html_path=html)
    context.log.info(f"drift vs champion v{version} (cutoff {cutoff}): {result.status}")
    metadata = rounded(
        {
            "status": result.status,
            "drift_detected": result.drift_detected,
            "champion_version": version,
            "training_cutoff": str(cutoff),
            "window_days": monitoring_policy.window_days or "all",
            "window_start": str(new_rows["created_on"].min()) if len(new_rows) else "none",
            "new_rows": result.new_rows,
            "reference_rows": result.reference_rows,
            "tests": drift_tests_table(result.tests),
            "drift_rule": MetadataValue.md(result.rule),
            **{f"{t.name}/statistic": t.statistic for t in result.tests},
            **{f"{t.name}/drifted": t.drifted for t in result.tests},
        }
    )
    if result.tests:
        metadata["plot"] = inline_image(drift_figure(result), f"drift tests: {result.status}")
        report_url = mlflow_tracking.log_report(
            stem, html, {"mlplatform.kind": "drift_report", "champion_version": version}
        )
        metadata["html_report"] = MetadataValue.url(report_url)
    if result.drift_detected:
        drifted = ", ".join(t.name for t in result.tests if t.drifted)
        notifier.notify(
            "drift_detected",
            f"{result.new_rows} new rows drifted from champion v{version}'s reference ({drifted})",
        )
    return Output({**result.as_dict(), "champion_version": version}, metadata=metadata)


def champion_reference(
    context: AssetExecutionContext,
    model_registry: MlflowModelRegistry,
    champion: TaggerModel,
    labeled_projects: pd.DataFrame,
    training_policy: TrainingPolicy,
    monitoring_policy: MonitoringPolicy,
) -> pd.DataFrame:
    """The champion's drift reference: a stratified sample of its training rows with its
    predictions, built the first time it is monitored and kept with its registry version."""
    reference = model_registry.load_reference(champion.version)
    if reference is not None:
        return reference
    from mlplatform.core.drift import drift_profile
    from mlplatform.core.splits import stratified_sample
    from mlplatform.core.text import project_text
    from mlplatform.core.training import rows_until

    seen = rows_until(
        labeled_projects, champion.tags.get("training_cutoff"), training_policy.label_config()
    )
    seen = stratified_sample(
        seen, monitoring_policy.drift_config().reference_rows, training_policy.seed
    )
    reference = drift_profile(seen, champion.tagger.predict(project_text(seen)))
    model_registry.log_reference(champion.version, reference)
    context.log.info(f"drift reference of v{champion.version}: {len(reference)} training rows")
    return reference


@asset(
    **MONITORING_ASSET_OPTIONS,
    kinds={"scikitlearn", "scipy"},
    # Before the first champion it counts the labeled rows, so the first training starts itself.
    automation_condition=fresh_when_parents_update(may_be_missing=["champion_model"]),
)
def champion_performance(
    context: AssetExecutionContext,
    labeled_projects: pd.DataFrame,
    model_registry: MlflowModelRegistry,
    training_policy: TrainingPolicy,
    retraining_policy: RetrainingPolicy,
) -> Output[dict[str, Any]]:
    """The champion's F1 on labeled rows after its cutoff vs on its own test rows (bootstrap
    intervals), and the new rows as a share of those it was trained on."""
    from mlplatform.core.performance import estimate_performance, monthly_scores
    from mlplatform.core.retraining import PerformanceEvent
    from mlplatform.core.text import project_text
    from mlplatform.core.training import rows_at_cutoff
    from mlplatform.lib.reporting import performance_figure

    policy = retraining_policy.retraining_config()
    version = model_registry.alias_version(CHAMPION)
    champion = model_registry.load(version) if version else None
    cutoff = champion.tags.get("training_cutoff") if champion else None
    rows = rows_at_cutoff(labeled_projects, cutoff, training_policy.label_config())
    if champion is None:
        context.log.info(f"No champion yet: {rows.training_rows} labeled training rows.")
        event = PerformanceEvent(-1, 0.0, rows.training_rows, len(rows.trained), new_rows=0)
        metadata = performance_metadata(event, None, policy)
        return Output(event.stored_fields(), metadata=metadata)
    new, test = (
        frame.assign(prediction=champion.tagger.predict(project_text(frame)))
        for frame in (rows.new, rows.test)
    )
    estimate = estimate_performance(new, test, len(rows.trained), policy.confidence)
    event = PerformanceEvent(
        -1,
        0.0,
        rows.training_rows,
        estimate.trained_rows,
        estimate.new_rows,
        champion_version=version,
        new_f1=estimate.new_f1.value if estimate.new_f1 else None,
        test_f1=estimate.test_f1.value if estimate.test_f1 else None,
        change_high=estimate.change.high if estimate.change else None,
    )
    context.log.info(
        f"champion v{version} (cutoff {cutoff}): {estimate.new_rows} new rows, "
        f"{estimate.test_rows} test rows; F1 change {estimate.change or 'not measured'}"
    )
    metadata = {"training_cutoff": str(cutoff), **performance_metadata(event, estimate, policy)}
    if estimate.new_rows:
        months = monthly_scores(new, policy.confidence)
        figure = performance_figure(months, estimate, policy.decay_margin)
        metadata["plot"] = inline_image(figure, "F1 on new rows by month")
    return Output({**event.stored_fields(), **asdict(estimate)}, metadata=metadata)
