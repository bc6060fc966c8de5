"""The platform with `MLPLATFORM_INGESTION=airbyte`: the stand-in Airbyte (real source-file
connector) lands `projects` and `tags` in the DuckDB warehouse, the GX suites check the landed
tables, and dbt's staging models type them for `labeled_projects`."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance, SkipReason, build_sensor_context

from mlplatform.definitions import build_definitions
from mlplatform.resources.airbyte import build_airbyte_workspace, refresh_workspace_state
from mlplatform.settings import Settings
from mlplatform_tests.support.dataops import (
    check_evaluations,
    materialize_dataops,
    materialized_keys,
    read_warehouse_table,
)
from mlplatform_tests.support.fixtures import make_projects_and_tags, write_source
from mlplatform_tests.support.standins import airbyte as standins

pytestmark = list(standins.AIRBYTE_TEST_MARKS)

ROWS = 40


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_source(tmp_path_factory.mktemp("source"), *make_projects_and_tags(ROWS))


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def standin(source: Path, home: Path, tmp_path_factory) -> Iterator[standins.AirbyteStandin]:
    if reason := standins.airbyte_connector_skip_reason():
        pytest.skip(reason)
    base = Settings.from_env({"MLPLATFORM_HOME": str(home)})
    writer = standins.DuckDBWriter(base.duckdb_path, schema=base.warehouse_schema)
    with standins.airbyte_standin(writer, source, tmp_path_factory.mktemp("airbyte")) as running:
        yield running


def airbyte_settings(home: Path, standin: standins.AirbyteStandin | None, **airbyte) -> Settings:
    """Settings with Airbyte ingestion; without a stand-in the API is a closed port."""
    environ = {"MLPLATFORM_HOME": str(home), "MLPLATFORM_INGESTION": "airbyte"}
    if standin is None:
        environ |= {"MLPLATFORM_AIRBYTE_URL": "http://127.0.0.1:9"}
    else:
        environ |= {
            "MLPLATFORM_AIRBYTE_REST_API_URL": standin.rest_api_base_url,
            "MLPLATFORM_AIRBYTE_CONFIGURATION_API_URL": standin.configuration_api_base_url,
            "MLPLATFORM_AIRBYTE_CLIENT_ID": standin.client_id,
            "MLPLATFORM_AIRBYTE_CLIENT_SECRET": standin.client_secret,
        }
    environ |= {
        "MLPLATFORM_AIRBYTE_WORKSPACE_ID": standin.workspace_id if standin else "w1",
        "MLPLATFORM_AIRBYTE_POLL_INTERVAL": "0.2",
    }
    settings = Settings.from_env(environ)
    return dataclasses.replace(settings, airbyte=dataclasses.replace(settings.airbyte, **airbyte))


@pytest.fixture(scope="module")
def first_sync(home: Path, standin: standins.AirbyteStandin):
    """The module's first successful sync: the tests that need a stored `labeled_projects`
    depend on it rather than on running after the test that makes one."""
    return materialize_dataops(airbyte_settings(home, standin))


def test_the_module_runs_as_one_group_on_one_worker(request: pytest.FixtureRequest):
    """The module's tests share one stand-in and one warehouse: pytest 9.2 drops the node-id
    suffix pytest-xdist 3.8 groups by (pytest-dev/pytest-xdist#1386) and would split them."""
    if not getattr(request.config.option, "loadgroup", False):  # set on xdist workers
        pytest.skip("not under --dist loadgroup")
    assert request.node.nodeid.endswith("@airbyte")


def test_one_sync_lands_both_tables_and_dbt_types_them(
    home: Path, standin: standins.AirbyteStandin, first_sync
):
    settings = airbyte_settings(home, standin)
    result = first_sync

    assert result.success
    assert {"projects", "tags", "labeled_projects"} <= materialized_keys(result)
    checks = check_evaluations(result)
    assert checks["projects:gx_suite"].passed and checks["tags:gx_suite"].passed
    landed = read_warehouse_table(settings, "projects")
    assert set(standins.AIRBYTE_COLUMNS) <= set(landed.columns)
    assert landed["created_on"].dtype == object, "Airbyte lands timestamps as strings"
    labeled = read_warehouse_table(settings, "labeled_projects")
    assert list(labeled.columns) == ["id", "created_on", "title", "description", "tag"]
    assert len(labeled) == ROWS and labeled["tag"].notna().all()
    assert pd.api.types.is_integer_dtype(labeled["id"])
    assert pd.api.types.is_datetime64_any_dtype(labeled["created_on"])
    assert settings.airbyte.state_path.exists(), "the first load cached the workspace"

    node = build_definitions(settings).resolve_asset_graph().get(AssetKey("projects"))
    assert {"airbyte", "duckdb"} <= node.kinds
    assert node.metadata["dagster/table_name"] == "warehouse.madewithml.projects"
    assert node.metadata["dagster-airbyte/connection_id"] == standin.connection_id


def test_a_landed_table_failing_its_suite_blocks_labeled_projects(
    home: Path, source: Path, standin: standins.AirbyteStandin, first_sync
):
    assert first_sync.success
    settings = airbyte_settings(home, standin)
    before = read_warehouse_table(settings, "labeled_projects")
    projects, tags = make_projects_and_tags(ROWS)
    duplicated = pd.concat([projects, projects.tail(1)], ignore_index=True)
    write_source(source, duplicated, tags)
    try:
        result = materialize_dataops(settings)
    finally:
        write_source(source, projects, tags)

    failed = check_evaluations(result)["projects:gx_suite"]
    assert not failed.passed
    assert "id" in failed.description and "unique" in failed.description
    assert "labeled_projects" not in materialized_keys(result)
    assert len(read_warehouse_table(settings, "projects")) == ROWS + 1, "Airbyte wrote it"
    pd.testing.assert_frame_equal(read_warehouse_table(settings, "labeled_projects"), before)


def test_an_empty_sync_leaves_labeled_projects_as_it_was(
    home: Path, source: Path, standin: standins.AirbyteStandin, first_sync
):
    """An empty landing passes every suite and dbt test (0 rows break no rule): the volume guard
    on the staged table refuses it, end to end through a real sync."""
    assert first_sync.success
    settings = airbyte_settings(home, standin)
    before = read_warehouse_table(settings, "labeled_projects")
    projects, tags = make_projects_and_tags(ROWS)
    write_source(source, projects.head(0), tags.head(0))
    try:
        result = materialize_dataops(settings)
    finally:
        write_source(source, projects, tags)

    assert not result.success
    assert len(read_warehouse_table(settings, "projects")) == 0, "Airbyte landed the empty file"
    [failure] = [event for event in result.all_events if event.is_step_failure]
    assert "labeled_projects: the batch has no rows" in str(failure.step_failure_data.error)
    pd.testing.assert_frame_equal(read_warehouse_table(settings, "labeled_projects"), before)


def test_code_location_loads_without_airbyte_and_says_why(tmp_path: Path):
    settings = airbyte_settings(tmp_path, None)
    defs = build_definitions(settings)

    node = defs.resolve_asset_graph().get(AssetKey("projects"))
    assert "NOT AVAILABLE" in node.description and "http://127.0.0.1:9" in node.description
    result = materialize_dataops(settings, selection=["projects", "tags"])
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert "Airbyte is not available" in failure.message and "127.0.0.1:9" in failure.message


def test_a_damaged_cached_workspace_is_named_with_the_way_out(tmp_path: Path):
    state = tmp_path / "airbyte_workspace.json"
    state.write_text('{"truncated')
    settings = airbyte_settings(tmp_path, None, state_path=state)
    node = build_definitions(settings).resolve_asset_graph().get(AssetKey("projects"))
    assert f"the cached Airbyte workspace {state} cannot be read" in node.description
    assert "mlplatform airbyte-state" in node.description


def test_cached_workspace_serves_while_airbyte_is_down(
    tmp_path: Path, standin: standins.AirbyteStandin
):
    state = tmp_path / "airbyte_workspace.json"
    refresh_workspace_state(airbyte_settings(tmp_path, standin, state_path=state).airbyte)

    down = airbyte_settings(tmp_path, None, state_path=state, workspace_id=standin.workspace_id)
    node = build_definitions(down).resolve_asset_graph().get(AssetKey("projects"))
    assert "NOT AVAILABLE" not in (node.description or "")
    assert node.metadata["dagster-airbyte/connection_id"] == standin.connection_id


def test_a_wrong_connection_name_is_named_with_the_ones_that_exist(
    tmp_path: Path, standin: standins.AirbyteStandin
):
    settings = airbyte_settings(tmp_path, standin, connection="nope")
    node = build_definitions(settings).resolve_asset_graph().get(AssetKey("projects"))
    assert "no connection named 'nope'" in node.description
    assert standin.connection_name in node.description


def test_sync_sensor_once_per_window_and_never_over_a_running_sync(
    home: Path, standin: standins.AirbyteStandin
):
    settings = airbyte_settings(home, standin)
    sensor = build_definitions(settings).resolve_sensor_def("airbyte_sync_sensor")
    airbyte = build_airbyte_workspace(settings.airbyte)

    with DagsterInstance.ephemeral() as instance:
        first = sensor(build_sensor_context(instance=instance, resources={"airbyte": airbyte}))
        (request,) = first.run_requests
        assert request.run_key.startswith(f"airbyte-{standin.connection_name}-")
        again = sensor(
            build_sensor_context(
                instance=instance, cursor=first.cursor, resources={"airbyte": airbyte}
            )
        )
        assert isinstance(again, SkipReason) and "already synced" in again.skip_message

        standin.hang_next_job()
        client = airbyte.get_client()
        job = client.start_sync_job(standin.connection_id)["jobId"]
        try:
            busy = sensor(build_sensor_context(instance=instance, resources={"airbyte": airbyte}))
            assert isinstance(busy, SkipReason)
            assert f"already syncing 'madewithml' (job {job})" in busy.skip_message
        finally:
            client.cancel_job(job)


def test_a_sync_that_never_ends_is_cancelled_and_changes_nothing(
    home: Path, standin, first_sync
) -> None:
    """A stuck sync would hold the `warehouse` pool forever: past the timeout the step fails,
    the Airbyte job is cancelled and labeled_projects stays as it was."""
    assert first_sync.success
    settings = airbyte_settings(home, standin, sync_timeout_seconds=1.0)
    before = read_warehouse_table(settings, "labeled_projects")
    standin.hang_next_job()

    result = materialize_dataops(settings)

    assert not result.success
    [failure] = [event for event in result.all_events if event.is_step_failure]
    job = max(standin.job_ids())
    assert f"Airbyte job {job} is not ready after the timeout 1.0 seconds" in str(
        failure.step_failure_data.error
    )
    assert standin.job_info(job)["job"]["status"] == "cancelled"
    pd.testing.assert_frame_equal(read_warehouse_table(settings, "labeled_projects"), before)
