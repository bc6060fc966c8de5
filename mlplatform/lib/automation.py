"""Declarative automation conditions shared by the asset modules."""

from collections.abc import Sequence

from dagster import AssetKey, AssetSelection, AutomationCondition


def fresh_when_parents_update(
    ignore: Sequence[str] = (),
    may_be_missing: Sequence[str] = (),
    not_triggered_by: Sequence[str] = (),
) -> AutomationCondition:
    """Update after a parent updates, never while one is in progress, and only when every
    blocking check of the parents passed: bad data never flows on by itself.

    Parents in `ignore` never trigger an update, need not exist and their checks do not block;
    parents in `not_triggered_by` must exist but their updates trigger nothing; parents in
    `may_be_missing` trigger an update but need not exist for the asset to run (a partitioned
    parent's months that hold no data yet stay missing). Every month of a partitioned asset
    follows its parent's month, not only the latest one (Dagster's eager default), so a
    backfilled or corrected old month flows downstream too.
    """
    eager = AutomationCondition.eager().without(AutomationCondition.in_latest_time_window())
    if ignore:
        eager = eager.ignore(_selection(ignore))
    if not_triggered_by:
        quiet = _selection([*not_triggered_by, *ignore])
        updated = AutomationCondition.any_deps_updated().ignore(quiet)
        eager = eager.replace("any_deps_updated", updated)
    if may_be_missing:
        required = AutomationCondition.any_deps_missing().ignore(_selection(may_be_missing))
        eager = eager.replace("any_deps_missing", required)
    checks = AutomationCondition.all_deps_blocking_checks_passed()
    if ignore:  # a parent that need not exist has no checks to wait for
        checks = checks.ignore(_selection(ignore))
    return (eager & checks).with_label("eager, blocking checks passed")


def _selection(keys: Sequence[str]) -> AssetSelection:
    return AssetSelection.assets(*[AssetKey(key) for key in keys])
