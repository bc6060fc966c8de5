"""Drift between a champion's training reference and rows that arrived after it.

Statistics and the HTML report come from Evidently; the verdict (which tests must agree) is ours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

NOT_ENOUGH_DATA, DRIFT, NO_DRIFT = "not_enough_data", "drift", "no_drift"
PROFILE_COLUMNS = ["id", "created_on", "text", "tag", "n_words", "prediction"]


@dataclass(frozen=True)
class DriftConfig:
    min_rows: int = 30
    label_p_value: float = 0.01  # chi-squared on the tag distribution
    length_p_value: float = 0.01  # Kolmogorov-Smirnov on words per project
    content_auc: float = 0.70  # ROC AUC of a TF-IDF domain classifier (reference vs new)
    prediction_distance: float = 0.1  # Jensen-Shannon distance of the champion's predictions
    required_tests: tuple[str, ...] = ("text_content",)
    min_drifted_tests: int = 2
    # The champion's own rows monitoring keeps: at most this many of its training rows (the drift
    # reference) and of its test rows (performance), each tag keeping its share. The new rows,
    # far fewer, bound the tests' power; above the real data's size; and the cost of a month does
    # not grow with the champion's history.
    reference_rows: int | None = 20_000

    @property
    def rule(self) -> str:
        required = " and ".join(f"`{name}`" for name in self.required_tests)
        others = self.min_drifted_tests - len(self.required_tests)
        extra = f" and at least {others} other test" + ("s" if others > 1 else "")
        verb = "shifts" if len(self.required_tests) == 1 else "shift"
        return f"drift is confirmed when {required} {verb}{extra if others > 0 else ''}"


@dataclass(frozen=True)
class DriftTest:
    name: str
    column: str
    method: str
    statistic: float
    threshold: float
    drifted: bool

    @property
    def rule(self) -> str:
        return f"< {self.threshold}" if self.method in _P_VALUE_METHODS else f">= {self.threshold}"


@dataclass(frozen=True)
class DriftResult:
    status: str
    reference_rows: int
    new_rows: int
    tests: tuple[DriftTest, ...] = field(default_factory=tuple)
    rule: str = DriftConfig().rule

    @property
    def drift_detected(self) -> bool:
        return self.status == DRIFT

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "drift_detected": self.drift_detected,
            "reference_rows": self.reference_rows,
            "new_rows": self.new_rows,
            "tests": {
                t.name: {
                    "column": t.column,
                    "method": t.method,
                    "statistic": t.statistic,
                    "threshold": t.threshold,
                    "drifted": t.drifted,
                }
                for t in self.tests
            },
        }


_P_VALUE_METHODS = {"chisquare", "ks"}


def drift_profile(frame: pd.DataFrame, predictions: Any) -> pd.DataFrame:
    """The columns drift is measured on: cleaned text, tag, length, the model's prediction."""
    from mlplatform.core.text import clean_texts, project_text

    texts = clean_texts(project_text(frame))
    return pd.DataFrame(
        {
            "id": frame["id"].to_numpy(),
            "created_on": pd.to_datetime(frame["created_on"]).to_numpy(),
            "text": texts,
            # A project still waiting for its label has none: missing, never the string "None".
            "tag": [None if pd.isna(tag) else str(tag) for tag in frame["tag"]],
            "n_words": [len(text.split()) for text in texts],
            "prediction": [str(p) for p in predictions],
        }
    )


def measure_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    config: DriftConfig = DriftConfig(),
    html_path: Path | None = None,
) -> DriftResult:
    """Run the four tests; drift is confirmed when the required tests and enough others agree."""
    if len(current) < config.min_rows:
        return DriftResult(NOT_ENOUGH_DATA, len(reference), len(current), rule=config.rule)
    specs = drift_specs(config)
    if min(_labeled(reference), _labeled(current)) < config.min_rows:
        # Labels arrive after projects: the label test waits for them, the others need none.
        specs = [spec for spec in specs if spec[1] != "tag"]
    values = _evidently_values(reference, current, specs, html_path)
    tests = judge_tests(specs, values)
    return DriftResult(verdict(tests, config), len(reference), len(current), tests, config.rule)


def _labeled(profile: pd.DataFrame) -> int:
    return int(profile["tag"].notna().sum())


def drift_specs(config: DriftConfig) -> list[tuple[str, str, str, float]]:
    """(test name, column, Evidently method, threshold) of the four tests."""
    return [
        ("label_distribution", "tag", "chisquare", config.label_p_value),
        ("text_length", "n_words", "ks", config.length_p_value),
        ("text_content", "text", "abs_text_content_drift", config.content_auc),
        ("prediction_distribution", "prediction", "jensenshannon", config.prediction_distance),
    ]


def judge_tests(specs, values: list[float]) -> tuple[DriftTest, ...]:
    """Each statistic against its threshold: p-values drift below it, distances at or above."""
    return tuple(
        DriftTest(
            name,
            column,
            method,
            value,
            threshold,
            value < threshold if method in _P_VALUE_METHODS else value >= threshold,
        )
        for (name, column, method, threshold), value in zip(specs, values, strict=True)
    )


def verdict(tests: tuple[DriftTest, ...], config: DriftConfig) -> str:
    """Drift is confirmed when the required tests and enough tests in all have drifted."""
    drifted = {t.name for t in tests if t.drifted}
    confirmed = set(config.required_tests) <= drifted and len(drifted) >= config.min_drifted_tests
    return DRIFT if confirmed else NO_DRIFT


def _evidently_values(reference, current, specs, html_path: Path | None) -> list[float]:
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift

    definition = DataDefinition(
        text_columns=["text"],
        categorical_columns=["tag", "prediction"],
        numerical_columns=["n_words"],
    )
    columns = ["text", "tag", "n_words", "prediction"]
    report = Report(
        [
            ValueDrift(column=column, method=method, threshold=threshold)
            for _, column, method, threshold in specs
        ]
    )
    snapshot = report.run(
        current_data=Dataset.from_pandas(current[columns], data_definition=definition),
        reference_data=Dataset.from_pandas(reference[columns], data_definition=definition),
    )
    if html_path is not None:
        html_path.parent.mkdir(parents=True, exist_ok=True)
        snapshot.save_html(str(html_path))
    return [float(metric["value"]) for metric in snapshot.dict()["metrics"]]
