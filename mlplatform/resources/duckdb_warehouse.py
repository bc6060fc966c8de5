"""The embedded warehouse: one DuckDB file shared by the IO manager and dbt."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pandas as pd
from dagster import InitResourceContext
from dagster_duckdb_pandas import DuckDBPandasIOManager

from mlplatform.resources.warehouse import TableProfile, Warehouse


class DuckDBFileIOManager(DuckDBPandasIOManager):
    """DuckDB pandas IO manager that creates the warehouse's folder on first use."""

    def setup_for_execution(self, context: InitResourceContext) -> None:
        Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        super().setup_for_execution(context)


class DuckDBWarehouse(Warehouse):
    """A DuckDB file; one writer at a time (the `warehouse` pool is limited to 1)."""

    database: str

    kind: ClassVar[str] = "duckdb"
    dbt_target: ClassVar[str] = "duckdb"

    def io_manager(self) -> DuckDBFileIOManager:
        return DuckDBFileIOManager(database=self.database, schema=self.schema_name)

    def dbt_vars(self) -> dict[str, str]:
        # dbt-duckdb creates the file but not its folder.
        Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        return {
            "duckdb_path": self.database,
            "warehouse_schema": self.schema_name,
            "build_schema": self.staging_schema,
        }

    def read_staged(self, table: str) -> pd.DataFrame:
        with self._connect() as connection:
            return connection.execute(f"select * from {self._relation(table, staged=True)}").df()

    def publish(self, table: str) -> None:
        import duckdb

        published, staged = self._relation(table), self._relation(table, staged=True)
        with duckdb.connect(self.database) as connection:
            # DuckDB's DDL is transactional: readers see the old table or the new, never neither.
            connection.execute("begin transaction")
            connection.execute(f"create or replace table {published} as select * from {staged}")
            connection.execute(f"drop table {staged}")
            connection.execute("commit")

    def table_name(self, table: str) -> str:
        return f"{Path(self.database).stem}.{self.schema_name}.{table}"

    def row_count(self, table: str) -> int | None:
        if not Path(self.database).exists():
            return None
        with self._connect() as connection:
            exists = connection.execute(
                "select count(*) from information_schema.tables "
                "where table_schema = ? and table_name = ?",
                [self.schema_name, table],
            ).fetchone()[0]
            if not exists:
                return None
            return connection.execute(f"select count(*) from {self._relation(table)}").fetchone()[0]

    def profile_table(self, table: str, preview_rows: int) -> TableProfile:
        with self._connect() as connection:
            relation = self._relation(table)
            row_count = connection.execute(f"select count(*) from {relation}").fetchone()[0]
            columns = connection.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = ? and table_name = ? order by ordinal_position",
                [self.schema_name, table],
            ).fetchall()
            preview = connection.execute(f"select * from {relation} limit {preview_rows}").df()
        return TableProfile(int(row_count), tuple(map(tuple, columns)), preview)

    def read_table(self, table: str) -> pd.DataFrame:
        with self._connect() as connection:
            return connection.execute(f"select * from {self._relation(table)}").df()

    def _relation(self, table: str, staged: bool = False) -> str:
        return f'"{self.staging_schema if staged else self.schema_name}"."{table}"'

    def _connect(self):
        import duckdb

        return duckdb.connect(self.database, read_only=True)
