"""When drift asks for retraining: once per drift event, at most once per cool-down."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class DriftEvent:
    """One stored drift_report: its storage id, event time (epoch seconds) and verdict."""

    storage_id: int
    timestamp: float
    drifted: bool
    status: str


@dataclass(frozen=True)
class RetrainingCursor:
    """The last drift_report handled and when drift last triggered a retraining."""

    storage_id: int = -1
    triggered_at: float | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | None) -> RetrainingCursor:
        return cls(**json.loads(text)) if text else cls()


@dataclass(frozen=True)
class RetrainingDecision:
    retrain: bool
    reason: str
    cursor: RetrainingCursor


def decide_retraining(
    event: DriftEvent, cursor: RetrainingCursor, cooldown_seconds: float
) -> RetrainingDecision:
    """Retrain on a new drift event unless the last trigger is within the cool-down.

    The cool-down is measured between event times, never against the clock of the tick, and
    a no-drift report in between keeps the last trigger time.
    """
    if event.storage_id <= cursor.storage_id:
        return RetrainingDecision(False, f"drift_report {event.storage_id} already handled", cursor)
    handled = RetrainingCursor(event.storage_id, cursor.triggered_at)
    if not event.drifted:
        return RetrainingDecision(False, f"latest drift_report: {event.status}", handled)
    if cursor.triggered_at is not None:
        elapsed = event.timestamp - cursor.triggered_at
        if elapsed < cooldown_seconds:
            reason = (
                f"drift confirmed, but inside the retraining cool-down: {elapsed:.0f} s since "
                f"the last trigger < {cooldown_seconds:.0f} s"
            )
            return RetrainingDecision(False, reason, handled)
    reason = f"drift_report {event.storage_id} confirmed drift: retraining requested"
    return RetrainingDecision(True, reason, RetrainingCursor(event.storage_id, event.timestamp))
