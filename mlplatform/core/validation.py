"""Plain-data outcomes of a Great Expectations validation, independent of any orchestrator."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

SAMPLE_SIZE = 5


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's verdict, with enough detail to find the offending rows."""

    expectation: str
    columns: tuple[str, ...]
    success: bool
    unexpected_count: int | None = None
    sample: tuple[Any, ...] = ()
    observed: Any = None
    error: str | None = None

    @property
    def column_label(self) -> str:
        return ", ".join(self.columns) or "(table)"

    def describe(self) -> str:
        if self.error:
            return f"error: {self.error}"
        if self.unexpected_count is not None:
            return f"{self.unexpected_count} unexpected, e.g. {list(self.sample)}"
        return f"observed {self.observed}"


@dataclass(frozen=True)
class SuiteOutcome:
    """A suite's verdict on one batch."""

    suite: str
    rows: int
    expectations: tuple[ExpectationOutcome, ...] = field(default_factory=tuple)

    @property
    def success(self) -> bool:
        return all(outcome.success for outcome in self.expectations)

    @property
    def failures(self) -> list[ExpectationOutcome]:
        return [outcome for outcome in self.expectations if not outcome.success]

    def summary(self) -> str:
        if self.success:
            return f"suite {self.suite!r}: all {len(self.expectations)} expectations passed"
        failed = "; ".join(
            f"{o.expectation}({o.column_label}): {o.describe()}" for o in self.failures
        )
        return f"suite {self.suite!r} failed {len(self.failures)} expectation(s): {failed}"


def outcome_from_gx(
    expectation_type: str, kwargs: dict, success: bool, result: dict, error: str | None = None
) -> ExpectationOutcome:
    """Build an outcome from the pieces of a GX `ExpectationValidationResult`."""
    return ExpectationOutcome(
        expectation=expectation_type,
        columns=_columns(expectation_type, kwargs),
        success=success,
        unexpected_count=result.get("unexpected_count"),
        sample=tuple(
            _plain(v) for v in (result.get("partial_unexpected_list") or [])[:SAMPLE_SIZE]
        ),
        observed=_plain(result.get("details") or result.get("observed_value")),
        error=error,
    )


def _columns(expectation_type: str, kwargs: dict) -> tuple[str, ...]:
    if expectation_type.startswith("expect_table_"):
        return ()  # a table-level expectation's column_list is the expected layout, not a target
    if "column" in kwargs:
        return (kwargs["column"],)
    return tuple(kwargs.get("column_list", ()))


def _plain(value: Any) -> Any:
    """Make a value JSON- and markdown-friendly (pandas NA, timestamps, numpy scalars)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value.item() if hasattr(value, "item") else str(value)
