"""Property-based ingestion: whatever bytes a source holds, a batch is published whole and valid,
or rejected with a message naming its file, and the stored tables stay as they were."""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import shutil
import tempfile
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterEventType, DagsterInstance
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mlplatform.resources.great_expectations import GreatExpectationsResource
from mlplatform.settings import GX_PROJECT_DIR, Settings
from mlplatform_tests.support.dataops import (
    materialize_dataops,
    materialized_keys,
    read_warehouse_table,
)
from mlplatform_tests.support.fixtures import make_projects_and_tags, write_source

RAW_TABLES = ["projects", "tags"]
PROJECT_COLUMNS = ["id", "created_on", "title", "description"]
TAG_COLUMNS = ["id", "tag"]
REAL_TAGS = ["computer-vision", "natural-language-processing", "mlops", "other"]

# Text a file may hold: quotes, delimiters, line breaks, markup, any script (no surrogates, which
# no encoding writes). A cell of only spaces, or none, reads as missing.
any_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
# A clean cell: no NUL byte (the "junk cell" fault brings those), not blank.
cell_text = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=30
).map(lambda text: text if text.strip() else f"{text}x")
junk = st.one_of(any_text, st.floats().map(str), st.integers(-(10**20), 10**20).map(str))
timestamp = st.datetimes(datetime(1990, 1, 1), datetime(2100, 1, 1)).map(
    lambda moment: moment.isoformat(sep=" ")
)
# How a message points at the fault: a line or row, a column (expectations name theirs in
# parentheses), or why there is no place (an empty file or batch).
WHERE = re.compile(r"line \d+|row \d+|column|\(\w+\)|no rows|No columns to parse")
# Each fault a file can have; a source draws none (a clean batch) or a few.
FAULTS = ["junk cell", "columns", "encoding", "truncated", "duplicate id"]


@st.composite
def csv_bytes(draw, rows: list[dict[str, str]], columns: list[str], faults: set[str]) -> bytes:
    """`rows` written with drawn quoting, line ending and encoding, and `faults` applied."""
    if "columns" in faults:
        columns = draw(st.permutations(columns))[: draw(st.integers(0, len(columns)))]
        columns = [*columns, *draw(st.lists(st.sampled_from(["extra", "id", ""]), max_size=1))]
    cells = [[row.get(column, "") for column in columns] for row in rows]
    if "junk cell" in faults and cells and columns:
        row, column = draw(st.integers(0, len(cells) - 1)), draw(st.integers(0, len(columns) - 1))
        cells[row][column] = draw(junk)
    if "duplicate id" in faults and len(cells) > 1 and "id" in columns:
        cells[-1][columns.index("id")] = cells[0][columns.index("id")]
    buffer = io.StringIO()
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]))
    line_end = draw(st.sampled_from(["\n", "\r\n"]))
    writer = csv.writer(buffer, quoting=quoting, lineterminator=line_end)
    writer.writerows([columns, *cells])
    encodings = ["latin-1", "utf-16", "cp1252"] if "encoding" in faults else ["utf-8", "utf-8-sig"]
    data = buffer.getvalue().encode(draw(st.sampled_from(encodings)), errors="replace")
    if "truncated" in faults:
        data = data[: draw(st.integers(0, len(data)))]  # an upload cut short
    return data


@st.composite
def sources(draw) -> tuple[bytes, bytes]:
    """projects.csv and tags.csv of one batch, with random text, sizes and faults."""
    size = draw(st.integers(0, 25))
    texts = draw(
        st.lists(st.tuples(cell_text, cell_text), min_size=size, max_size=size, unique=True)
    )
    projects = [
        {"id": str(index), "created_on": draw(timestamp), "title": title, "description": text}
        for index, (title, text) in enumerate(texts, start=1)
    ]
    tags = [{"id": project["id"], "tag": draw(st.sampled_from(REAL_TAGS))} for project in projects]
    faults = draw(st.lists(st.sampled_from(FAULTS), max_size=2).map(set))
    in_projects = draw(st.sets(st.sampled_from(sorted(faults)))) if faults else set()
    return (
        draw(csv_bytes(projects, PROJECT_COLUMNS, in_projects)),
        draw(csv_bytes(tags, TAG_COLUMNS, faults - in_projects)),
    )


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Settings:
    """A warehouse holding one good batch: every fuzzed batch starts from a copy of it."""
    root = tmp_path_factory.mktemp("baseline")
    source = write_source(root / "source", *make_projects_and_tags())
    settings = Settings.from_env({"MLPLATFORM_HOME": str(root), "MLPLATFORM_SOURCE": str(source)})
    assert materialize_dataops(settings, selection=RAW_TABLES).success
    return settings


@settings(
    max_examples=50,
    deadline=None,
    derandomize=True,  # the same examples on every machine: CI stays reproducible
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(source=sources())
def test_a_fuzzed_batch_is_published_valid_or_rejected_naming_its_file(
    baseline: Settings, source: tuple[bytes, bytes]
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        for table, data in zip(RAW_TABLES, source, strict=True):
            (directory / "source").mkdir(exist_ok=True)
            (directory / "source" / f"{table}.csv").write_bytes(data)
        settings = _copy_of(baseline, directory)
        before = {table: read_warehouse_table(settings, table) for table in RAW_TABLES}
        instance = DagsterInstance.ephemeral()

        result = materialize_dataops(settings, instance, selection=RAW_TABLES)

        published = materialized_keys(result)
        event("published" if published else "rejected")  # --hypothesis-show-statistics
        assert published in (set(), set(RAW_TABLES)), "a batch is published whole or not at all"
        if published:
            assert result.success
            _assert_valid(settings)
        else:
            assert not result.success
            messages = _failure_messages(instance, result.run_id)
            named = [m for m in messages if "projects.csv" in m or "tags.csv" in m]
            assert named, f"no message names the file: {messages}"
            # ... and where the fault has a place, says where: a line, a row or a column.
            assert all(WHERE.search(message) for message in named), named
            for table, frame in before.items():
                pd.testing.assert_frame_equal(read_warehouse_table(settings, table), frame)


def _copy_of(baseline: Settings, directory: Path) -> Settings:
    """Settings on a copy of the baseline warehouse, reading the source in `directory`."""
    database = directory / "warehouse.duckdb"
    shutil.copy(baseline.duckdb_path, database)
    return dataclasses.replace(
        baseline,
        home=directory,
        source=str(directory / "source"),
        duckdb_path=database,
        accept_shrink=True,  # fuzzed batches are small: the volume guard has its own tests
    )


def _assert_valid(settings: Settings) -> None:
    """What was published passes its suites as stored, read back from the warehouse."""
    gx = GreatExpectationsResource(project_dir=str(GX_PROJECT_DIR))
    for table in RAW_TABLES:
        outcome = gx.validate(read_warehouse_table(settings, table), table)
        assert outcome.success, outcome.summary()


def _failure_messages(instance: DagsterInstance, run_id: str) -> list[str]:
    """What the run's log shows a user: error lines, failed checks, and step errors."""
    messages = []
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is not None and event.is_step_failure:
            messages.append(event.step_failure_data.error.to_string())
        elif event is not None and event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.asset_check_evaluation_data
            if not evaluation.passed:
                messages.append(evaluation.description or "")
        elif entry.level >= 40:  # logging.ERROR
            messages.append(entry.user_message)
    return messages
