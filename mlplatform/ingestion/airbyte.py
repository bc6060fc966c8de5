"""Airbyte lands `projects` and `tags`: one sync of one connection, through dagster-airbyte.

Airbyte writes the tables itself, so the audit comes after the write: each landed table goes
through its GX suite (without Airbyte's `_airbyte_*` columns) as a blocking check, and nothing
downstream runs on a failed suite. dbt's staging models type the raw columns.

Specs come from the cached workspace state (see `mlplatform.resources.airbyte`). When there is
none and the API cannot be reached, or the connection is not found, `projects` and `tags` still
exist: running them fails with the reason, and the code location keeps loading.
"""

import time
from collections.abc import Iterator

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    DefaultSensorStatus,
    Definitions,
    Failure,
    MaterializeResult,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    multi_asset,
    sensor,
)
from dagster_airbyte import DagsterAirbyteTranslator
from dagster_airbyte.resources import BaseAirbyteWorkspace
from dagster_airbyte.translator import (
    AirbyteConnection,
    AirbyteConnectionTableProps,
    AirbyteJobStatusType,
    AirbyteWorkspaceData,
)
from dagster_airbyte.utils import DAGSTER_AIRBYTE_TRANSLATOR_METADATA_KEY

from mlplatform.core.sources import RAW_TABLES
from mlplatform.ingestion.jobs import ingestion_job
from mlplatform.lib.checks import gx_check_spec, suite_check_result
from mlplatform.lib.metadata import PREVIEW_ROWS, table_metadata
from mlplatform.lib.ownership import DATA_OWNERS
from mlplatform.resources.airbyte import AirbyteStateError, workspace_state
from mlplatform.resources.great_expectations import GreatExpectationsResource
from mlplatform.resources.warehouse import WAREHOUSE_POOL, WAREHOUSE_TABLE_TAG, Warehouse
from mlplatform.settings import AirbyteSettings

# Destinations V2 adds these to every table (`_airbyte_raw_id`, `_airbyte_extracted_at`, ...).
AIRBYTE_COLUMN_PREFIX = "_airbyte_"
SYNC_ASSET_NAME = "airbyte_sync"
UNFINISHED = {
    AirbyteJobStatusType.PENDING,
    AirbyteJobStatusType.RUNNING,
    AirbyteJobStatusType.INCOMPLETE,
}


class RawTableTranslator(DagsterAirbyteTranslator):
    """Streams keep their bare names (`projects`, `tags`): the keys dbt's sources and the GX
    suites use, whatever stream prefix the connection writes with."""

    def get_asset_spec(self, props: AirbyteConnectionTableProps) -> AssetSpec:
        return (
            super()
            .get_asset_spec(props)
            .replace_attributes(
                key=AssetKey(props.stream_name),
                group_name="ingestion",
                owners=DATA_OWNERS,
                description=(
                    RAW_TABLES[props.stream_name].description
                    if props.stream_name in RAW_TABLES
                    else None
                ),
            )
            .merge_attributes(tags={WAREHOUSE_TABLE_TAG: ""})
        )


def airbyte_definitions(settings: AirbyteSettings) -> Definitions:
    try:
        state = workspace_state(settings)
        connection = find_connection(state, settings.connection)
        specs = raw_table_specs(state, connection)
    except AirbyteStateError as error:
        return Definitions(assets=[unavailable_raw_tables(str(error))], jobs=[ingestion_job])
    return Definitions(
        assets=[airbyte_sync_assets(specs)],
        sensors=[airbyte_sync_sensor(settings, connection.id)],
        jobs=[ingestion_job],
    )


def raw_table_specs(state: AirbyteWorkspaceData, connection: AirbyteConnection) -> list[AssetSpec]:
    """The specs of the connection's `projects` and `tags` streams."""
    translator = RawTableTranslator()
    specs = [
        translator.get_asset_spec(props).merge_attributes(
            metadata={DAGSTER_AIRBYTE_TRANSLATOR_METADATA_KEY: translator}
        )
        for props in state.to_airbyte_connection_table_props_data()
        if props.connection_id == connection.id and props.stream_name in RAW_TABLES
    ]
    missing = sorted(set(RAW_TABLES) - {spec.key.path[-1] for spec in specs})
    if missing:
        raise AirbyteStateError(
            f"the Airbyte connection {connection.name!r} syncs no stream named {missing} "
            f"(it syncs {sorted(connection.streams)})"
        )
    return specs


def find_connection(state: AirbyteWorkspaceData, name: str) -> AirbyteConnection:
    connections = {connection.name: connection for connection in state.connections_by_id.values()}
    if name not in connections:
        raise AirbyteStateError(
            f"the Airbyte workspace has no connection named {name!r} "
            f"(MLPLATFORM_AIRBYTE_CONNECTION); it has {sorted(connections)}"
        )
    return connections[name]


def airbyte_sync_assets(specs: list[AssetSpec]):
    @multi_asset(
        name=SYNC_ASSET_NAME,
        specs=specs,
        check_specs=[gx_check_spec(name) for name in RAW_TABLES],
        can_subset=False,  # one sync lands both tables
        pool=WAREHOUSE_POOL,
    )
    def airbyte_sync(
        context: AssetExecutionContext,
        airbyte: BaseAirbyteWorkspace,
        warehouse: Warehouse,
        great_expectations: GreatExpectationsResource,
    ) -> Iterator[MaterializeResult | AssetCheckResult]:
        """One Airbyte sync, then each landed table's profile and GX suite."""
        for event in airbyte.sync_and_poll(context=context):
            # Other streams of the connection come as plain AssetMaterializations: pass them on.
            if not isinstance(event, MaterializeResult):
                yield event
                continue
            table = event.asset_key.path[-1]
            profile = warehouse.profile_table(table, PREVIEW_ROWS)
            yield MaterializeResult(
                asset_key=event.asset_key,
                metadata={
                    **event.metadata,
                    **table_metadata(profile.row_count, profile.columns, profile.preview),
                },
            )
            landed = without_airbyte_columns(warehouse.read_table(table))
            yield suite_check_result(great_expectations.validate(landed, table))

    return airbyte_sync


def without_airbyte_columns(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.loc[:, [not str(c).startswith(AIRBYTE_COLUMN_PREFIX) for c in frame.columns]]


def unavailable_raw_tables(reason: str):
    """`projects` and `tags` that say why Airbyte is not available, and fail with it when run."""

    @multi_asset(
        name=SYNC_ASSET_NAME,
        specs=[
            AssetSpec(
                name,
                description=f"{spec.description} NOT AVAILABLE: {reason}",
                group_name="ingestion",
                owners=DATA_OWNERS,
                kinds={"airbyte"},
                tags={WAREHOUSE_TABLE_TAG: ""},
            )
            for name, spec in RAW_TABLES.items()
        ],
        can_subset=False,
    )
    def airbyte_sync(context: AssetExecutionContext):
        raise Failure(
            f"Airbyte is not available to this code location: {reason}. Fix the setting or "
            "the connection, then run `uv run mlplatform airbyte-state` and reload the code "
            "location.",
            allow_retries=False,
        )

    return airbyte_sync


def airbyte_sync_sensor(settings: AirbyteSettings, connection_id: str):
    """Syncs once per window; `connection_id` is the connection the assets were built from."""
    interval = settings.sync_interval_seconds

    @sensor(
        name="airbyte_sync_sensor",
        job=ingestion_job,
        minimum_interval_seconds=min(interval, 300),
        default_status=DefaultSensorStatus.RUNNING,
        description=f"Syncs the Airbyte connection {settings.connection!r} once every "
        f"{interval} s (MLPLATFORM_AIRBYTE_SYNC_INTERVAL), unless Airbyte is already syncing it.",
    )
    def _sensor(
        context: SensorEvaluationContext, airbyte: BaseAirbyteWorkspace
    ) -> SensorResult | SkipReason:
        window = str(int(time.time() // interval))
        if context.cursor == window:
            return SkipReason(f"already synced in this {interval} s window")
        try:
            jobs = airbyte.get_client().get_jobs_for_connection(connection_id)
        except Exception as error:
            return SkipReason(f"Airbyte API not reachable, will look again: {error}")
        running = [job.id for job in jobs if job.status in UNFINISHED]
        if running:
            return SkipReason(
                f"Airbyte is already syncing {settings.connection!r} (job {running[0]}): "
                "will look again"
            )
        return SensorResult(
            run_requests=[RunRequest(run_key=f"airbyte-{settings.connection}-{window}")],
            cursor=window,
        )

    return _sensor
