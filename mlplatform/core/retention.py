"""What the platform keeps and what it deletes: the one place retention's defaults are stated.

Everything stored is an `Item` of some kind (a model version, an MLflow run, a dbt target folder,
a report, a Dagster run...). The plan is pure: it never deletes an item that is pinned (the
champion, the previous champion, the run behind an asset's latest materialization), nor the
newest item of its group, nor one younger than the window, nor one a kept item needs (the run
behind a kept model version); model versions are kept by count instead of age.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

MODEL_VERSION = "model_version"


@dataclass(frozen=True)
class RetentionConfig:
    keep_model_versions: int = 3  # the newest versions kept beside the champion and previous
    window_days: float = 30.0  # runs, trials, reports and dbt targets younger than this stay

    def __post_init__(self) -> None:
        if self.keep_model_versions < 1:
            raise ValueError(
                f"keep_model_versions must be at least 1, not {self.keep_model_versions}"
            )
        if self.window_days < 0:
            raise ValueError(f"window_days must not be negative, not {self.window_days}")


@dataclass(frozen=True)
class Item:
    """One stored thing retention may delete; `group` items compete for 'newest'."""

    kind: str
    key: str
    created: datetime
    size_bytes: int = 0
    group: str = ""
    pinned: bool = False
    needs: tuple[str, ...] = ()  # keys of items kept while this one is (a version's run)


@dataclass(frozen=True)
class PrunePlan:
    delete: tuple[Item, ...]
    keep: tuple[Item, ...]

    def by_kind(self) -> dict[str, tuple[int, int]]:
        """kind -> (items deleted, bytes freed)."""
        totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for item in self.delete:
            totals[item.kind][0] += 1
            totals[item.kind][1] += item.size_bytes
        return {kind: (count, size) for kind, (count, size) in sorted(totals.items())}

    @property
    def freed_bytes(self) -> int:
        return sum(item.size_bytes for item in self.delete)


def plan_prune(items: Iterable[Item], config: RetentionConfig, now: datetime) -> PrunePlan:
    """Split `items` into those to delete and those to keep under `config` at `now`."""
    items = list(items)
    newest = _newest_per_group(items)
    versions = [item for item in items if item.kind == MODEL_VERSION]
    kept_versions = {
        item.key
        for item in sorted(versions, key=lambda i: i.created, reverse=True)[
            : config.keep_model_versions
        ]
    }
    cutoff = now - timedelta(days=config.window_days)
    delete, keep = [], []
    for item in items:
        if item.pinned or item is newest.get((item.kind, item.group)):
            keep.append(item)
        elif item.kind == MODEL_VERSION:
            (keep if item.key in kept_versions else delete).append(item)
        else:
            (keep if item.created > cutoff else delete).append(item)
    needed = {key for item in keep for key in item.needs}
    keep += [item for item in delete if item.key in needed]
    delete = [item for item in delete if item.key not in needed]
    return PrunePlan(tuple(delete), tuple(keep))


def _newest_per_group(items: Sequence[Item]) -> dict[tuple[str, str], Item]:
    newest: dict[tuple[str, str], Item] = {}
    for item in items:
        current = newest.get((item.kind, item.group))
        if current is None or item.created > current.created:
            newest[(item.kind, item.group)] = item
    return newest
