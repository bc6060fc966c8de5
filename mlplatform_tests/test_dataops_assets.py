import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from dagster import AssetCheckSeverity, DagsterEventType, DagsterInstance

from mlplatform.definitions import build_definitions
from mlplatform.resources import build_warehouse
from mlplatform_tests.support.dataops import (
    DATAOPS,
    check_evaluations,
    materialize_dataops,
    materialize_selection,
    materialized_keys,
    read_warehouse_table,
)
from mlplatform_tests.support.fixtures import make_projects_and_tags, write_source
from mlplatform_tests.support.standins.http_source import serve_directory

RAW_TABLES = ["projects", "tags"]  # one batch: selected together
ALL_CHECKS = {
    "projects:gx_suite",
    "projects:row_volume",
    "tags:gx_suite",
    "tags:row_volume",
    "labeled_projects:gx_suite",
    "labeled_projects:unique_labeled_projects_id",
    "labeled_projects:not_null_labeled_projects_id",
    "labeled_projects:not_null_labeled_projects_title",
    "labeled_projects:not_null_labeled_projects_description",
    "labeled_projects:not_null_labeled_projects_tag",
    "labeled_projects:not_blank_labeled_projects_tag",
}


@pytest.fixture(scope="module")
def good_warehouse(tmp_path_factory) -> tuple[Path, Path]:
    """One good run whose DuckDB file the bad-data tests start from."""
    from mlplatform.settings import Settings

    root = tmp_path_factory.mktemp("good")
    source = write_source(root / "source", *make_projects_and_tags())
    settings = Settings.from_env(
        {"MLPLATFORM_HOME": str(root / "home"), "MLPLATFORM_SOURCE": str(source)}
    )
    result = materialize_dataops(settings)
    assert result.success
    return settings.duckdb_path, source


def test_graph_materializes_with_every_check_passing(good_warehouse, settings_for) -> None:
    database, source = good_warehouse
    settings = settings_for(source, duckdb_path=database)
    labeled = read_warehouse_table(settings, "labeled_projects")
    assert len(labeled) == 40
    assert list(labeled.columns) == ["id", "created_on", "title", "description", "tag"]
    assert labeled["tag"].notna().all()


def test_materialization_metadata_shows_rows_schema_and_preview(settings_for, source_dir) -> None:
    result = materialize_dataops(settings_for(source_dir))
    assert result.success
    evaluations = check_evaluations(result)
    assert set(evaluations) == ALL_CHECKS
    assert all(e.passed for e in evaluations.values())
    columns = {
        "projects": ["id", "created_on", "title", "description"],
        "tags": ["id", "tag"],
        "labeled_projects": ["id", "created_on", "title", "description", "tag"],
    }
    for event in result.get_asset_materialization_events():
        metadata = event.materialization.metadata
        schema = metadata["dagster/column_schema"].schema
        assert metadata["dagster/row_count"].value == 40
        assert [c.name for c in schema.columns] == columns[event.asset_key.to_user_string()]
        preview = metadata["preview"]
        assert [c.name for c in preview.schema.columns] == columns[event.asset_key.path[-1]]
        assert len(preview.records) == 5


def _duplicate_id(projects: pd.DataFrame, tags: pd.DataFrame):
    projects.loc[5, "id"] = projects.loc[4, "id"]
    return projects, tags.drop(index=5)


def _null_title(projects: pd.DataFrame, tags: pd.DataFrame):
    projects.loc[7, "title"] = None
    return projects, tags


def _leaked_title_and_description(projects: pd.DataFrame, tags: pd.DataFrame):
    projects.loc[9, ["title", "description"]] = projects.loc[2, ["title", "description"]].values
    return projects, tags


def _missing_tag_column(projects: pd.DataFrame, tags: pd.DataFrame):
    return projects, tags.drop(columns="tag")


@pytest.mark.parametrize(
    ("corrupt", "failing_check", "expectation", "column"),
    [
        (_duplicate_id, "projects:gx_suite", "expect_column_values_to_be_unique", "id"),
        (_null_title, "projects:gx_suite", "expect_column_values_to_not_be_null", "title"),
        (
            _leaked_title_and_description,
            "projects:gx_suite",
            "expect_compound_columns_to_be_unique",
            "title, description",
        ),
        (
            _missing_tag_column,
            "tags:gx_suite",
            "expect_table_columns_to_match_ordered_list",
            "(table)",
        ),
    ],
    ids=["duplicate_id", "null_title", "leaked_title_description", "missing_column"],
)
def test_failed_check_blocks_downstream_and_keeps_stored_data(
    good_warehouse, settings_for, tmp_path, corrupt, failing_check, expectation, column
) -> None:
    good_database, _ = good_warehouse
    settings = settings_for(write_source(tmp_path / "bad", *corrupt(*make_projects_and_tags())))
    settings.duckdb_path.parent.mkdir(parents=True)
    shutil.copy(good_database, settings.duckdb_path)
    # A batch is published whole or not at all: the other raw table is kept as well.
    protected = ("projects", "tags", "labeled_projects")
    stored_before = {table: read_warehouse_table(settings, table) for table in protected}

    result = materialize_dataops(settings)

    assert not result.success
    evaluation = check_evaluations(result)[failing_check]
    assert not evaluation.passed
    failures = evaluation.metadata["failed_expectations"].value
    failure = next(f for f in failures if f["expectation"] == expectation)
    assert failure["column"] == column
    assert failure["sample"] or failure["observed"]
    assert "labeled_projects" not in materialized_keys(result)
    started = {e.step_key for e in result.all_events if e.event_type == DagsterEventType.STEP_START}
    assert not started & {"madewithml_dbt_models", "labeled_projects_gx_suite"}
    for table, before in stored_before.items():
        pd.testing.assert_frame_equal(read_warehouse_table(settings, table), before)


def _stored(settings) -> dict[str, pd.DataFrame]:
    return {t: read_warehouse_table(settings, t) for t in ("projects", "tags", "labeled_projects")}


def _on_good_warehouse(good_warehouse, settings):
    settings.duckdb_path.parent.mkdir(parents=True)
    shutil.copy(good_warehouse[0], settings.duckdb_path)
    return settings


def test_empty_batch_is_refused_and_nothing_stored_changes(
    good_warehouse, settings_for, tmp_path
) -> None:
    projects, tags = make_projects_and_tags()
    source = write_source(tmp_path / "empty", projects[:0], tags[:0])
    settings = _on_good_warehouse(good_warehouse, settings_for(source, accept_shrink=True))
    before = _stored(settings)

    result = materialize_dataops(settings)

    assert not result.success
    verdict = check_evaluations(result)["projects:row_volume"]
    assert not verdict.passed
    assert (
        verdict.description == "projects: the batch has no rows; the stored table (40 rows) is kept"
    )
    assert not materialized_keys(result)
    for table, frame in _stored(settings).items():
        pd.testing.assert_frame_equal(frame, before[table])


@pytest.mark.parametrize(("rows", "accept_shrink"), [(20, False), (19, False), (10, True)])
def test_a_shrinking_batch_needs_to_be_accepted(
    good_warehouse, settings_for, tmp_path, rows, accept_shrink
) -> None:
    """The default limit is a 50 % drop: 20 of 40 rows pass, 19 do not unless accepted."""
    projects, tags = make_projects_and_tags()
    source = write_source(tmp_path / "small", projects[:rows], tags[:rows])
    settings = _on_good_warehouse(good_warehouse, settings_for(source, accept_shrink=accept_shrink))
    before = _stored(settings)

    # The guard is on the raw batch: dbt downstream of it is tested elsewhere.
    result = materialize_dataops(settings, selection=RAW_TABLES)

    verdicts = check_evaluations(result)
    published = rows == 20 or accept_shrink
    assert result.success == published
    assert verdicts["projects:row_volume"].passed == published
    assert verdicts["projects:row_volume"].metadata["stored_rows"].value == 40
    if published:
        assert len(read_warehouse_table(settings, "projects")) == rows
        assert len(read_warehouse_table(settings, "tags")) == rows
    else:
        assert "beyond the limit of 50%" in verdicts["tags:row_volume"].description
        for table, frame in _stored(settings).items():
            pd.testing.assert_frame_equal(frame, before[table])


def test_failed_dbt_test_publishes_nothing(good_warehouse, settings_for, tmp_path) -> None:
    """dbt builds in the staging schema: a failing dbt test leaves the published table as it was."""
    projects, tags = make_projects_and_tags(seed=3)
    tags.loc[0, "tag"] = "  "  # project 1's label is blank: a string to every raw suite
    source = write_source(tmp_path / "s", projects, tags)
    settings = _on_good_warehouse(good_warehouse, settings_for(source))
    before = read_warehouse_table(settings, "labeled_projects")

    result = materialize_dataops(settings)

    assert not result.success
    evaluations = check_evaluations(result)
    assert not evaluations["labeled_projects:not_blank_labeled_projects_tag"].passed
    assert evaluations["labeled_projects:unique_labeled_projects_id"].passed
    assert "labeled_projects" not in materialized_keys(result)
    assert "nothing was published" in _step_failure(result, "madewithml_dbt_models")
    pd.testing.assert_frame_equal(read_warehouse_table(settings, "labeled_projects"), before)


def test_a_project_waiting_for_its_label_is_published_with_a_warning(
    good_warehouse, settings_for, tmp_path
) -> None:
    """Labels arrive after projects: a project without one yet is a row with a null tag, and the
    not_null test warns (it does not block)."""
    projects, tags = make_projects_and_tags(seed=3)
    source = write_source(tmp_path / "s", projects, tags[1:])  # project 1 has no label yet
    settings = _on_good_warehouse(good_warehouse, settings_for(source))

    result = materialize_dataops(settings)

    assert result.success
    evaluations = check_evaluations(result)
    waiting = evaluations.pop("labeled_projects:not_null_labeled_projects_tag")
    assert not waiting.passed and waiting.severity == AssetCheckSeverity.WARN
    assert [name for name, e in evaluations.items() if not e.passed] == []
    labeled = read_warehouse_table(settings, "labeled_projects").set_index("id")
    assert len(labeled) == len(projects) and pd.isna(labeled.loc[1, "tag"])


def test_labels_may_come_after_their_projects_but_never_vanish(settings_for, tmp_path) -> None:
    """A month may land before any of its labels (the volume guard lets an empty tags batch pass
    where nothing is stored); labels that came are published; an empty tags file never replaces
    them."""
    projects, tags = make_projects_and_tags()
    source = write_source(tmp_path / "s", projects, tags[:0])
    settings = settings_for(source)

    first = materialize_dataops(settings)
    assert first.success
    verdict = check_evaluations(first)["tags:row_volume"]
    assert verdict.passed and "no rows yet (they arrive later)" in verdict.description
    assert read_warehouse_table(settings, "labeled_projects")["tag"].isna().all()

    write_source(source, projects, tags)  # the labels arrive
    assert materialize_dataops(settings).success
    assert read_warehouse_table(settings, "labeled_projects")["tag"].notna().all()

    write_source(source, projects, tags[:0])  # an outage empties the file: refused
    refused = materialize_dataops(settings)
    assert not refused.success
    assert not check_evaluations(refused)["tags:row_volume"].passed
    assert len(read_warehouse_table(settings, "tags")) == len(tags)


def test_failed_suite_on_the_staged_build_publishes_nothing(
    good_warehouse, settings_for, tmp_path
) -> None:
    """The labeled_projects suite runs on dbt's staged table, before it replaces the published."""
    from mlplatform.resources.great_expectations import GreatExpectationsResource
    from mlplatform.settings import GX_PROJECT_DIR

    gx_dir = shutil.copytree(GX_PROJECT_DIR, tmp_path / "gx")
    suite_file = gx_dir / "expectations" / "labeled_projects.json"
    suite = json.loads(suite_file.read_text())
    allowed = ["computer-vision", "mlops", "natural-language-processing"]  # not RL
    suite["expectations"].append(
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "tag", "value_set": allowed},
        }
    )
    suite_file.write_text(json.dumps(suite))
    source = write_source(tmp_path / "s", *make_projects_and_tags(seed=3))
    settings = _on_good_warehouse(good_warehouse, settings_for(source))
    before = read_warehouse_table(settings, "labeled_projects")
    defs = build_definitions(
        settings, great_expectations=GreatExpectationsResource(project_dir=str(gx_dir))
    )

    result = materialize_selection(defs, DATAOPS)

    assert not result.success
    message = _step_failure(result, "madewithml_dbt_models")
    assert "expect_column_values_to_be_in_set(tag)" in message
    assert "labeled_projects was not published, the stored table is unchanged" in message
    pd.testing.assert_frame_equal(read_warehouse_table(settings, "labeled_projects"), before)
    staged = build_warehouse(settings).read_staged("labeled_projects")  # kept for inspection
    assert "reinforcement-learning" in set(staged["tag"])


def test_an_empty_landing_never_replaces_labeled_projects(good_warehouse, settings_for) -> None:
    """Raw tables emptied outside the built-in loader (an Airbyte sync of an empty file): dbt
    builds an empty labeled_projects, which passes every suite and dbt test; the volume guard on
    the staged table refuses it and the published table is unchanged."""
    import duckdb

    settings = _on_good_warehouse(good_warehouse, settings_for(good_warehouse[1]))
    before = read_warehouse_table(settings, "labeled_projects")
    with duckdb.connect(str(settings.duckdb_path)) as connection:
        for table in RAW_TABLES:
            connection.execute(f"delete from madewithml.{table}")

    result = materialize_selection(build_definitions(settings), ["labeled_projects"])

    assert not result.success
    message = _step_failure(result, "madewithml_dbt_models")
    assert "labeled_projects: the batch has no rows" in message
    assert "labeled_projects was not published" in message
    pd.testing.assert_frame_equal(read_warehouse_table(settings, "labeled_projects"), before)


def _step_failure(result, step_key: str) -> str:
    failure = next(
        e
        for e in result.all_events
        if e.event_type == DagsterEventType.STEP_FAILURE and e.step_key == step_key
    )
    return failure.step_failure_data.error.message


def test_transient_source_errors_are_retried(settings_for, source_dir) -> None:
    with serve_directory(source_dir, failures=2) as server:
        result = materialize_dataops(settings_for(server.url), selection=RAW_TABLES)
    assert result.success
    retries = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_UP_FOR_RETRY]
    assert len(retries) == 2
    assert server.requests == 4  # projects.csv: two failures, then read; tags.csv: read


def test_missing_source_fails_at_once_naming_the_location(settings_for, tmp_path) -> None:
    result = materialize_dataops(settings_for(tmp_path / "nowhere"), selection=RAW_TABLES)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE)
    assert str(tmp_path / "nowhere" / "projects.csv") in failure.step_failure_data.error.message
    assert not any(e.event_type == DagsterEventType.STEP_UP_FOR_RETRY for e in result.all_events)


def test_as_of_replays_arrival(settings_for, source_dir) -> None:
    settings = settings_for(source_dir, source_as_of="2020-02-20")
    assert materialize_dataops(settings, selection=RAW_TABLES).success
    projects = read_warehouse_table(settings, "projects")
    assert len(projects) == 10 and len(read_warehouse_table(settings, "tags")) == 10
    assert projects["created_on"].max() <= pd.Timestamp("2020-02-20")


def test_real_data_yields_955_labeled_projects(real_data, settings_for) -> None:
    instance = DagsterInstance.ephemeral()
    settings = settings_for(real_data)
    result = materialize_dataops(settings, instance=instance)
    assert result.success
    assert all(e.passed for e in check_evaluations(result).values())
    assert len(read_warehouse_table(settings, "labeled_projects")) == 955
