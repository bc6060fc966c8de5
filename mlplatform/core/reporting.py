"""Human-readable views of evaluations: markdown tables, a confusion-matrix figure."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from mlplatform.core.scores import ConfusionMatrix, TaggerScores
from mlplatform.core.training import TrainingOutcome


def _f(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _change(new: float | None, old: float | None) -> str:
    return "n/a" if new is None or old is None else f"{new - old:+.3f}"


def comparison_markdown(
    challenger: TaggerScores,
    champion: TaggerScores | None,
    challenger_name: str,
    champion_name: str | None,
) -> str:
    """Challenger and champion side by side: overall, per class, per slice (F1).

    With no champion the table has the challenger's column only; slices without rows are left
    out (their count is said below the table).
    """
    header = [challenger_name] + ([champion_name or "champion", "change"] if champion else [])
    lines = ["| metric | " + " | ".join(header) + " |", "|---" * (len(header) + 1) + "|"]

    def row(label: str, new: float | None, old: float | None) -> None:
        cells = [_f(new)] + ([_f(old), _change(new, old)] if champion else [])
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    for key in ("f1", "precision", "recall"):
        old = getattr(champion.overall, key) if champion else None
        row(f"weighted {key}", getattr(challenger.overall, key), old)
    row(
        "precision-mode precision",
        challenger.precision_mode.precision,
        champion.precision_mode.precision if champion else None,
    )
    for label, scores in challenger.overall.per_class.items():
        old = champion and champion.overall.per_class.get(label)
        row(f"F1 class `{label}` (n={scores.support})", scores.f1, old.f1 if old else None)
    empty = [name for name, scores in challenger.slices.items() if not scores.rows]
    for name, scores in challenger.slices.items():
        if scores.rows:
            old = champion and champion.slices.get(name)
            row(f"F1 slice `{name}` (n={scores.rows})", scores.f1, old.f1 if old else None)
    if empty:
        lines.append(f"\nSlices with no held-out rows: {', '.join(f'`{n}`' for n in empty)}.")
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
    params = {f"best.{k}": v for k, v in outcome.tuning.best_params.items()}
    params.update(
        {
            "study_name": outcome.tuning.study_name,
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
