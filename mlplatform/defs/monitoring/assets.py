"""`drift_report`: rows that arrived after the champion's training cutoff vs its reference."""

from typing import Any

import pandas as pd
from dagster import AssetExecutionContext, AssetKey, MetadataValue, Output, asset

from mlplatform.lib.automation import fresh_when_parents_update
from mlplatform.lib.metadata import drift_tests_table, inline_image, rounded
from mlplatform.lib.ownership import ML_OWNERS
from mlplatform.resources.mlflow_tracking import MlflowTracking
from mlplatform.resources.model_registry import CHAMPION, MlflowModelRegistry
from mlplatform.resources.notifications import Notifier, ReportStore
from mlplatform.resources.policies import MonitoringPolicy, TrainingPolicy
from mlplatform.resources.warehouse import WAREHOUSE_POOL


@asset(
    group_name="monitoring",
    owners=ML_OWNERS,
    deps=[AssetKey("champion_model")],
    io_manager_key="fs_io_manager",
    automation_condition=fresh_when_parents_update(),
    kinds={"evidently"},
    pool=WAREHOUSE_POOL,
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
    from mlplatform.core.reporting import drift_figure
    from mlplatform.core.text import project_text
    from mlplatform.core.training import rows_after

    version = model_registry.alias_version(CHAMPION)
    reference = model_registry.load_reference(version) if version else None
    if reference is None:
        context.log.warning("No champion with a drift reference yet: nothing to compare.")
        return Output(
            {"status": "no_reference", "drift_detected": False},
            metadata={"status": "no_reference", "drift_detected": False},
        )
    champion = model_registry.load(version)
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
