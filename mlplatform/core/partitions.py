"""Monthly partitions of the data: which rows a month holds, and a fingerprint per month.

A month holds the projects created in it (UTC, start inclusive, end exclusive: a project
created at 00:00 on the 1st belongs to the new month) and the tags of those projects (a tag
carries no time of its own). Months are named by their first day, as Dagster's
`MonthlyPartitionsDefinition` names its keys: `2020-03-01`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

# The column that places a row in a month; tables without it follow their project's month.
PARTITION_COLUMN = "created_on"
# The first month of the shipped data; MLPLATFORM_PARTITIONS_START moves it.
DEFAULT_FIRST_MONTH = "2020-02-01"
MONTH_KEY_FORMAT = "%Y-%m-%d"
EARLIEST = pd.Timestamp("1900-01-01")  # before any row: "from the beginning"
# A model trained on a rolling window records its first month under this tag.
TRAINING_WINDOW_START_TAG = "training_window_start"


@dataclass(frozen=True)
class CreationWindow:
    """The rows created in `[start, end)`: one month, or a run's range of months."""

    start: pd.Timestamp
    end: pd.Timestamp

    @classmethod
    def of(cls, start, end) -> CreationWindow:
        """Naive UTC bounds from any timestamps (Dagster's windows are timezone-aware)."""
        return cls(_naive_utc(start), _naive_utc(end))

    @classmethod
    def until(cls, moment) -> CreationWindow:
        """The rows created at or before `moment`."""
        return cls.of(EARLIEST, _naive_utc(moment) + pd.Timedelta(microseconds=1))

    @classmethod
    def after(cls, moment, end) -> CreationWindow:
        """The rows created after `moment` and before `end`."""
        return cls.of(_naive_utc(moment) + pd.Timedelta(microseconds=1), end)

    def contains(self, created_on: pd.Series) -> pd.Series:
        created = pd.to_datetime(created_on, format="ISO8601")
        return (created >= self.start) & (created < self.end)

    def __str__(self) -> str:
        return f"[{self.start:%Y-%m-%d %H:%M}, {self.end:%Y-%m-%d %H:%M})"


def _naive_utc(value) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp


def month_key(created_on: pd.Series) -> pd.Series:
    """The partition key of each timestamp: the first day of its month."""
    return (
        pd.to_datetime(created_on, format="ISO8601")
        .dt.to_period("M")
        .dt.start_time.dt.strftime(MONTH_KEY_FORMAT)
    )


FIRST_DAY_EXPECTED = "expected the first day of a month, e.g. 2020-02-01"


def parse_first_month(value: str, name: str) -> str:
    """A month's first day as `YYYY-MM-01`; anything else is an error naming the variable."""
    try:
        stamp = pd.Timestamp(value)
    except ValueError as error:
        raise ValueError(f"{name}={value!r}: {FIRST_DAY_EXPECTED}") from error
    if stamp.day != 1 or stamp != stamp.normalize():
        raise ValueError(f"{name}={value!r}: {FIRST_DAY_EXPECTED}")
    return stamp.strftime(MONTH_KEY_FORMAT)


def projects_in(projects: pd.DataFrame, window: CreationWindow | None) -> pd.DataFrame:
    """The projects created in `window` (every project when it is None), and the rows the
    window's audit must see although they belong to no other month: rows without a creation
    time, and rows sharing an id with a row of the window (an id is unique across months, or the
    month is refused). A frame without the columns to place its rows is returned whole, for its
    suite to refuse."""
    if window is None or not {"id", PARTITION_COLUMN} <= set(projects.columns):
        return projects
    created = projects[PARTITION_COLUMN]
    inside = window.contains(created) | created.isna()
    ids = projects["id"]
    shared = ids.isin(ids[inside]) & ids.duplicated(keep=False) & ids.notna()
    return projects[inside | shared].reset_index(drop=True)


def tags_of(tags: pd.DataFrame, projects: pd.DataFrame) -> pd.DataFrame:
    """The tags of `projects`: a tag belongs to its project's month (a frame without ids is
    returned whole, for its suite to refuse)."""
    if "id" not in tags.columns or "id" not in projects.columns:
        return tags
    return tags[tags["id"].isin(projects["id"])].reset_index(drop=True)


def outside_every_month(projects: pd.DataFrame, every_month: CreationWindow) -> int:
    """Rows created outside `every_month` (from the first month's start to the current month's
    end): no partition holds them."""
    if PARTITION_COLUMN not in projects.columns:
        return 0
    created = projects[PARTITION_COLUMN]
    return int((~every_month.contains(created) & created.notna()).sum())


def monthly_fingerprints(projects: pd.DataFrame, tags: pd.DataFrame) -> dict[str, str]:
    """A content hash per month of the rows it holds (projects and their tags), so a sensor can
    tell which months changed. Row order does not matter."""
    months = month_key(projects[PARTITION_COLUMN])
    tag_of = tags.drop_duplicates("id").set_index("id")["tag"]
    fingerprints = {}
    for key, rows in projects.groupby(months, sort=True):
        rows = rows.sort_values("id")
        hashed = pd.util.hash_pandas_object(
            rows.assign(tag=rows["id"].map(tag_of)), index=False
        ).to_numpy()
        fingerprints[str(key)] = hashlib.sha256(hashed.tobytes()).hexdigest()
    return fingerprints


def changed_months(fingerprints: Mapping[str, str], stored: Mapping[str, str]) -> list[str]:
    """Months whose rows differ from `stored`: new months, changed months, and months that
    lost every row (their stored rows must be replaced too)."""
    keys = set(fingerprints) | set(stored)
    return sorted(key for key in keys if fingerprints.get(key) != stored.get(key))


def newest_months(frame: pd.DataFrame, months: int | None) -> tuple[pd.DataFrame, str | None]:
    """The rows created in the last `months` calendar months, up to the newest row's month
    (every row when `months` is None), and the window's first month (None: no window)."""
    if not months or frame.empty:
        return frame, None
    created = pd.to_datetime(frame[PARTITION_COLUMN], format="ISO8601")
    first = created.max().to_period("M") - (months - 1)
    start = first.start_time
    return frame[created >= start].reset_index(drop=True), start.strftime(MONTH_KEY_FORMAT)
