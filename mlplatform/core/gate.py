"""The promotion gate: does a challenger deserve to replace the champion?"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlplatform.core.scores import ClassScores, TaggerScores


@dataclass(frozen=True)
class GateConfig:
    f1_tolerance: float = 0.01  # overall weighted F1 may drop by at most this much
    collapse_tolerance: float = 0.15  # a class or slice F1 may drop by at most this much
    min_f1: float = 0.5  # a first model needs at least this weighted F1
    min_slice_rows: int = 5  # smaller slices are reported but do not decide


# Verdicts: what the gate compared and what it found.
FIRST_MODEL, BELOW_MINIMUM = "first_model", "below_minimum"
IMPROVED, WITHIN_TOLERANCE, REGRESSION = "improved", "within_tolerance", "regression"


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    verdict: str
    reasons: tuple[str, ...] = field(default_factory=tuple)


# A class the challenger never predicts or sees scores 0.
_ABSENT_CLASS = ClassScores(0.0, 0.0, 0.0, 0)


def decide(
    challenger: TaggerScores, champion: TaggerScores | None, config: GateConfig = GateConfig()
) -> GateDecision:
    """Compare evaluations (as produced by `score_tagger`) on the same held-out rows."""
    f1 = challenger.overall.f1
    if champion is None:
        if f1 >= config.min_f1:
            reason = f"no champion to compare with: weighted F1 {f1:.3f} >= minimum {config.min_f1}"
            return GateDecision(True, FIRST_MODEL, (reason,))
        reason = f"no champion to compare with: weighted F1 {f1:.3f} < minimum {config.min_f1}"
        return GateDecision(False, BELOW_MINIMUM, (reason,))

    reasons = []
    champion_f1 = champion.overall.f1
    if f1 < champion_f1 - config.f1_tolerance:
        reasons.append(
            f"weighted F1 {f1:.3f} is worse than the champion's {champion_f1:.3f} "
            f"by more than {config.f1_tolerance}"
        )
    for label, scores in champion.overall.per_class.items():
        new = challenger.overall.per_class.get(label, _ABSENT_CLASS).f1
        if scores.support and new < scores.f1 - config.collapse_tolerance:
            reasons.append(f"class {label!r} collapsed: F1 {scores.f1:.3f} -> {new:.3f}")
    for name, scores in champion.slices.items():
        new_slice = challenger.slices.get(name)
        new = new_slice.f1 if new_slice else None
        if scores.rows < config.min_slice_rows or scores.f1 is None or new is None:
            continue
        if new < scores.f1 - config.collapse_tolerance:
            reasons.append(f"slice {name!r} collapsed: F1 {scores.f1:.3f} -> {new:.3f}")
    if reasons:
        return GateDecision(False, REGRESSION, tuple(reasons))
    verdict = IMPROVED if f1 > champion_f1 else WITHIN_TOLERANCE
    reason = f"weighted F1 {f1:.3f} vs champion {champion_f1:.3f}; no class or slice collapsed"
    return GateDecision(True, verdict, (reason,))


@dataclass(frozen=True)
class ModelEvaluation:
    """A challenger and the champion scored on the same held-out rows, and the verdict."""

    challenger_version: str
    champion_version: str | None
    challenger: TaggerScores
    champion: TaggerScores | None
    decision: GateDecision
