"""The Airbyte workspace (dagster-airbyte) and the cached copy of its state.

dagster-airbyte reads the workspace's connections and streams from the Airbyte API to build asset
specs. The platform keeps the last good answer in a file (`MLPLATFORM_AIRBYTE_STATE`), like the
dbt manifest: definitions are built from that file, so the code location loads, and runs start,
while the Airbyte API is down. `mlplatform airbyte-state` (or a first load with no file) asks the
API again.
"""

from __future__ import annotations

from pathlib import Path

from dagster import deserialize_value, serialize_value
from dagster_airbyte import AirbyteCloudWorkspace, AirbyteWorkspace
from dagster_airbyte.translator import AirbyteWorkspaceData

from mlplatform.settings import AirbyteSettings, reveal


class AirbyteStateError(RuntimeError):
    """The workspace cannot be read (no API and no cache, a damaged cache), or lacks the
    connection or streams the platform needs."""


def build_airbyte_workspace(
    settings: AirbyteSettings, reveal_secrets: bool = False
) -> AirbyteWorkspace | AirbyteCloudWorkspace:
    """The workspace; outside Dagster (`reveal_secrets`) secrets are passed as their values."""
    if not settings.workspace_id:
        raise ValueError("MLPLATFORM_INGESTION=airbyte needs MLPLATFORM_AIRBYTE_WORKSPACE_ID")

    def secret(value):
        return reveal(value) if reveal_secrets else value

    client_id = secret(settings.client_id)
    client_secret = secret(settings.client_secret)
    if settings.cloud:
        return AirbyteCloudWorkspace(
            workspace_id=settings.workspace_id,
            client_id=client_id,
            client_secret=client_secret,
            poll_interval=settings.poll_interval_seconds,
            poll_timeout=settings.sync_timeout_seconds,
        )
    return AirbyteWorkspace(
        rest_api_base_url=settings.rest_api_url,
        configuration_api_base_url=settings.configuration_api_url,
        workspace_id=settings.workspace_id,
        client_id=client_id,
        client_secret=client_secret,
        username=settings.username,
        password=secret(settings.password),
        poll_interval=settings.poll_interval_seconds,
        poll_timeout=settings.sync_timeout_seconds,
    )


def refresh_workspace_state(settings: AirbyteSettings) -> AirbyteWorkspaceData:
    """Ask the Airbyte API for the workspace and replace the cached copy with the answer."""
    # Once, without dagster-airbyte's retries: a code location waits on this while it loads.
    workspace = build_airbyte_workspace(settings, reveal_secrets=True).model_copy(
        update={"request_max_retries": 0}
    )
    data = workspace.fetch_airbyte_workspace_data()
    path = settings.state_path
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(serialize_value(data))
    temporary.replace(path)  # a reader never sees half a file
    return data


def workspace_state(settings: AirbyteSettings) -> AirbyteWorkspaceData:
    """The cached workspace; the API is asked only when there is no cache yet."""
    if settings.state_path.exists():
        return read_cached_state(settings.state_path)
    try:
        return refresh_workspace_state(settings)
    except Exception as error:
        raise AirbyteStateError(
            f"the Airbyte workspace {settings.workspace_id} could not be read from "
            f"{settings.rest_api_url} and no cached copy exists at {settings.state_path}: "
            f"{error}"
        ) from error


def read_cached_state(path: Path) -> AirbyteWorkspaceData:
    try:
        return deserialize_value(path.read_text(), AirbyteWorkspaceData)
    except Exception as error:
        raise AirbyteStateError(
            f"the cached Airbyte workspace {path} cannot be read ({error}): run "
            "`uv run mlplatform airbyte-state` to read it again from the API"
        ) from error
