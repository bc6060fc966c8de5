"""Volume guard: a batch much smaller than the table it would replace is refused."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VolumeConfig:
    # A batch may hold at most this fraction fewer rows than the stored table.
    max_drop_fraction: float = 0.5
    accept_shrink: bool = False  # someone has said a larger drop is deliberate


@dataclass(frozen=True)
class VolumeVerdict:
    table: str
    rows: int
    stored_rows: int | None
    passed: bool
    reason: str

    @property
    def drop_fraction(self) -> float | None:
        return _drop_fraction(self.rows, self.stored_rows) if self.stored_rows else None


def check_volume(
    table: str,
    rows: int,
    stored_rows: int | None,
    config: VolumeConfig = VolumeConfig(),
    may_arrive_later: bool = False,
) -> VolumeVerdict:
    """An empty batch never passes, except for rows that `may_arrive_later` (labels come after
    their projects) where nothing is stored: it then replaces nothing. A shrink beyond the limit
    passes only when accepted."""
    kept = f"the stored table ({stored_rows} rows) is kept" if stored_rows else "nothing is stored"
    if rows == 0 and may_arrive_later and not stored_rows:
        reason = f"{table}: no rows yet (they arrive later); nothing was stored, nothing is lost"
        return VolumeVerdict(table, rows, stored_rows, True, reason)
    if rows == 0:
        return VolumeVerdict(
            table, rows, stored_rows, False, f"{table}: the batch has no rows; {kept}"
        )
    if not stored_rows:
        return VolumeVerdict(table, rows, stored_rows, True, f"{table}: {rows} rows, first load")
    drop = _drop_fraction(rows, stored_rows)
    summary = f"{table}: {rows} rows, {drop:.0%} fewer than the {stored_rows} stored"
    if drop <= config.max_drop_fraction:
        return VolumeVerdict(table, rows, stored_rows, True, summary)
    if config.accept_shrink:
        return VolumeVerdict(table, rows, stored_rows, True, f"{summary} (shrink accepted)")
    reason = f"{summary}, beyond the limit of {config.max_drop_fraction:.0%}; {kept}"
    return VolumeVerdict(table, rows, stored_rows, False, reason)


def _drop_fraction(rows: int, stored_rows: int) -> float:
    return max(0.0, 1 - rows / stored_rows)
