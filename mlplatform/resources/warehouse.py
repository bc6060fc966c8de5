"""The embedded warehouse: one DuckDB file shared by the IO manager and dbt."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from dagster import ConfigurableResource, InitResourceContext
from dagster_duckdb_pandas import DuckDBPandasIOManager


class WarehouseIOManager(DuckDBPandasIOManager):
    """DuckDB pandas IO manager that creates the warehouse's folder on first use."""

    def setup_for_execution(self, context: InitResourceContext) -> None:
        Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        super().setup_for_execution(context)


@dataclass(frozen=True)
class TableProfile:
    row_count: int
    columns: list[tuple[str, str]]
    preview: pd.DataFrame


class DuckDBWarehouse(ConfigurableResource):
    """Connection details of the DuckDB warehouse, for dbt and for table profiles."""

    database: str
    schema_name: str

    @contextmanager
    def dbt_environment(self) -> Iterator[None]:
        """Expose the warehouse location to a dbt subprocess (its profile reads these)."""
        values = {
            "MLPLATFORM_DUCKDB_PATH": self.database,
            "MLPLATFORM_WAREHOUSE_SCHEMA": self.schema_name,
        }
        previous = {name: os.environ.get(name) for name in values}
        Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        os.environ.update(values)
        try:
            yield
        finally:
            for name, value in previous.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def profile_table(self, table: str, preview_rows: int = 5) -> TableProfile:
        """Row count, column types and first rows of a warehouse table."""
        import duckdb

        relation = f'"{self.schema_name}"."{table}"'
        with duckdb.connect(self.database, read_only=True) as connection:
            row_count = connection.execute(f"select count(*) from {relation}").fetchone()[0]
            columns = connection.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = ? and table_name = ? order by ordinal_position",
                [self.schema_name, table],
            ).fetchall()
            preview = connection.execute(f"select * from {relation} limit {preview_rows}").df()
        return TableProfile(int(row_count), [tuple(c) for c in columns], preview)
