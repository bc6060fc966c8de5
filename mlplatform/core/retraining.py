"""When to train a challenger: one policy over drift, performance decay and data growth.

Each monitoring materialization is an event, handled once. A tick that sees new events checks
every rule, names the ones that fired with their numbers, and asks for at most one retraining,
at most once per cool-down. The promotion gate still decides whether the challenger is used.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

FIRST_TRAINING, DRIFT, DECAY, GROWTH = "first_training", "drift", "decay", "growth"
Verdict = tuple[str, str, bool]  # rule, what it saw, whether it fired


@dataclass(frozen=True)
class RetrainingConfig:
    """The retraining policy. A rule set to None (or False) never fires."""

    cooldown_seconds: float = 3600.0  # between triggers, in event time
    on_drift: bool = True
    # Decay: the champion's F1 on new rows is below its F1 on its own test rows by more than
    # this margin, across the whole bootstrap interval of the difference.
    decay_margin: float | None = 0.02
    confidence: float = 0.95
    # Growth: new labeled rows since the cutoff, as a share of the rows trained on. The learning
    # curve is still climbing at this data's size; half as much again is worth a challenger.
    growth_ratio: float | None = 0.5
    min_new_rows: int = 30  # fewer new rows decide neither decay nor growth
    # No champion yet: train by itself once this many labeled training rows exist.
    first_training_rows: int | None = 100


@dataclass(frozen=True)
class DriftEvent:
    """One stored drift_report: its storage id, event time (epoch seconds) and verdict."""

    storage_id: int
    timestamp: float
    drifted: bool
    status: str


@dataclass(frozen=True)
class PerformanceEvent:
    """One stored champion_performance: the champion on new rows, and the data it has not seen.

    `change_high` is the top of the interval of (new F1 - test F1); None without enough rows.
    """

    storage_id: int
    timestamp: float
    training_rows: int  # labeled rows outside the holdout ids, all of them
    trained_rows: int  # of those, the ones up to the champion's cutoff
    new_rows: int  # of those, the ones after it
    champion_version: str | None = None
    # Projects after the cutoff still waiting for a label: labels come later and only for some,
    # so decay and growth speak for the labeled rows only, and say so.
    waiting_rows: int = 0
    new_f1: float | None = None
    test_f1: float | None = None
    change_high: float | None = None

    def stored_fields(self) -> dict[str, Any]:
        """What champion_performance keeps in its metadata for the sensor to read back."""
        skipped = {"storage_id", "timestamp"}
        return {k: v for k, v in asdict(self).items() if k not in skipped and v is not None}

    @classmethod
    def from_stored(
        cls, storage_id: int, timestamp: float, stored: Mapping[str, Any]
    ) -> PerformanceEvent:
        known = {f.name for f in fields(cls)}
        return cls(storage_id, timestamp, **{k: v for k, v in stored.items() if k in known})


@dataclass(frozen=True)
class RetrainingCursor:
    """The last events handled and when a retraining was last triggered."""

    drift_storage_id: int = -1
    performance_storage_id: int = -1
    triggered_at: float | None = None
    # The run key of the last retraining requested, and how often it was asked for again after
    # failing before the gate decided (the key of attempt n is `<key>-retry<n>`).
    requested_run_key: str | None = None
    retries: int = 0

    @property
    def attempt_run_key(self) -> str | None:
        if self.requested_run_key is None or not self.retries:
            return self.requested_run_key
        return f"{self.requested_run_key}-retry{self.retries}"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | None) -> RetrainingCursor:
        """Unknown keys (a cursor of an older version of the sensor) are dropped."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in json.loads(text).items() if k in known}) if text else cls()


@dataclass(frozen=True)
class RetrainingDecision:
    retrain: bool
    reason: str
    cursor: RetrainingCursor
    rules: tuple[str, ...] = ()  # the rules that fired


def decide_retraining(
    drift: DriftEvent | None,
    performance: PerformanceEvent | None,
    cursor: RetrainingCursor,
    config: RetrainingConfig = RetrainingConfig(),
) -> RetrainingDecision:
    """Retrain when a rule fires on an event not yet handled, outside the cool-down."""
    new_drift = drift if drift and drift.storage_id > cursor.drift_storage_id else None
    new_performance = (
        performance
        if performance and performance.storage_id > cursor.performance_storage_id
        else None
    )
    if new_drift is None and new_performance is None:
        return RetrainingDecision(False, _nothing_new(drift, performance), cursor)
    handled = replace(
        cursor,
        drift_storage_id=drift.storage_id if drift else cursor.drift_storage_id,
        performance_storage_id=performance.storage_id
        if performance
        else cursor.performance_storage_id,
    )
    verdicts = [
        *([_drift_rule(new_drift, config)] if new_drift else []),
        *(performance_verdicts(new_performance, config) if new_performance else []),
    ]
    fired = [(rule, text) for rule, text, did_fire in verdicts if did_fire]
    if not fired:
        return RetrainingDecision(
            False, "no rule fired: " + "; ".join(t for _, t, _ in verdicts), handled
        )
    reason = "; ".join(text for _, text in fired)
    rules = tuple(rule for rule, _ in fired)
    now = max(e.timestamp for e in (new_drift, new_performance) if e is not None)
    if cursor.triggered_at is not None and now - cursor.triggered_at < config.cooldown_seconds:
        elapsed = now - cursor.triggered_at
        reason += (
            f"; but inside the retraining cool-down: {elapsed:.0f} s since the last trigger "
            f"< {config.cooldown_seconds:.0f} s"
        )
        return RetrainingDecision(False, reason, handled, rules)
    triggered = replace(handled, triggered_at=now)
    return RetrainingDecision(True, f"retraining requested: {reason}", triggered, rules)


def _nothing_new(drift: DriftEvent | None, performance: PerformanceEvent | None) -> str:
    if drift is None and performance is None:
        return "no drift_report or champion_performance yet"
    seen = [
        f"{name} {event.storage_id}"
        for name, event in (("drift_report", drift), ("champion_performance", performance))
        if event is not None
    ]
    return f"{' and '.join(seen)} already handled"


def _drift_rule(event: DriftEvent, config: RetrainingConfig) -> Verdict:
    if not event.drifted:
        return DRIFT, f"drift_report {event.storage_id}: {event.status}", False
    if not config.on_drift:
        return DRIFT, f"drift_report {event.storage_id} confirmed drift (drift rule off)", False
    return DRIFT, f"drift_report {event.storage_id} confirmed drift", True


def performance_verdicts(event: PerformanceEvent, config: RetrainingConfig) -> list[Verdict]:
    """What the first-training, decay and growth rules make of one champion_performance."""
    if event.champion_version is None:
        verdicts = [_first_training_rule(event, config)]
    else:
        verdicts = [_decay_rule(event, config), _growth_rule(event, config)]
    if not event.waiting_rows:
        return verdicts
    waiting = f" ({event.waiting_rows} newer projects wait for labels: not counted yet)"
    return [(rule, text + waiting, fired) for rule, text, fired in verdicts]


def _first_training_rule(event: PerformanceEvent, config: RetrainingConfig) -> Verdict:
    needed = config.first_training_rows
    if needed is None:
        return FIRST_TRAINING, "no champion, and the first training is left to people", False
    enough = event.training_rows >= needed
    sign = ">=" if enough else "<"
    return (
        FIRST_TRAINING,
        f"no champion yet: {event.training_rows} labeled training rows {sign} {needed}",
        enough,
    )


def _decay_rule(event: PerformanceEvent, config: RetrainingConfig) -> Verdict:
    margin = config.decay_margin
    if margin is None:
        return DECAY, "decay rule off", False
    if event.new_rows < config.min_new_rows:
        return DECAY, f"decay: {event.new_rows} new rows < {config.min_new_rows}", False
    if event.change_high is None:
        return DECAY, "decay: not measured (fewer than 2 test rows up to the cutoff)", False
    decayed = event.change_high < -margin
    seen = (
        f"v{event.champion_version} F1 {event.new_f1:.3f} on {event.new_rows} new rows vs "
        f"{event.test_f1:.3f} on its test rows; the {config.confidence:.0%} interval of the "
        f"change tops out at {event.change_high:+.3f}"
    )
    return (
        DECAY,
        f"decay confirmed: {seen} < -{margin}" if decayed else f"no decay: {seen}",
        decayed,
    )


def _growth_rule(event: PerformanceEvent, config: RetrainingConfig) -> Verdict:
    ratio = config.growth_ratio
    if ratio is None:
        return GROWTH, "growth rule off", False
    share = event.new_rows / event.trained_rows if event.trained_rows else float("inf")
    grown = event.new_rows >= config.min_new_rows and share >= ratio
    seen = (
        f"{event.new_rows} new labeled rows since v{event.champion_version}'s cutoff = "
        f"{share:.1%} of the {event.trained_rows} it was trained on"
    )
    if grown:
        return GROWTH, f"data grew: {seen} >= {ratio:.0%}", True
    return GROWTH, f"growth: {seen} (needs {ratio:.0%} and {config.min_new_rows} rows)", False
