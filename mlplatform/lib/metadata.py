"""Metadata a user wants to see in the UI for a table: row count, column schema, a preview."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd
from dagster import MetadataValue, TableColumn, TableRecord, TableSchema

from mlplatform.core.drift import DriftTest
from mlplatform.core.gate import ModelEvaluation
from mlplatform.core.retraining import PerformanceEvent, RetrainingConfig, performance_verdicts
from mlplatform.lib.markdown import literal

if TYPE_CHECKING:
    from mlplatform.core.performance import PerformanceEstimate

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
    from mlplatform.lib.reporting import comparison_rows, empty_slices

    champion = evaluation.champion
    scores = ["challenger", "champion", "change"] if champion else ["challenger"]
    kinds = {"metric": "string", "n": "int", **dict.fromkeys(scores, "float")}
    rows = [
        rounded(
            {
                "metric": row.metric,
                "n": row.rows,
                "challenger": row.challenger,
                **({"champion": row.champion, "change": row.change} if champion else {}),
            }
        )
        for row in comparison_rows(evaluation.challenger, champion)
    ]
    metadata = {
        "verdict": evaluation.decision.verdict,
        "reasons": MetadataValue.md(
            "\n".join(f"- {literal(r)}" for r in evaluation.decision.reasons)
        ),
        "challenger_version": evaluation.challenger_version,
        "champion_version": evaluation.champion_version or "none",
        "challenger_f1_weighted": evaluation.challenger.overall.f1,
        **({"champion_f1_weighted": champion.overall.f1} if champion else {}),
        "comparison": table_value(rows, kinds),
    }
    if empty := empty_slices(evaluation.challenger):
        metadata["slices_without_rows"] = ", ".join(empty)
    return rounded(metadata)


def drift_tests_table(tests: Iterable[DriftTest]) -> MetadataValue:
    """Each drift test: its statistic, when it counts as shifted, and whether it did."""
    rows = [
        rounded(
            {"test": t.name, "statistic": t.statistic, "shifts when": t.rule, "shifted": t.drifted}
        )
        for t in tests
    ]
    kinds = {"test": "string", "statistic": "float", "shifts when": "string", "shifted": "bool"}
    return table_value(rows, kinds)


def performance_metadata(
    event: PerformanceEvent, estimate: PerformanceEstimate | None, config: RetrainingConfig
) -> dict[str, Any]:
    """champion_performance's numbers (the sensor reads back `event`'s) and what each
    retraining rule makes of them."""
    intervals = {}
    if estimate is not None:
        for name in ("new_f1", "test_f1", "change"):
            if interval := getattr(estimate, name):
                low, high = f"{name}_low", f"{name}_high"
                intervals |= {name: interval.value, low: interval.low, high: interval.high}
        intervals |= {"test_rows": estimate.test_rows, "growth": estimate.growth}
    verdicts = performance_verdicts(event, config)
    rules = "\n".join(f"- {text}{' **(fires)**' if fired else ''}" for _, text, fired in verdicts)
    status = "measured" if event.champion_version else "no_champion"
    return rounded(
        {"status": status, **intervals, **event.stored_fields(), "rules": MetadataValue.md(rules)}
    )


def table_value(rows: Iterable[Mapping[str, Any]], kinds: Mapping[str, str]) -> MetadataValue:
    """Rows as a table value: the UI shows each cell as text (never as markup) and wraps it."""
    return MetadataValue.table(
        [TableRecord(dict(row)) for row in rows],
        schema=TableSchema(columns=[TableColumn(name, kind) for name, kind in kinds.items()]),
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
        "preview": preview_table(preview),
    }


def preview_table(preview: pd.DataFrame) -> MetadataValue:
    """First rows as a table of shortened strings: the UI shows them as text, never markup."""
    cells = preview.astype("string").fillna("").map(lambda v: v[:PREVIEW_CELL_CHARS])
    return table_value(cells.to_dict(orient="records"), dict.fromkeys(cells.columns, "string"))
