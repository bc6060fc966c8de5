"""Monitoring the champion on rows that arrived after its training cutoff, per month of arrival.

`drift_report` (per month): the month's rows vs the champion's training reference.
`champion_performance` (per month): its F1 on the labeled rows that arrived after its cutoff, up
to the end of the month (labels land with the data), vs on its own test rows, and how many rows
it has not seen. What depends on the champion alone (the reference, the test predictions) is
computed once per version from the rows up to its cutoff and saved with it, so a new month costs
the rows since the champion, not the history.
"""

from dataclasses import dataclass

import pandas as pd
from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from mlplatform.core.features import FEATURE_TABLE
from mlplatform.core.partitions import EARLIEST, TRAINING_WINDOW_START_TAG, CreationWindow
from mlplatform.lib.automation import fresh_when_parents_update
from mlplatform.lib.features import stored_features
from mlplatform.lib.metadata import (
    drift_tests_table,
    inline_image,
    performance_metadata,
    rounded,
)
from mlplatform.lib.ownership import ML_OWNERS
from mlplatform.lib.partitions import MONTHLY_PARTITIONS, ONE_RUN, run_window
from mlplatform.lib.retries import SERVICE_RETRY_POLICY
from mlplatform.resources.mlflow_tracking import MlflowTracking
from mlplatform.resources.model_registry import CHAMPION, MlflowModelRegistry, TaggerModel
from mlplatform.resources.notifications import Notifier, ReportStore
from mlplatform.resources.policies import MonitoringPolicy, RetrainingPolicy, TrainingPolicy
from mlplatform.resources.warehouse import WAREHOUSE_POOL, Warehouse

LABELED_PROJECTS = "labeled_projects"
# Saved with each champion version the first time it is monitored (`model_registry.log_frame`).
DRIFT_REFERENCE, TEST_PREDICTIONS = "drift_reference", "test_predictions"
TRAINED_ROWS_TAG = "monitoring.trained_rows"

MONITORING_ASSET_OPTIONS = dict(
    group_name="monitoring",
    owners=ML_OWNERS,
    # The features only spare the encoder (a month without them is encoded here): they neither
    # trigger monitoring nor hold it back.
    deps=[AssetKey("champion_model"), AssetKey(LABELED_PROJECTS), AssetKey(FEATURE_TABLE)],
    pool=WAREHOUSE_POOL,
    partitions_def=MONTHLY_PARTITIONS,
    # A backfill's months are measured together, in one run (one report for the range).
    backfill_policy=ONE_RUN,
    retry_policy=SERVICE_RETRY_POLICY,
)


# A month is measured when its rows land. A new champion does not re-measure past months: each
# month is measured by the champion of its arrival.


@asset(
    **MONITORING_ASSET_OPTIONS,
    kinds={"evidently"},
    # Before any champion there is nothing to compare.
    automation_condition=fresh_when_parents_update(
        ignore=[FEATURE_TABLE], not_triggered_by=["champion_model"]
    ),
)
def drift_report(
    context: AssetExecutionContext,
    model_registry: MlflowModelRegistry,
    warehouse: Warehouse,
    training_policy: TrainingPolicy,
    monitoring_policy: MonitoringPolicy,
    mlflow_tracking: MlflowTracking,
    notifier: Notifier,
    reports: ReportStore,
) -> MaterializeResult:
    """Label, length, content and prediction drift of the month's new rows vs the champion's
    reference."""
    from mlplatform.core.drift import measure_drift
    from mlplatform.core.training import rows_after
    from mlplatform.lib.reporting import drift_figure

    window = run_window(context)
    version = model_registry.alias_version(CHAMPION)
    if version is None:
        context.log.warning("No champion yet: nothing to compare.")
        return MaterializeResult(metadata={"status": "no_reference", "drift_detected": False})
    champion = model_registry.load(version)
    cutoff = champion.tags.get("training_cutoff")
    with stored_features(context, warehouse, window.end):
        reference = champion_baseline(
            context, model_registry, warehouse, champion, training_policy, monitoring_policy
        ).reference
        month = warehouse.read_table(LABELED_PROJECTS, window)
        new_rows = rows_after(
            month, cutoff, training_policy.label_config(), monitoring_policy.window_days
        )
        current = _drift_profile(champion, new_rows)
    stem = f"drift-{context.run_id[:8]}-{context.partition_key_range.start[:7]}"
    html = reports.path(f"{stem}.html")
    result = measure_drift(reference, current, monitoring_policy.drift_config(), html_path=html)
    context.log.info(f"drift of {window} vs champion v{version} (cutoff {cutoff}): {result.status}")
    metadata = rounded(
        {
            "status": result.status,
            "drift_detected": result.drift_detected,
            "champion_version": version,
            "training_cutoff": str(cutoff),
            "months": str(window),
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
            f"{result.new_rows} new rows drifted from champion v{version}'s reference "
            f"({drifted}), created in {window}",
        )
    return MaterializeResult(metadata=metadata)


def _drift_profile(champion: TaggerModel, rows: pd.DataFrame) -> pd.DataFrame:
    from mlplatform.core.drift import drift_profile
    from mlplatform.core.text import project_text

    return drift_profile(rows, champion.tagger.predict(project_text(rows)))


@dataclass(frozen=True)
class ChampionBaseline:
    """What monitoring needs of the champion's own rows, computed once per version."""

    reference: pd.DataFrame  # a stratified sample of its training rows, with its predictions
    test: pd.DataFrame  # a stratified sample of its test rows (tag), with its predictions
    trained_rows: int


def champion_baseline(
    context: AssetExecutionContext,
    model_registry: MlflowModelRegistry,
    warehouse: Warehouse,
    champion: TaggerModel,
    training_policy: TrainingPolicy,
    monitoring_policy: MonitoringPolicy,
) -> ChampionBaseline:
    """Built from the rows up to the champion's cutoff the first time it is monitored and saved
    with its version; read from there afterwards."""
    version = champion.version
    reference = model_registry.load_frame(version, DRIFT_REFERENCE)
    test = model_registry.load_frame(version, TEST_PREDICTIONS)
    if reference is not None and test is not None and TRAINED_ROWS_TAG in champion.tags:
        return ChampionBaseline(reference, test, int(champion.tags[TRAINED_ROWS_TAG]))
    from mlplatform.core.splits import stratified_sample
    from mlplatform.core.text import project_text
    from mlplatform.core.training import rows_at_cutoff

    cutoff = champion.tags.get("training_cutoff")
    window = CreationWindow.until(cutoff) if cutoff else None
    if window and TRAINING_WINDOW_START_TAG in champion.tags:  # trained on a rolling window
        window = CreationWindow.of(champion.tags[TRAINING_WINDOW_START_TAG], window.end)
    seen = rows_at_cutoff(
        warehouse.read_table(LABELED_PROJECTS, window), cutoff, training_policy.label_config()
    )
    kept = monitoring_policy.drift_config().reference_rows
    sample = stratified_sample(seen.trained, kept, training_policy.seed)
    test = stratified_sample(seen.test, kept, training_policy.seed)
    baseline = ChampionBaseline(
        reference=_drift_profile(champion, sample),
        test=test[["id", "created_on", "tag"]].assign(
            prediction=champion.tagger.predict(project_text(test))
        ),
        trained_rows=len(seen.trained),
    )
    model_registry.log_frame(version, DRIFT_REFERENCE, baseline.reference)
    model_registry.log_frame(version, TEST_PREDICTIONS, baseline.test)
    model_registry.tag_version(version, TRAINED_ROWS_TAG, str(baseline.trained_rows))
    context.log.info(
        f"champion v{version}: drift reference of {len(sample)} training rows and "
        f"{len(test)} of its {len(seen.test)} test rows predicted, saved with the version"
    )
    return baseline


@asset(
    **MONITORING_ASSET_OPTIONS,
    kinds={"scikitlearn", "scipy"},
    # Before the first champion it counts the labeled rows, so the first training starts itself.
    automation_condition=fresh_when_parents_update(ignore=["champion_model", FEATURE_TABLE]),
)
def champion_performance(
    context: AssetExecutionContext,
    model_registry: MlflowModelRegistry,
    warehouse: Warehouse,
    training_policy: TrainingPolicy,
    monitoring_policy: MonitoringPolicy,
    retraining_policy: RetrainingPolicy,
) -> MaterializeResult:
    """The champion's F1 on the labeled rows after its cutoff up to the end of the month vs on
    its own test rows (bootstrap intervals), and the new rows as a share of those it was trained
    on."""
    from mlplatform.core.performance import estimate_performance, monthly_scores
    from mlplatform.core.retraining import PerformanceEvent
    from mlplatform.core.text import project_text
    from mlplatform.core.training import rows_at_cutoff, unlabeled
    from mlplatform.lib.reporting import performance_figure

    window = run_window(context)
    policy = retraining_policy.retraining_config()
    labels = training_policy.label_config()
    version = model_registry.alias_version(CHAMPION)
    champion = model_registry.load(version) if version else None
    if champion is None:
        so_far = warehouse.read_table(LABELED_PROJECTS, CreationWindow.of(EARLIEST, window.end))
        known = rows_at_cutoff(so_far, None, labels)
        context.log.info(f"No champion yet: {known.training_rows} labeled training rows.")
        event = PerformanceEvent(
            -1, 0.0, known.training_rows, len(known.trained), 0, waiting_rows=unlabeled(so_far)
        )
        return MaterializeResult(metadata=performance_metadata(event, None, policy))
    cutoff = champion.tags.get("training_cutoff")
    since = CreationWindow.after(cutoff, window.end) if cutoff else window
    arrived = warehouse.read_table(LABELED_PROJECTS, since)
    with stored_features(context, warehouse, window.end):
        baseline = champion_baseline(
            context, model_registry, warehouse, champion, training_policy, monitoring_policy
        )
        new = rows_at_cutoff(arrived, cutoff, labels).new
        new = new.assign(prediction=champion.tagger.predict(project_text(new)))
    estimate = estimate_performance(new, baseline.test, baseline.trained_rows, policy.confidence)
    event = PerformanceEvent(
        -1,
        0.0,
        baseline.trained_rows + estimate.new_rows,
        estimate.trained_rows,
        estimate.new_rows,
        champion_version=version,
        new_f1=estimate.new_f1.value if estimate.new_f1 else None,
        test_f1=estimate.test_f1.value if estimate.test_f1 else None,
        change_high=estimate.change.high if estimate.change else None,
        waiting_rows=unlabeled(arrived),
    )
    context.log.info(
        f"champion v{version} (cutoff {cutoff}) up to {window.end:%Y-%m-%d}: "
        f"{estimate.new_rows} new rows, {estimate.test_rows} test rows; "
        f"F1 change {estimate.change or 'not measured'}"
    )
    metadata = {
        "training_cutoff": str(cutoff),
        "months": str(window),
        **performance_metadata(event, estimate, policy),
    }
    if estimate.new_rows:
        months = monthly_scores(new, policy.confidence)
        figure = performance_figure(months, estimate, policy.decay_margin)
        metadata["plot"] = inline_image(figure, "F1 on new rows by month")
    return MaterializeResult(metadata=metadata)
