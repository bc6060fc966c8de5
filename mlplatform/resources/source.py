"""The built-in source loader: Made With ML CSV files under one location."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pandas as pd
from dagster import ConfigurableResource
from pydantic import Field

from mlplatform.core.partitions import (
    CreationWindow,
    monthly_fingerprints,
    outside_every_month,
    projects_in,
    tags_of,
)
from mlplatform.core.sources import (
    DEFAULT_SOURCE,
    PROJECTS,
    RAW_TABLES,
    TAGS,
    SourceFormatError,
    file_fingerprint,
    labels_known_at,
    parse_as_of,
    read_table,
    shown,
    table_uri,
    tags_visible_as_of,
    visible_as_of,
)


@dataclass(frozen=True)
class SourceBatch:
    frames: dict[str, pd.DataFrame]  # by raw table name
    unplaced_rows: int  # projects created outside every partition


class MadeWithMLSource(ConfigurableResource):
    """Reads `projects.csv` and `tags.csv` from an http(s) prefix, a directory or an fsspec URI."""

    location: str = Field(default=DEFAULT_SOURCE, description="Base location of the CSV files.")
    as_of: str | None = Field(
        default=None, description="Hide rows created after this timestamp (replays arrival)."
    )

    def uri(self, table: str) -> str:
        return table_uri(self.location, RAW_TABLES[table])

    def read_projects(self) -> pd.DataFrame:
        return visible_as_of(read_table(self.location, PROJECTS), parse_as_of(self.as_of))

    def read_tags(self) -> pd.DataFrame:
        as_of = parse_as_of(self.as_of)
        tags = labels_known_at(read_table(self.location, TAGS), as_of, shown(self.uri(TAGS.name)))
        if as_of is None:
            return tags
        return tags_visible_as_of(tags, self.read_projects())

    def read_batch(
        self, window: CreationWindow | None, every_month: CreationWindow | None = None
    ) -> SourceBatch:
        """The projects created in `window` and their tags (everything when it is None), and
        how many projects of the files fall outside `every_month` (no partition holds them)."""
        everything = self.read_projects()
        projects = projects_in(everything, window)
        return SourceBatch(
            {PROJECTS.name: projects, TAGS.name: tags_of(self.read_tags(), projects)},
            outside_every_month(everything, every_month) if every_month else 0,
        )

    def monthly_fingerprints(self) -> dict[str, str]:
        """A content hash per month of the rows it would read."""
        projects, tags = self.read_projects(), self.read_tags()
        for table, frame, needed in (
            (PROJECTS, projects, {"id", "created_on"}),
            (TAGS, tags, {"id"}),
        ):
            if missing := needed - set(frame.columns):
                raise SourceFormatError(
                    f"{shown(self.uri(table.name))}: no column {', '.join(sorted(missing))}: its "
                    "rows cannot be placed in months"
                )
        return monthly_fingerprints(projects, tags)

    def fingerprint(self) -> str:
        """Changes when the data a run would read changes (files, or rows visible as of)."""
        parts = [file_fingerprint(self.uri(table)) for table in RAW_TABLES]
        if parse_as_of(self.as_of) is not None:  # a label arriving changes no file
            visible = self.read_projects()
            parts += [str(len(visible)), str(visible["created_on"].max())]
            parts.append(str(len(self.read_tags())))
        return hashlib.sha256("|".join(parts).encode()).hexdigest()
