"""The warehouse seam: what the platform needs from wherever its tables live.

One implementation per backend (DuckDB, BigQuery). Assets and checks only see this interface:
the IO manager that stores frames, the dbt target and the variables its profile reads, windowed
reads and transactional publishes, the feature table's lookups, table profiles for metadata,
the asset kind and fully qualified table names shown in the UI.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

import pandas as pd
from dagster import AssetSpec, ConfigurableIOManagerFactory, ConfigurableResource

from mlplatform.core.features import (
    FEATURE_COLUMNS,
    FEATURE_TABLE,
    embeddings_by_text,
    text_sha256,
)
from mlplatform.core.partitions import PARTITION_COLUMN, CreationWindow

# Every step that reads or writes the warehouse joins this pool; its limit lives in the
# instance (dagster.yaml), so one backend can allow one writer and another many.
WAREHOUSE_POOL = "warehouse"
# Assets stored as warehouse tables carry this tag; the warehouse adds its kind and table name.
WAREHOUSE_TABLE_TAG = "mlplatform/warehouse_table"


if TYPE_CHECKING:
    from mlplatform.core.embeddings import EmbeddingLookup

LOOKUP_CHUNK = 5_000  # text hashes per feature query: BigQuery caps a statement at 1 MB

# Tables without `PARTITION_COLUMN` whose rows belong to their project's month (by `id`).
FOLLOW_PROJECTS = {"tags": "projects"}


@dataclass(frozen=True)
class TableProfile:
    row_count: int
    columns: tuple[tuple[str, str], ...]
    preview: pd.DataFrame


class Warehouse(ConfigurableResource):
    """Where `projects`, `tags`, `labeled_projects` and `project_features` live; dbt builds in
    the same place."""

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

    def read_table(self, table: str, window: CreationWindow | None = None) -> pd.DataFrame:
        """`table`'s rows in `window`, or all of them (assets that load whole tables do so
        through the IO manager)."""
        return self._select(table, self.in_window(table, window))

    def read_features(
        self, texts: Sequence[str], as_of: datetime | str | None = None
    ) -> pd.DataFrame:
        """The stored feature rows of `texts` (by their SHA-256) of projects created by `as_of`
        (every one when None); none before `project_features` is first built."""
        hashes = text_sha256(pd.Series(list(texts), dtype=object)).unique().tolist()
        cutoff = f" and {PARTITION_COLUMN} <= '{_timestamp(as_of)}'" if as_of else ""
        chunks = [hashes[i : i + LOOKUP_CHUNK] for i in range(0, len(hashes), LOOKUP_CHUNK)]
        # Hex digests only: safe to write into the statement.
        return self._feature_rows(
            [f"text_sha256 in ({', '.join(map(repr, chunk))}){cutoff}" for chunk in chunks]
        )

    def feature_rows(self, window: CreationWindow | None = None) -> pd.DataFrame:
        """`project_features`' rows in `window`; none before the table is first built."""
        return self._feature_rows([self.in_window(FEATURE_TABLE, window)])

    def _feature_rows(self, conditions: list[str]) -> pd.DataFrame:
        if not conditions or self.row_count(FEATURE_TABLE) is None:
            return pd.DataFrame(columns=list(FEATURE_COLUMNS))
        return pd.concat(self._select(FEATURE_TABLE, condition) for condition in conditions)

    def embedding_lookup(self, as_of: datetime | str | None = None) -> EmbeddingLookup:
        """The encoder's lookup (`core.embeddings.stored_embeddings`) into `project_features`."""
        return lambda texts: embeddings_by_text(self.read_features(texts, as_of))

    @abstractmethod
    def _select(self, table: str, condition: str) -> pd.DataFrame:
        """`table`'s rows where the SQL `condition` holds."""

    @abstractmethod
    def _relation(self, table: str, staged: bool = False) -> str:
        """`table` quoted as this backend's SQL names it."""

    def in_window(self, table: str, window: CreationWindow | None) -> str:
        """A SQL condition on `table`'s rows: those in `window`. Tags follow their project."""
        if window is None:
            return "true"
        bounds = (
            f"{PARTITION_COLUMN} >= '{_timestamp(window.start)}' "
            f"and {PARTITION_COLUMN} < '{_timestamp(window.end)}'"
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


def _timestamp(moment: datetime | str) -> str:
    """A SQL timestamp literal's text (UTC offset included) both backends read."""
    return pd.Timestamp(moment).isoformat(sep=" ")
