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

# Every step that reads or writes the warehouse joins this pool; its limit lives in the
# instance (dagster.yaml), so one backend can allow one writer and another many.
WAREHOUSE_POOL = "warehouse"
# Assets stored as warehouse tables carry this tag; the warehouse adds its kind and table name.
WAREHOUSE_TABLE_TAG = "mlplatform/warehouse_table"


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
    def publish(self, table: str) -> None:
        """Replace `table` with its staged build in one transaction, and drop the staged copy."""

    @abstractmethod
    def publish_batch(self, frames: Mapping[str, pd.DataFrame]) -> None:
        """Replace each table with its frame, all in one transaction: every table or none."""

    @abstractmethod
    def table_name(self, table: str) -> str:
        """The fully qualified name of `table`, as the backend's own tools spell it."""

    @abstractmethod
    def row_count(self, table: str) -> int | None:
        """The rows of `table`; None when it has not been built yet."""

    @abstractmethod
    def profile_table(self, table: str, preview_rows: int) -> TableProfile:
        """Row count, column types and first rows of `table`."""

    @abstractmethod
    def read_table(self, table: str) -> pd.DataFrame:
        """The whole of `table` (for tools and tests; assets load through the IO manager)."""

    def describe(self, spec: AssetSpec) -> AssetSpec:
        """A warehouse table's spec with this backend's kind and table name."""
        return spec.merge_attributes(
            kinds={self.kind},
            metadata={"dagster/table_name": self.table_name(spec.key.path[-1])},
        )
