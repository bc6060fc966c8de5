"""Declarative automation conditions shared by the asset modules."""

from collections.abc import Sequence

from dagster import AssetKey, AssetSelection, AutomationCondition


def fresh_when_parents_update(ignore: Sequence[str] = ()) -> AutomationCondition:
    """Update after a parent updates, never while one is in progress, and only when every
    blocking check of the parents passed: bad data never flows on by itself."""
    eager = AutomationCondition.eager()
    if ignore:
        eager = eager.ignore(AssetSelection.assets(*[AssetKey(key) for key in ignore]))
    return (eager & AutomationCondition.all_deps_blocking_checks_passed()).with_label(
        "eager, blocking checks passed"
    )
