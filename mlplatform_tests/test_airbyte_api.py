"""dagster-airbyte's own client against the Airbyte stand-in: the API as it calls it, syncs that
run the real source-file connector into DuckDB, and the failures it has to report."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import requests
from dagster import AssetKey, Failure, materialize
from dagster_airbyte import build_airbyte_assets_definitions

from mlplatform.core.sources import SHIPPED_DATA_DIR
from mlplatform_tests.support.standins.airbyte import (
    AIRBYTE_COLUMNS,
    AIRBYTE_TEST_MARKS,
    AirbyteStandin,
    DuckDBWriter,
    airbyte_connector_skip_reason,
    airbyte_standin,
)

pytestmark = list(AIRBYTE_TEST_MARKS)

SCHEMA = "raw"


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("airbyte_warehouse") / "warehouse.duckdb"


@pytest.fixture(scope="module")
def airbyte(warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirbyteStandin]:
    """One stand-in for the module: the connector's start-up is the slow part."""
    if reason := airbyte_connector_skip_reason():
        pytest.skip(reason)
    writer = DuckDBWriter(warehouse, schema=SCHEMA)
    with airbyte_standin(writer, SHIPPED_DATA_DIR, tmp_path_factory.mktemp("airbyte")) as standin:
        yield standin


def _token(airbyte: AirbyteStandin) -> str:
    response = requests.post(
        f"{airbyte.rest_api_base_url}/applications/token",
        json={"client_id": airbyte.client_id, "client_secret": airbyte.client_secret},
        timeout=10,
    )
    response.raise_for_status()
    return response.json()["access_token"]


def _wait_for(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the stand-in"
        time.sleep(0.05)


def _status(airbyte: AirbyteStandin, job_id: int) -> str:
    return airbyte.job_info(job_id)["job"]["status"]


def _rows_of_job(warehouse: Path, job_id: int) -> int:
    """Rows any sync with this id wrote (a table that does not exist yet has none)."""
    if not warehouse.exists():
        return 0
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = {
            row[0]
            for row in con.execute(
                "select table_name from information_schema.tables where table_schema = ?", [SCHEMA]
            ).fetchall()
        }
        return sum(
            con.execute(
                f"select count(*) from {SCHEMA}.{table} "
                "where json_extract(_airbyte_meta, '$.sync_id')::bigint = ?",
                [job_id],
            ).fetchall()[0][0]
            for table in tables
        )


def test_workspace_data_and_asset_specs(airbyte: AirbyteStandin) -> None:
    workspace = airbyte.workspace()
    data = workspace.fetch_airbyte_workspace_data()
    connection = data.connections_by_id[airbyte.connection_id]
    assert connection.name == "madewithml"
    assert set(connection.streams) == {"projects", "tags"}
    # The schema source-file discovered from the CSV header and values.
    assert connection.streams["tags"].json_schema["properties"] == {
        "id": {"type": ["number", "null"]},
        "tag": {"type": ["string", "null"]},
    }
    destination = data.destinations_by_id[airbyte.destination_id]
    assert (destination.type, destination.database, destination.schema) == ("duckdb", None, SCHEMA)

    [assets] = build_airbyte_assets_definitions(workspace=workspace)
    assert assets.node_def.name == "airbyte_madewithml"
    assert set(assets.keys) == {AssetKey("projects"), AssetKey("tags")}
    spec = next(spec for spec in assets.specs if spec.key == AssetKey("projects"))
    assert spec.kinds == {"airbyte", "duckdb"}
    assert spec.metadata["dagster-airbyte/connection_id"] == airbyte.connection_id
    columns = {column.name for column in spec.metadata["dagster/column_schema"].columns}
    assert columns == {"id", "created_on", "title", "description"}
    # dagster-airbyte names the table only from a destination config with both `database` and
    # `schema` keys (Postgres, Snowflake); DuckDB's and BigQuery's have no `database`.
    assert "dagster/table_name" not in spec.metadata


def test_sync_lands_both_streams_in_duckdb(airbyte: AirbyteStandin, warehouse: Path) -> None:
    workspace = airbyte.workspace()
    result = materialize(
        build_airbyte_assets_definitions(workspace=workspace), resources={"airbyte": workspace}
    )
    assert result.success
    materialized = {event.asset_key for event in result.get_asset_materialization_events()}
    assert materialized == {AssetKey("projects"), AssetKey("tags")}

    job_id = max(airbyte.job_ids())
    info = airbyte.job_info(job_id)
    assert info["job"]["status"] == "succeeded"
    stats = {s["streamName"]: s["stats"] for s in info["attempts"][0]["attempt"]["streamStats"]}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for stream in ("projects", "tags"):
            csv_rows = len(pd.read_csv(SHIPPED_DATA_DIR / f"{stream}.csv"))
            table = con.execute(f"select * from {SCHEMA}.{stream}").df()
            assert len(table) == csv_rows == stats[stream]["recordsCommitted"]
            assert table.columns[:3].tolist() == list(AIRBYTE_COLUMNS)
            assert table["_airbyte_raw_id"].is_unique
            assert {json.loads(meta)["sync_id"] for meta in table["_airbyte_meta"]} == {job_id}
            types = dict(
                con.execute(
                    "select column_name, data_type from information_schema.columns "
                    "where table_schema = ? and table_name = ?",
                    [SCHEMA, stream],
                ).fetchall()
            )
            # As the connector emits them: ids are numbers, dates stay strings for dbt to type.
            assert types["id"] == "BIGINT"
            assert types["_airbyte_extracted_at"] == "TIMESTAMP WITH TIME ZONE"
        assert con.execute(f"select count(*) from {SCHEMA}.projects where id = 6").fetchone() == (
            1,
        )
        created_on = con.execute(f"select created_on from {SCHEMA}.projects where id = 6")
        assert created_on.fetchone() == ("2020-02-20 06:43:18",)


def test_failed_job_names_the_job_and_keeps_the_connector_error(
    airbyte: AirbyteStandin, warehouse: Path
) -> None:
    airbyte.fail_next_job()
    workspace = airbyte.workspace()
    with pytest.raises(Failure, match=r"Job failed: \d+"):
        workspace.get_client().sync_and_poll(airbyte.connection_id)
    job_id = max(airbyte.job_ids())
    assert _status(airbyte, job_id) == "failed"
    attempt = airbyte.job_info(job_id)["attempts"][0]["attempt"]
    assert attempt["status"] == "failed"
    failure = attempt["failureSummary"]["failures"][0]
    assert failure["failureOrigin"] == "source"
    assert "No such file or directory" in failure["internalMessage"]
    assert _rows_of_job(warehouse, job_id) == 0


def test_failed_job_fails_the_materialization(airbyte: AirbyteStandin) -> None:
    airbyte.fail_next_job()
    workspace = airbyte.workspace()
    result = materialize(
        build_airbyte_assets_definitions(workspace=workspace),
        resources={"airbyte": workspace},
        raise_on_error=False,
    )
    assert not result.success
    [failure] = [event for event in result.all_events if event.is_step_failure]
    assert f"Job failed: {max(airbyte.job_ids())}" in str(failure.step_failure_data.error)


def test_job_cancelled_in_airbyte_fails_the_poll(airbyte: AirbyteStandin) -> None:
    airbyte.hang_next_job()
    client = airbyte.workspace().get_client()
    before = set(airbyte.job_ids())
    errors: list[BaseException] = []

    def sync() -> None:
        try:
            client.sync_and_poll(airbyte.connection_id)
        except Failure as error:
            errors.append(error)

    poller = threading.Thread(target=sync)
    poller.start()
    _wait_for(lambda: bool(set(airbyte.job_ids()) - before))
    [job_id] = set(airbyte.job_ids()) - before
    _wait_for(lambda: _status(airbyte, job_id) == "running")
    assert client.cancel_job(job_id)["status"] == "cancelled"
    poller.join(timeout=30)
    assert [str(error) for error in errors] == [f"Job was cancelled: {job_id}"]


def test_poll_timeout_cancels_the_job(airbyte: AirbyteStandin) -> None:
    airbyte.hang_next_job()
    client = airbyte.workspace(poll_timeout=0.5).get_client()
    with pytest.raises(Failure, match=r"Timeout: Airbyte job (\d+) is not ready"):
        client.sync_and_poll(airbyte.connection_id)
    # dagster-airbyte cancels a job it stops waiting for (cancel_on_termination).
    assert _status(airbyte, max(airbyte.job_ids())) == "cancelled"


def test_a_running_sync_blocks_another(airbyte: AirbyteStandin) -> None:
    airbyte.hang_next_job()
    client = airbyte.workspace().get_client()
    job_id = client.start_sync_job(airbyte.connection_id)["jobId"]
    try:
        with pytest.raises(Failure, match="already running"):
            client.sync_and_poll(airbyte.connection_id)
        conflict = requests.post(
            f"{airbyte.rest_api_base_url}/jobs",
            json={"connectionId": airbyte.connection_id, "jobType": "sync"},
            headers={"Authorization": f"Bearer {_token(airbyte)}"},
            timeout=10,
        )
        assert conflict.status_code == 409
    finally:
        client.cancel_job(job_id)


def test_cancel_stops_the_running_connector(airbyte: AirbyteStandin, warehouse: Path) -> None:
    client = airbyte.workspace().get_client()
    job = client.start_sync_job(airbyte.connection_id)
    assert job["status"] in ("pending", "running")
    server_job = airbyte._server.jobs[job["jobId"]]
    _wait_for(lambda: len(server_job.processes) == len(airbyte.streams))
    assert client.cancel_job(job["jobId"])["status"] == "cancelled"
    assert server_job.thread is not None
    server_job.thread.join(timeout=30)
    assert all(process.poll() is not None for process in server_job.processes)
    assert _status(airbyte, job["jobId"]) == "cancelled"
    assert _rows_of_job(warehouse, job["jobId"]) == 0


def test_jobs_list_pages(airbyte: AirbyteStandin) -> None:
    client = airbyte.workspace(max_items_per_page=1).get_client()
    for _ in range(2):
        airbyte.hang_next_job()
        client.cancel_job(client.start_sync_job(airbyte.connection_id)["jobId"])
    jobs = client.get_jobs_for_connection(airbyte.connection_id)
    assert sorted(job.id for job in jobs) == airbyte.job_ids()
    assert {job.status for job in jobs} <= {"succeeded", "failed", "cancelled"}


def test_wrong_client_secret_is_an_auth_error(airbyte: AirbyteStandin) -> None:
    token_url = f"{airbyte.rest_api_base_url}/applications/token"
    response = requests.post(
        token_url, json={"client_id": airbyte.client_id, "client_secret": "wrong"}, timeout=10
    )
    assert response.status_code == 401
    assert response.json()["title"] == "unauthorized"
    workspace = airbyte.workspace(client_secret="wrong")
    with pytest.raises(Failure, match=rf"Max retries \(1\) exceeded with url: {token_url}"):
        workspace.fetch_airbyte_workspace_data()


def test_every_call_needs_a_valid_token(airbyte: AirbyteStandin) -> None:
    workspace_url = f"{airbyte.rest_api_base_url}/workspaces/{airbyte.workspace_id}"
    connection_url = f"{airbyte.configuration_api_base_url}/connections/get"
    body = {"connectionId": airbyte.connection_id}
    token = _token(airbyte)
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        assert requests.get(workspace_url, headers=headers, timeout=10).status_code == 401
        assert requests.post(
            connection_url, json=body, headers=headers, timeout=10
        ).status_code == (401)
    bearer = {"Authorization": f"Bearer {token}"}
    assert requests.get(workspace_url, headers=bearer, timeout=10).json()["workspaceId"] == (
        airbyte.workspace_id
    )
    details = requests.post(connection_url, json=body, headers=bearer, timeout=10).json()
    assert [s["stream"]["name"] for s in details["syncCatalog"]["streams"]] == ["projects", "tags"]
    # Self-managed Airbyte's basic auth works too (dagster-airbyte's username/password).
    basic = airbyte.workspace(
        client_id=None, client_secret=None, username=airbyte.username, password=airbyte.password
    )
    assert airbyte.connection_id in basic.fetch_airbyte_workspace_data().connections_by_id


def test_unreachable_api_is_a_clear_error() -> None:
    with socket.socket() as probe:  # a port nothing listens on once the probe closes
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    from dagster_airbyte import AirbyteWorkspace

    base = f"http://127.0.0.1:{port}/api"
    workspace = AirbyteWorkspace(
        rest_api_base_url=f"{base}/public/v1",
        configuration_api_base_url=f"{base}/v1",
        workspace_id="nowhere",
        client_id="id",
        client_secret="secret",
        request_max_retries=1,
        request_retry_delay=0.05,
    )
    with pytest.raises(Failure, match=rf"exceeded with url: {base}/public/v1/applications/token"):
        build_airbyte_assets_definitions(workspace=workspace)
