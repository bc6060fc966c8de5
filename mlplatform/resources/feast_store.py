"""Feast over the platform's offline features: the repository, its file source and the online
store (`MLPLATFORM_FEATURE_STORE=feast`).

The repository is a directory of the environment (`MLPLATFORM_FEAST_REPO`): `feature_store.yaml`
written from the settings, a `features.py` that imports the objects of
`mlplatform.feature_store.repo`, Feast's registry, the offline Parquet files (a month per file,
exported from the warehouse's `project_features`) and, by default, the SQLite online store. Feast's
own CLI works on it as on any repository: `feast -c <repo> feature-views list`. Feast is an
optional extra: it is imported when a method runs, and its absence is an error naming the extra.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from dagster import ConfigurableResource

from mlplatform.core.features import FEATURE_COLUMNS, FEATURE_TABLE
from mlplatform.core.partitions import PARTITION_COLUMN, CreationWindow, month_key
from mlplatform.settings import FEAST_REDIS_VAR

if TYPE_CHECKING:
    from feast import FeatureStore

FEAST_PROJECT = "mlplatform"
CONFIG_FILE = "feature_store.yaml"
DEFINITIONS_FILE = "features.py"
# The columns the feature view reads: the warehouse's raw `text` stays in the warehouse.
OFFLINE_COLUMNS = tuple(column for column in FEATURE_COLUMNS if column != "text")
MISSING_EXTRA = (
    "MLPLATFORM_FEATURE_STORE=feast needs Feast, which is the optional `feast` extra: "
    "install it with `uv sync --extra feast`"
)


class FeastFeatureStore(ConfigurableResource):
    """One Feast repository: offline files written a month at a time, the online store filled
    from them."""

    repo_path: str
    # Feast's form, `host:port,db=0[,password=...]`; unset: SQLite in the repository.
    redis_connection: str | None = None

    @property
    def online_store_type(self) -> str:
        return "redis" if self.redis_connection else "sqlite"

    def export_months(self, features: pd.DataFrame, months: list[str]) -> dict[str, int]:
        """Replace the offline file of each of `months` by its rows of `features` (a month
        without rows has no file); the rows written per month."""
        from mlplatform.feature_store.repo import OFFLINE_PATH

        directory = Path(self.repo_path) / OFFLINE_PATH
        directory.mkdir(parents=True, exist_ok=True)
        keys = month_key(features[PARTITION_COLUMN]) if len(features) else pd.Series(dtype=str)
        written = {}
        for month in months:
            rows = features[(keys == month).to_numpy()]
            written[month] = len(rows)
            _replace_parquet(directory / f"{month}.parquet", _offline_rows(rows))
        return written

    def apply(self) -> FeatureStore:
        """The store with the repository's objects registered (what `feast apply` does)."""
        from mlplatform.feature_store.repo import FEAST_OBJECTS

        store = self.store()
        store.apply(FEAST_OBJECTS)
        return store

    def materialize(self, window: CreationWindow) -> str:
        """Load the rows created in `window` into the online store; how, as a sentence.

        `materialize_incremental` when the window starts where the view's materialized interval
        ends; an explicit window otherwise: on a first run (Feast would start a ttl-less view a
        year before today, skipping the history) and for a month re-run or backfilled behind it
        (which the incremental form would skip)."""
        store = self.apply()
        start = window.start.tz_localize("UTC").to_pydatetime()
        end = window.end.tz_localize("UTC").to_pydatetime()
        materialized = store.get_feature_view(FEATURE_TABLE).most_recent_end_time
        if materialized is not None and start >= materialized:
            store.materialize_incremental(end_date=end, feature_views=[FEATURE_TABLE])
            return f"materialize_incremental from {materialized:%Y-%m-%d} to {end:%Y-%m-%d}"
        store.materialize(start_date=start, end_date=end, feature_views=[FEATURE_TABLE])
        return f"materialize from {start:%Y-%m-%d} to {end:%Y-%m-%d}"

    def store(self) -> FeatureStore:
        """Feast's `FeatureStore` on the repository, written first from this resource."""
        try:
            from feast import FeatureStore
            from feast.repo_config import load_repo_config
        except ImportError as error:
            raise RuntimeError(MISSING_EXTRA) from error
        repo = self.write_repository()
        config = load_repo_config(repo, repo / CONFIG_FILE)
        if self.redis_connection:
            # The file names the variable (`${...}`); this process passes the value itself.
            config.online_store.connection_string = self.redis_connection
        return FeatureStore(repo_path=str(repo), config=config)

    def write_repository(self) -> Path:
        """`feature_store.yaml` and `features.py`, so Feast's CLI sees what the platform does."""
        repo = Path(self.repo_path)
        repo.mkdir(parents=True, exist_ok=True)
        (repo / CONFIG_FILE).write_text(yaml.safe_dump(self._config(), sort_keys=False))
        (repo / DEFINITIONS_FILE).write_text(
            '"""Written by mlplatform: the feature definitions live in the package."""\n\n'
            "from mlplatform.feature_store.repo import (  # noqa: F401\n"
            "    project,\n    project_features_source,\n    project_features_view,\n)\n"
        )
        return repo

    def _config(self) -> dict[str, Any]:
        # Relative paths: Feast resolves them in the repository, which can move as a whole.
        online: dict[str, Any] = {"type": "sqlite", "path": "online_store.db"}
        if self.redis_connection:
            # A connection string may hold a password: the file names the variable, and Feast
            # reads the value from the environment when it loads the file.
            online = {"type": "redis", "connection_string": f"${{{FEAST_REDIS_VAR}}}"}
        return {
            "project": FEAST_PROJECT,
            "provider": "local",
            "registry": "registry.db",
            "offline_store": {"type": "file"},
            "online_store": online,
            "entity_key_serialization_version": 3,
        }


def _offline_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The view's columns, event times as UTC (Feast compares them with aware timestamps)."""
    offline = rows.loc[:, list(OFFLINE_COLUMNS)].reset_index(drop=True)
    created = pd.to_datetime(offline[PARTITION_COLUMN], format="ISO8601")
    offline[PARTITION_COLUMN] = created.dt.tz_localize("UTC") if created.dt.tz is None else created
    return offline


def _replace_parquet(path: Path, rows: pd.DataFrame) -> None:
    """Write `rows` beside `path` and move it into place: a reader sees the old file or the new
    one, never half of one. No rows: no file."""
    if rows.empty:
        path.unlink(missing_ok=True)
        return
    partial = path.with_suffix(".parquet.partial")
    pq.write_table(pa.Table.from_pandas(rows, preserve_index=False), partial)
    os.replace(partial, path)
