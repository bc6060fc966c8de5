"""The warehouse seam: what the platform needs from wherever its tables live.

One implementation per backend (DuckDB today). Assets and checks only see this interface: the
IO manager that stores frames, the dbt target and the variables its profile reads, table
profiles for metadata, the asset kind and fully qualified table names shown in the UI.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar

import pandas as pd
from dagster import AssetSpec, ConfigurableIOManagerFactory, ConfigurableResource

from mlplatform.core.partitions import PARTITION_COLUMN, CreationWindow

# Every step that reads or writes the warehouse joins this pool; its limit lives in the
# instance (dagster.yaml), so one backend can allow one writer and another many.
WAREHOUSE_POOL = "warehouse"
# Assets stored as warehouse tables carry this tag; the warehouse adds its kind and table name.
WAREHOUSE_TABLE_TAG = "mlplatform/warehouse_table"


# Tables without `PARTITION_COLUMN` whose rows belong to their project's month (by `id`).
FOLLOW_PROJECTS = {"tags": "projects"}


@dataclass(frozen=True)
class TableProfile:
    row_count: int
    columns: tuple[tuple[str, str], ...]
    preview: pd.DataFrame


class Warehouse(ConfigurableResource):
    """Where `projects`, `tags` and `labeled_projects` live; dbt builds in the same place."""

    schema_name: str

    kind: ClassVar[str]  # the asset kind shown in the UI
    dbt_target: ClassVar[str]  # the target in dbt_project/profiles.yml

    @abstractmethod
    def io_manager(self) -> ConfigurableIOManagerFactory:
        """The IO manager that stores and loads pandas frames as tables of `schema_name`."""

    @property
    def staging_schema(self) -> str:
        """Where dbt builds and tests its models before they are published (write-audit-publish)."""
        return f"{self.schema_name}_staging"

    @abstractmethod
    def dbt_vars(self) -> dict[str, str]:
        """Values dbt's profile and sources read with `var()`: passed as `--vars`. They include
        `build_schema` = `staging_schema`, where dbt's models are built."""

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Keep other processes out of the warehouse while a build reads and writes it (dbt's
        build, audit and publish). A no-op where the backend takes concurrent writers."""
        yield

    @abstractmethod
    def read_staged(self, table: str) -> pd.DataFrame:
        """`table` as dbt built it in `staging_schema`, not yet published."""

    @abstractmethod
    def publish(self, table: str, window: CreationWindow | None = None) -> None:
        """Replace `table`'s rows in `window` (all of them when None) and any row with an id of
        the staged build by that build, in one transaction, and drop the staged copy."""

    @abstractmethod
    def publish_batch(
        self, frames: Mapping[str, pd.DataFrame], window: CreationWindow | None = None
    ) -> None:
        """Replace each table's rows in `window` (all of them when None) and any row with an id
        of its frame by the frame, all in one transaction: every table or none."""

    @abstractmethod
    def table_name(self, table: str) -> str:
        """The fully qualified name of `table`, as the backend's own tools spell it."""

    @abstractmethod
    def row_count(self, table: str, window: CreationWindow | None = None) -> int | None:
        """The rows of `table` in `window` (all when None); None when it has not been built."""

    @abstractmethod
    def profile_table(self, table: str, preview_rows: int) -> TableProfile:
        """Row count, column types and first rows of `table`."""

    @abstractmethod
    def read_table(self, table: str, window: CreationWindow | None = None) -> pd.DataFrame:
        """`table`'s rows in `window`, or all of them (for tools and tests; assets load through
        the IO manager)."""

    @abstractmethod
    def _relation(self, table: str, staged: bool = False) -> str:
        """`table` quoted as this backend's SQL names it."""

    def in_window(self, table: str, window: CreationWindow | None) -> str:
        """A SQL condition on `table`'s rows: those in `window`. Tags follow their project."""
        if window is None:
            return "true"
        bounds = (
            f"{PARTITION_COLUMN} >= '{window.start.isoformat(sep=' ')}' "
            f"and {PARTITION_COLUMN} < '{window.end.isoformat(sep=' ')}'"
        )
        if table in FOLLOW_PROJECTS:
            projects = self._relation(FOLLOW_PROJECTS[table])
            return f"id in (select id from {projects} where {bounds})"
        return bounds

    def replacing(self, table: str, window: CreationWindow | None, batch: str) -> list[str]:
        """The statements that replace `table`'s rows in `window`, and rows with the ids of
        `batch`, by `batch`'s rows (the table must exist)."""
        published = self._relation(table)
        return [
            f"delete from {published} where {self.in_window(table, window)} "
            f"or id in (select id from {batch})",
            f"insert into {published} select * from {batch}",
        ]

    def describe(self, spec: AssetSpec) -> AssetSpec:
        """A warehouse table's spec with this backend's kind and table name."""
        return spec.merge_attributes(
            kinds={self.kind},
            metadata={"dagster/table_name": self.table_name(spec.key.path[-1])},
        )
