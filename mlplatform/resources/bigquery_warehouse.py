"""The production warehouse: a BigQuery dataset, through dagster-gcp.

Frames are stored by dagster-gcp-pandas' `BigQueryPandasIOManager` (it writes upper-case column
names and reads them back lower-case, so the platform's lower-case columns round-trip); every
other read and write goes through dagster-gcp's `BigQueryResource` client. Credentials are
Google's application default credentials (`GOOGLE_APPLICATION_CREDENTIALS`, workload identity),
which dbt's `bigquery` target uses too, or a base64 service-account key given as an `EnvVar`.
BigQuery takes concurrent writers, so `exclusive` is the seam's no-op.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, ClassVar

import pandas as pd
from dagster import ConfigurableIOManagerFactory
from dagster_gcp import BigQueryResource
from dagster_gcp_pandas import BigQueryPandasIOManager

from mlplatform.core.partitions import PARTITION_COLUMN, CreationWindow
from mlplatform.resources.warehouse import FOLLOW_PROJECTS, TableProfile, Warehouse

if TYPE_CHECKING:
    from google.cloud import bigquery


class BigQueryWarehouse(Warehouse):
    """`schema_name` is the BigQuery dataset; dbt builds in `<dataset>_staging` beside it."""

    project: str
    location: str | None = None
    gcp_credentials: str | None = None  # base64 service-account key; None = default credentials

    kind: ClassVar[str] = "bigquery"
    dbt_target: ClassVar[str] = "bigquery"

    def io_manager(self) -> ConfigurableIOManagerFactory:
        return BigQueryPandasIOManager(
            project=self.project,
            dataset=self.schema_name,
            location=self.location,
            gcp_credentials=self.gcp_credentials,
        )

    def dbt_vars(self) -> dict[str, str]:
        return {
            "bigquery_project": self.project,
            "bigquery_location": self.location or "",
            "warehouse_schema": self.schema_name,
            "build_schema": self.staging_schema,
        }

    def read_staged(self, table: str) -> pd.DataFrame:
        return self._query(f"select * from {self._relation(table, staged=True)}")

    def publish(self, table: str, window: CreationWindow | None = None) -> None:
        published, staged = self._relation(table), self._relation(table, staged=True)
        with self._client() as client:
            if window is None:
                # One statement: readers see the old table or the new one, never neither.
                client.query(
                    f"create or replace table {published} as select * from {staged}"
                ).result()
            else:
                # Time-partitioned by month, so a month's delete and reads touch that month.
                client.query(
                    f"create table if not exists {published} "
                    f"partition by timestamp_trunc({PARTITION_COLUMN}, month) "
                    f"as select * from {staged} where false"
                ).result()
                self._transaction(client, self.replacing(table, window, staged))
            client.delete_table(self._table_id(table, staged=True), not_found_ok=True)

    def publish_batch(
        self, frames: Mapping[str, pd.DataFrame], window: CreationWindow | None = None
    ) -> None:
        """Each frame loaded into the staging dataset, then one multi-statement transaction
        replaces every table's rows (BigQuery's transactions take DML, not DDL): both or none.
        Column names upper-case, as `BigQueryPandasIOManager` writes them."""
        from google.cloud import bigquery

        load = bigquery.LoadJobConfig(write_disposition="WRITE_TRUNCATE")
        statements = []
        with self._client() as client:
            for dataset in (self.schema_name, self.staging_schema):
                created = bigquery.Dataset(f"{self.project}.{dataset}")
                created.location = self.location
                client.create_dataset(created, exists_ok=True)
            for table, frame in frames.items():
                staged = self._table_id(table, staged=True)
                client.load_table_from_dataframe(
                    frame.rename(columns=str.upper), staged, job_config=load
                ).result()
                published, batch = self._relation(table), self._relation(table, staged=True)
                client.query(
                    f"create table if not exists {published} as select * from {batch} where false"
                ).result()
            # Tags first: which stored tags a month holds is read from the stored projects.
            for table in sorted(frames, key=lambda name: name not in FOLLOW_PROJECTS):
                statements += self.replacing(table, window, self._relation(table, staged=True))
            self._transaction(client, statements)
            for table in frames:
                client.delete_table(self._table_id(table, staged=True), not_found_ok=True)

    @staticmethod
    def _transaction(client: bigquery.Client, statements: list[str]) -> None:
        client.query(
            "begin transaction; " + "; ".join(statements) + "; commit transaction;"
        ).result()

    def table_name(self, table: str) -> str:
        return self._table_id(table)

    def row_count(self, table: str, window: CreationWindow | None = None) -> int | None:
        from google.api_core.exceptions import NotFound

        with self._client() as client:
            try:
                client.get_table(self._table_id(table))
            except NotFound:
                return None
        return self._count(table, window)

    def profile_table(self, table: str, preview_rows: int) -> TableProfile:
        with self._client() as client:
            schema = client.get_table(self._table_id(table)).schema
        columns = tuple((field.name.lower(), field.field_type) for field in schema)
        return TableProfile(
            row_count=self._count(table),
            columns=columns,
            preview=self._query(f"select * from {self._relation(table)} limit {preview_rows}"),
        )

    def _select(self, table: str, condition: str) -> pd.DataFrame:
        return self._query(f"select * from {self._relation(table)} where {condition}")

    def _count(self, table: str, window: CreationWindow | None = None) -> int:
        where = self.in_window(table, window)
        return int(
            self._query(f"select count(*) as n from {self._relation(table)} where {where}")[
                "n"
            ].iloc[0]
        )

    def _table_id(self, table: str, staged: bool = False) -> str:
        return f"{self.project}.{self.staging_schema if staged else self.schema_name}.{table}"

    def _relation(self, table: str, staged: bool = False) -> str:
        return f"`{self._table_id(table, staged)}`"

    def _query(self, sql: str) -> pd.DataFrame:
        """The result with lower-case column names, as the IO manager loads tables."""
        with self._client() as client:
            frame = client.query(sql).to_dataframe()
        return frame.rename(columns=str.lower)

    @contextmanager
    def _client(self) -> Iterator[bigquery.Client]:
        resource = BigQueryResource(
            project=self.project, location=self.location, gcp_credentials=self.gcp_credentials
        )
        with resource.get_client() as client:
            yield client
