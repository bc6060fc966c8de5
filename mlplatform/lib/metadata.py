"""Metadata a user wants to see in the UI for a table: row count, column schema, a preview."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
from dagster import MetadataValue, TableColumn, TableSchema

from mlplatform.core.gate import ModelEvaluation

PREVIEW_ROWS = 5
PREVIEW_CELL_CHARS = 60
# Scores and statistics are shown to 3 decimals: more digits are noise at these sample sizes.
DECIMALS = 3


def rounded(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """`metadata` with every float rounded for display."""
    return {k: round(v, DECIMALS) if isinstance(v, float) else v for k, v in metadata.items()}


def inline_image(figure, alt: str) -> MetadataValue:
    """A matplotlib figure as a markdown image with the PNG inlined: the UI shows it as is."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return MetadataValue.md(f"![{alt}](data:image/png;base64,{encoded})")


def evaluation_metadata(evaluation: ModelEvaluation) -> dict[str, Any]:
    """What the gate compared and decided, for the evaluation asset and the gate check."""
    from mlplatform.core.reporting import comparison_markdown

    champion = evaluation.champion
    table = comparison_markdown(
        evaluation.challenger,
        champion,
        f"challenger v{evaluation.challenger_version}",
        evaluation.champion_version and f"champion v{evaluation.champion_version}",
    )
    return rounded(
        {
            "verdict": evaluation.decision.verdict,
            "challenger_version": evaluation.challenger_version,
            "champion_version": evaluation.champion_version or "none",
            "challenger_f1_weighted": evaluation.challenger.overall.f1,
            **({"champion_f1_weighted": champion.overall.f1} if champion else {}),
            "comparison": MetadataValue.md(table),
            "reasons": MetadataValue.md("\n".join(f"- {r}" for r in evaluation.decision.reasons)),
        }
    )


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
