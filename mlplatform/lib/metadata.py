"""Metadata a user wants to see in the UI for a table: row count, column schema, a preview."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
from dagster import MetadataValue, TableColumn, TableSchema

PREVIEW_ROWS = 5
PREVIEW_CELL_CHARS = 60


def frame_metadata(frame: pd.DataFrame) -> dict:
    """Metadata of an in-memory frame about to be stored."""
    columns = [(name, str(dtype)) for name, dtype in frame.dtypes.items()]
    return table_metadata(len(frame), columns, frame.head(PREVIEW_ROWS))


def table_metadata(
    row_count: int, columns: Iterable[tuple[str, str]], preview: pd.DataFrame
) -> dict:
    return {
        "dagster/row_count": row_count,
        "dagster/column_schema": TableSchema(
            columns=[TableColumn(name=name, type=kind) for name, kind in columns]
        ),
        "preview": MetadataValue.md(preview_markdown(preview)),
    }


def preview_markdown(preview: pd.DataFrame) -> str:
    shortened = preview.astype("string").apply(
        lambda column: column.str.slice(0, PREVIEW_CELL_CHARS).str.replace("|", "\\|")
    )
    return shortened.to_markdown(index=False)
