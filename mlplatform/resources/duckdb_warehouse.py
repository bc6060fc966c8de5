"""The embedded warehouse: one DuckDB file shared by the IO manager and dbt.

DuckDB lets one process open a file for writing and fails the others at once. Within one Dagster
instance the `warehouse` pool already runs one step at a time; the file lock here also covers
processes of other instances and tools (`mlplatform summary`): they wait their turn, and give up
with a message naming the file after `lock_timeout_seconds`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
from dagster import (
    ConfigurableIOManagerFactory,
    Failure,
    InitResourceContext,
    InputContext,
    IOManager,
    OutputContext,
    get_dagster_logger,
)
from dagster_duckdb_pandas import DuckDBPandasIOManager
from filelock import FileLock, Timeout

from mlplatform.core.partitions import CreationWindow
from mlplatform.resources.warehouse import FOLLOW_PROJECTS, TableProfile, Warehouse


@contextmanager
def warehouse_lock(database: str, timeout_seconds: float) -> Iterator[None]:
    """Hold `database`'s lock file; re-entrant within a thread, so nested uses do not wait."""
    # One FileLock per path and process: a second instance would wait on its own process.
    lock = FileLock(f"{database}.lock", is_singleton=True)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        get_dagster_logger().warning(
            "The warehouse %s is in use by another process (another run or tool on the same "
            "file); waiting up to %s s for it",
            database,
            timeout_seconds,
        )
        try:
            lock.acquire(timeout=timeout_seconds)
        except Timeout:
            raise Failure(
                f"The warehouse {database} stayed in use by another process for "
                f"{timeout_seconds} s (lock file {lock.lock_file}); nothing was read or written. "
                "Wait for the other run, or raise MLPLATFORM_WAREHOUSE_LOCK_TIMEOUT.",
                allow_retries=False,  # the wait was the retry
            ) from None
    try:
        yield
    finally:
        lock.release()


class _LockedIOManager(IOManager):
    """Another IO manager's loads and stores, each while holding the warehouse's lock."""

    def __init__(self, inner: IOManager, database: str, timeout_seconds: float) -> None:
        self._inner, self._database, self._timeout = inner, database, timeout_seconds

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        with warehouse_lock(self._database, self._timeout):
            self._inner.handle_output(context, obj)

    def load_input(self, context: InputContext) -> Any:
        with warehouse_lock(self._database, self._timeout):
            return self._inner.load_input(context)


class DuckDBFileIOManager(DuckDBPandasIOManager):
    """DuckDB pandas IO manager that creates the warehouse's folder on first use and opens the
    file only while holding its lock."""

    lock_timeout_seconds: float

    def setup_for_execution(self, context: InitResourceContext) -> None:
        Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        super().setup_for_execution(context)

    def create_io_manager(self, context: InitResourceContext) -> IOManager:
        inner = super().create_io_manager(context)
        return _LockedIOManager(inner, self.database, self.lock_timeout_seconds)


class DuckDBWarehouse(Warehouse):
    """A DuckDB file, opened by one process at a time (see the module's docstring)."""

    database: str
    lock_timeout_seconds: float

    kind: ClassVar[str] = "duckdb"
    dbt_target: ClassVar[str] = "duckdb"

    def io_manager(self) -> ConfigurableIOManagerFactory:
        return DuckDBFileIOManager(
            database=self.database,
            schema=self.schema_name,
            lock_timeout_seconds=self.lock_timeout_seconds,
        )

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with warehouse_lock(self.database, self.lock_timeout_seconds):
            yield

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

    def publish(self, table: str, window: CreationWindow | None = None) -> None:
        import duckdb

        published, staged = self._relation(table), self._relation(table, staged=True)
        with self.exclusive(), duckdb.connect(self.database) as connection:
            # DuckDB's DDL is transactional: readers see the old rows or the new, never neither.
            connection.execute("begin transaction")
            if window is None:
                connection.execute(f"create or replace table {published} as from {staged}")
            else:
                connection.execute(
                    f"create table if not exists {published} as from {staged} limit 0"
                )
                for statement in self.replacing(table, window, staged):
                    connection.execute(statement)
            connection.execute(f"drop table {staged}")
            connection.execute("commit")

    def publish_batch(
        self, frames: Mapping[str, pd.DataFrame], window: CreationWindow | None = None
    ) -> None:
        import duckdb

        Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        with self.exclusive(), duckdb.connect(self.database) as connection:
            connection.execute(f'create schema if not exists "{self.schema_name}"')
            # One transaction for every table: DuckDB's DDL is transactional, so a failure or a
            # kill before the commit leaves each table as it was.
            connection.execute("begin transaction")
            for table, frame in frames.items():
                connection.register(f"batch_{table}", frame)
                relation, batch = self._relation(table), f"batch_{table}"
                if window is None:
                    connection.execute(f"create or replace table {relation} as from {batch}")
                else:
                    connection.execute(
                        f"create table if not exists {relation} as from {batch} limit 0"
                    )
            if window is not None:
                # Tags first: which stored tags a month holds is read from the stored projects.
                for table in sorted(frames, key=lambda name: name not in FOLLOW_PROJECTS):
                    for statement in self.replacing(table, window, f"batch_{table}"):
                        connection.execute(statement)
            connection.execute("commit")

    def table_name(self, table: str) -> str:
        return f"{Path(self.database).stem}.{self.schema_name}.{table}"

    def row_count(self, table: str, window: CreationWindow | None = None) -> int | None:
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
            where = self.in_window(table, window)
            count = f"select count(*) from {self._relation(table)} where {where}"
            return connection.execute(count).fetchone()[0]

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

    def _select(self, table: str, condition: str) -> pd.DataFrame:
        with self._connect() as connection:
            return connection.execute(f"from {self._relation(table)} where {condition}").df()

    def _relation(self, table: str, staged: bool = False) -> str:
        return f'"{self.staging_schema if staged else self.schema_name}"."{table}"'

    @contextmanager
    def _connect(self) -> Iterator[Any]:
        import duckdb

        with self.exclusive(), duckdb.connect(self.database, read_only=True) as connection:
            yield connection
