"""Declarative automation conditions shared by the asset modules."""

from collections.abc import Sequence

from dagster import AssetKey, AssetSelection, AutomationCondition


def fresh_when_parents_update(
    ignore: Sequence[str] = (), may_be_missing: Sequence[str] = ()
) -> AutomationCondition:
    """Update after a parent updates, never while one is in progress, and only when every
    blocking check of the parents passed: bad data never flows on by itself.

    Parents in `ignore` never trigger an update; parents in `may_be_missing` trigger one when
    they update but need not exist for the asset to run.
    """
    eager = AutomationCondition.eager()
    if ignore:
        eager = eager.ignore(_selection(ignore))
    if may_be_missing:
        required = AutomationCondition.any_deps_missing().ignore(_selection(may_be_missing))
        eager = eager.replace("any_deps_missing", required)
    return (eager & AutomationCondition.all_deps_blocking_checks_passed()).with_label(
        "eager, blocking checks passed"
    )


def _selection(keys: Sequence[str]) -> AssetSelection:
    return AssetSelection.assets(*[AssetKey(key) for key in keys])
