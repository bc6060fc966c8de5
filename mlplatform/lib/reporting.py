"""Human-readable views of evaluations: markdown tables; confusion-matrix, drift and
performance figures."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from mlplatform.core.drift import DriftResult
from mlplatform.core.performance import PerformanceEstimate, PeriodScore
from mlplatform.core.scores import ConfusionMatrix, TaggerScores
from mlplatform.core.training import TrainingOutcome


def _f(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


@dataclass(frozen=True)
class ComparisonRow:
    """One score of the challenger beside the champion's (None where it has none)."""

    metric: str
    rows: int
    challenger: float | None
    champion: float | None

    @property
    def change(self) -> float | None:
        if self.challenger is None or self.champion is None:
            return None
        return self.challenger - self.champion


def comparison_rows(
    challenger: TaggerScores, champion: TaggerScores | None
) -> tuple[ComparisonRow, ...]:
    """Overall, precision-mode, per-class and per-slice scores; slices without rows left out."""
    rows = [
        ComparisonRow(
            f"weighted {key}",
            challenger.overall.rows,
            getattr(challenger.overall, key),
            getattr(champion.overall, key) if champion else None,
        )
        for key in ("f1", "precision", "recall")
    ]
    rows.append(
        ComparisonRow(
            "precision-mode precision",
            challenger.precision_mode.rows,
            challenger.precision_mode.precision,
            champion.precision_mode.precision if champion else None,
        )
    )
    for label, scores in challenger.overall.per_class.items():
        old = champion and champion.overall.per_class.get(label)
        rows.append(
            ComparisonRow(f"F1 class {label}", scores.support, scores.f1, old.f1 if old else None)
        )
    for name, scores in challenger.slices.items():
        if scores.rows:
            old = champion and champion.slices.get(name)
            rows.append(
                ComparisonRow(f"F1 slice {name}", scores.rows, scores.f1, old.f1 if old else None)
            )
    return tuple(rows)


def empty_slices(scores: TaggerScores) -> list[str]:
    return [name for name, slice_scores in scores.slices.items() if not slice_scores.rows]


def comparison_markdown(
    challenger: TaggerScores,
    champion: TaggerScores | None,
    challenger_name: str,
    champion_name: str | None,
) -> str:
    """`comparison_rows` as a markdown table; with no champion, the challenger's column only."""
    header = ["metric", "n", challenger_name]
    header += [champion_name or "champion", "change"] if champion else []
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for row in comparison_rows(challenger, champion):
        cells = [row.metric, str(row.rows), _f(row.challenger)]
        if champion:
            change = row.change
            cells += [_f(row.champion), "n/a" if change is None else f"{change:+.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    if empty := empty_slices(challenger):
        lines.append(f"\nSlices with no held-out rows: {', '.join(empty)}.")
    return "\n".join(lines)


def confusion_matrix_figure(confusion: ConfusionMatrix):
    """A matplotlib figure of a confusion matrix (counts), for MLflow."""
    from matplotlib.figure import Figure  # no pyplot: nothing global keeps figures alive

    labels, matrix = confusion.labels, confusion.matrix
    figure = Figure(figsize=(6, 5))
    axes = figure.subplots()
    axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            axes.text(j, i, str(count), ha="center", va="center")
    figure.tight_layout()
    return figure


def training_record(outcome: TrainingOutcome) -> dict[str, Any]:
    """Params, metrics and artifacts of a training outcome, ready for a tracking server."""
    scored = outcome.test.overall if outcome.test else outcome.validation
    metrics = {
        "cv_f1_weighted_chosen": outcome.tuning.chosen_value,
        "cv_f1_weighted_best": outcome.tuning.best_value,
        "validation_f1_weighted": outcome.validation.f1,
        "test_f1_weighted": outcome.test.overall.f1 if outcome.test else None,
        "test_precision_mode_precision": (
            outcome.test.precision_mode.precision if outcome.test else None
        ),
        "precision_threshold": outcome.tagger.threshold,
        "tuning_seconds": outcome.tuning_seconds,
        "fit_seconds": outcome.fit_seconds,
        "trials": len(outcome.tuning.trials),
        "trials_pruned": sum(t.state == "PRUNED" for t in outcome.tuning.trials),
    }
    params = {f"chosen.{k}": v for k, v in outcome.tuning.chosen_params.items()}
    params.update(
        {
            "study_name": outcome.tuning.study_name,
            "validation_folds": outcome.tuning.folds,
            "kept_default": outcome.tuning.kept_default,
            **{f"rows.{k}": v for k, v in outcome.rows.items()},
        }
    )
    artifacts = {
        "confusion_matrix.png": confusion_matrix_figure(scored.confusion),
        "per_class_report.json": {k: asdict(v) for k, v in scored.per_class.items()},
        "evaluation.json": {
            "validation": asdict(outcome.validation),
            "test": asdict(outcome.test) if outcome.test else None,
        },
    }
    return {"params": params, "metrics": metrics, "artifacts": artifacts}


def drift_figure(result: DriftResult):
    """Each test's statistic against its threshold, as a bar chart."""
    from matplotlib.figure import Figure  # no pyplot: nothing global keeps figures alive

    figure = Figure(figsize=(7, 3))
    axes = figure.subplots()
    names = [t.name for t in result.tests]
    axes.barh(
        names,
        [t.statistic for t in result.tests],
        color=["tab:red" if t.drifted else "tab:green" for t in result.tests],
    )
    axes.scatter(
        [t.threshold for t in result.tests],
        names,
        marker="|",
        s=400,
        color="black",
        label="threshold",
    )
    axes.set_title(f"{result.status}: {result.new_rows} new vs {result.reference_rows} reference")
    axes.legend(loc="lower right")
    figure.tight_layout()
    return figure


def performance_figure(
    months: list[PeriodScore], estimate: PerformanceEstimate, decay_margin: float | None
):
    """The champion's F1 per month of new rows, with intervals, against its own test F1."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 3))
    axes = figure.subplots()
    values = [m.f1.value for m in months]
    axes.errorbar(
        [m.period for m in months],
        values,
        yerr=[
            [m.f1.value - m.f1.low for m in months],
            [m.f1.high - m.f1.value for m in months],
        ],
        fmt="o",
        capsize=4,
        label="F1 on new rows, by month of arrival",
    )
    if estimate.test_f1 is not None:
        test = estimate.test_f1
        axes.axhspan(test.low, test.high, color="tab:green", alpha=0.15)
        axes.axhline(test.value, color="tab:green", label=f"F1 on its test rows ({test.value:.3f})")
        if decay_margin is not None:
            axes.axhline(
                test.value - decay_margin, color="tab:red", linestyle="--", label="decay margin"
            )
    axes.set_ylim(0, 1.05)
    axes.set_ylabel("weighted F1")
    axes.set_title(f"{estimate.new_rows} new rows vs {estimate.test_rows} test rows")
    axes.legend(loc="lower left", fontsize="small")
    figure.tight_layout()
    return figure
