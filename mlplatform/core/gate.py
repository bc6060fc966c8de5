"""The promotion gate: does a challenger deserve to replace the champion?"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class GateConfig:
    f1_tolerance: float = 0.01  # overall weighted F1 may drop by at most this much
    collapse_tolerance: float = 0.15  # a class or slice F1 may drop by at most this much
    min_f1: float = 0.5  # a first model needs at least this weighted F1
    min_slice_rows: int = 5  # smaller slices are reported but do not decide


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reasons: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return "improved" if self.promote else "regression"


def decide(
    challenger: dict[str, Any], champion: dict[str, Any] | None, config: GateConfig = GateConfig()
) -> GateDecision:
    """Compare evaluations (as produced by `score_tagger`) on the same held-out rows."""
    f1 = challenger["overall"]["f1"]
    if champion is None:
        if f1 >= config.min_f1:
            return GateDecision(True, [f"first model: weighted F1 {f1:.3f} >= {config.min_f1}"])
        return GateDecision(False, [f"first model: weighted F1 {f1:.3f} < {config.min_f1}"])

    reasons = []
    champion_f1 = champion["overall"]["f1"]
    if f1 < champion_f1 - config.f1_tolerance:
        reasons.append(
            f"weighted F1 {f1:.3f} is worse than the champion's {champion_f1:.3f} "
            f"by more than {config.f1_tolerance}"
        )
    for label, scores in champion["overall"]["per_class"].items():
        new = challenger["overall"]["per_class"].get(label, {"f1": 0.0})["f1"]
        if scores["support"] and new < scores["f1"] - config.collapse_tolerance:
            reasons.append(f"class {label!r} collapsed: F1 {scores['f1']:.3f} -> {new:.3f}")
    for name, scores in champion["slices"].items():
        new = challenger["slices"].get(name, {}).get("f1")
        if scores["rows"] < config.min_slice_rows or scores["f1"] is None or new is None:
            continue
        if new < scores["f1"] - config.collapse_tolerance:
            reasons.append(f"slice {name!r} collapsed: F1 {scores['f1']:.3f} -> {new:.3f}")
    if reasons:
        return GateDecision(False, reasons)
    return GateDecision(True, [f"weighted F1 {f1:.3f} vs champion {champion_f1:.3f}; no collapse"])
