"""The platform with `MLPLATFORM_WAREHOUSE=bigquery`, against a BigQuery emulator on 127.0.0.1:
dagster-gcp-pandas' IO manager writes the raw tables, dbt-bigquery builds and tests
`labeled_projects`, the GX suites check every hand-off, and `trained_model` trains from it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dagster import AssetKey, AssetSelection

from mlplatform.core.embeddings import sentence_encoder
from mlplatform.core.features import FEATURE_TABLE
from mlplatform.core.text import project_text
from mlplatform.definitions import build_definitions
from mlplatform.resources import build_warehouse
from mlplatform.settings import Settings
from mlplatform_tests.support.dataops import (
    check_evaluations,
    materialized_keys,
    read_warehouse_table,
)
from mlplatform_tests.support.extras import extra_environment
from mlplatform_tests.support.fixtures import make_projects_and_tags, write_source
from mlplatform_tests.support.mlops import materialize_all
from mlplatform_tests.support.standins.airbyte import (
    BigQueryWriter,
    airbyte_connector_skip_reason,
    airbyte_standin,
)
from mlplatform_tests.support.standins.bigquery import (
    EmulatorEndpoint,
    bigquery_emulator,
    unavailable_reason,
)

pytestmark = [
    pytest.mark.bigquery,
    pytest.mark.xdist_group("bigquery"),  # one emulator for the module
    pytest.mark.filterwarnings("ignore::dagster.BetaWarning"),
    pytest.mark.filterwarnings("ignore::dagster.PreviewWarning"),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),  # google-cloud-bigquery's
    pytest.mark.filterwarnings("ignore:BigQuery Storage module not found"),
]

PROJECT = "mlplatform-test"
ROWS = 120
THROUGH_TRAINING = AssetSelection.groups("ingestion", "transformation") | AssetSelection.assets(
    "trained_model"
)
WITH_FEATURES = THROUGH_TRAINING | AssetSelection.assets(FEATURE_TABLE)


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorEndpoint]:
    if reason := unavailable_reason():
        pytest.skip(reason)
    environment = extra_environment("bigquery", "dbt-bigquery")
    if isinstance(environment, str):
        pytest.skip(environment)
    dbt = environment / "bin" / "dbt"
    with (
        bigquery_emulator(PROJECT, tmp_path_factory.mktemp("bqemulator")) as endpoint,
        pytest.MonkeyPatch.context() as env,
    ):
        # google-cloud-bigquery in this process and dbt's subprocess both read these.
        for name, value in endpoint.env().items():
            env.setenv(name, value)
        env.setenv("MLPLATFORM_DBT_EXECUTABLE", str(dbt))
        yield endpoint


def bigquery_settings(tmp_path: Path, source: Path, **environ: str) -> Settings:
    """Settings on the emulator, in a dataset of the test's own."""
    return Settings.from_env(
        {
            **os.environ,
            "MLPLATFORM_HOME": str(tmp_path / "home"),
            "MLPLATFORM_SOURCE": str(source),
            "MLPLATFORM_WAREHOUSE": "bigquery",
            "MLPLATFORM_WAREHOUSE_SCHEMA": f"madewithml_{uuid.uuid4().hex[:8]}",
            **environ,
        }
    )


def test_dataops_and_training_run_on_bigquery(emulator: EmulatorEndpoint, tmp_path: Path):
    source = write_source(tmp_path / "source", *make_projects_and_tags(ROWS))
    settings = bigquery_settings(tmp_path, source)

    sentence_encoder.cache_clear()
    result = materialize_all(settings, WITH_FEATURES)

    assert result.success
    assert {"projects", "tags", "labeled_projects", FEATURE_TABLE, "trained_model"} <= (
        materialized_keys(result)
    )
    # The features went through BigQuery and back: training encoded nothing more.
    projects = read_warehouse_table(settings, "projects")
    assert sentence_encoder().encoded_texts == project_text(projects).nunique()
    warehouse = build_warehouse(settings)
    texts = project_text(projects).tolist()
    stored = warehouse.embedding_lookup()(texts)
    assert sorted(stored) == sorted(texts)
    np.testing.assert_allclose(stored[texts[0]], sentence_encoder().encode(texts[:1])[0])
    cutoff = projects["created_on"].sort_values().iloc[2]
    assert len(warehouse.read_features(texts, as_of=cutoff)) == 3
    checks = check_evaluations(result)
    assert checks and all(check.passed for check in checks.values()), checks
    assert {"labeled_projects:gx_suite", "labeled_projects:not_null_labeled_projects_tag"} <= set(
        checks
    )
    labeled = read_warehouse_table(settings, "labeled_projects")
    assert list(labeled.columns) == ["id", "created_on", "title", "description", "tag"]
    assert len(labeled) == ROWS
    assert pd.api.types.is_datetime64_any_dtype(labeled["created_on"])

    node = build_definitions(settings).resolve_asset_graph().get(AssetKey("labeled_projects"))
    assert "bigquery" in node.kinds
    table = f"{PROJECT}.{settings.warehouse_schema}.labeled_projects"
    assert node.metadata["dagster/table_name"] == table
    published = result.asset_materializations_for_node("madewithml_dbt_models")[0]
    assert published.metadata["dagster/row_count"].value == ROWS


def test_failed_dbt_test_on_bigquery_blocks_training_and_keeps_the_table(
    emulator: EmulatorEndpoint, tmp_path: Path
):
    projects, tags = make_projects_and_tags(ROWS)
    source = write_source(tmp_path / "source", projects, tags)
    settings = bigquery_settings(tmp_path, source)
    assert materialize_all(settings, AssetSelection.groups("ingestion", "transformation")).success
    before = read_warehouse_table(settings, "labeled_projects")

    write_source(source, projects, tags.assign(tag=tags["tag"].mask(tags["id"] == 1, "  ")))
    result = materialize_all(settings, THROUGH_TRAINING)  # project 1's label is blank

    assert not result.success
    checks = check_evaluations(result)
    assert not checks["labeled_projects:not_blank_labeled_projects_tag"].passed
    assert checks["labeled_projects:unique_labeled_projects_id"].passed
    assert not {"labeled_projects", "trained_model"} & materialized_keys(result)
    after = read_warehouse_table(settings, "labeled_projects")
    pd.testing.assert_frame_equal(
        after.sort_values("id", ignore_index=True), before.sort_values("id", ignore_index=True)
    )


@pytest.mark.airbyte
def test_airbyte_into_bigquery_the_production_path(emulator: EmulatorEndpoint, tmp_path: Path):
    """Airbyte lands raw strings and numbers in BigQuery; dbt-bigquery's staging types them."""
    if reason := airbyte_connector_skip_reason():
        pytest.skip(reason)
    source = write_source(tmp_path / "source", *make_projects_and_tags(ROWS))
    dataset = f"madewithml_{uuid.uuid4().hex[:8]}"
    writer = BigQueryWriter(PROJECT, dataset)
    with airbyte_standin(writer, source, tmp_path / "airbyte") as airbyte:
        settings = bigquery_settings(
            tmp_path,
            source,
            MLPLATFORM_WAREHOUSE_SCHEMA=dataset,
            MLPLATFORM_INGESTION="airbyte",
            MLPLATFORM_AIRBYTE_REST_API_URL=airbyte.rest_api_base_url,
            MLPLATFORM_AIRBYTE_CONFIGURATION_API_URL=airbyte.configuration_api_base_url,
            MLPLATFORM_AIRBYTE_WORKSPACE_ID=airbyte.workspace_id,
            MLPLATFORM_AIRBYTE_CLIENT_ID=airbyte.client_id,
            MLPLATFORM_AIRBYTE_CLIENT_SECRET=airbyte.client_secret,
            MLPLATFORM_AIRBYTE_POLL_INTERVAL="0.2",
        )
        result = materialize_all(settings, THROUGH_TRAINING)

    assert result.success
    assert {"projects", "tags", "labeled_projects", "trained_model"} <= materialized_keys(result)
    assert all(check.passed for check in check_evaluations(result).values())
    landed = read_warehouse_table(settings, "projects")
    assert "_airbyte_raw_id" in landed.columns and landed["created_on"].dtype == object
    labeled = read_warehouse_table(settings, "labeled_projects")
    assert len(labeled) == ROWS
    assert pd.api.types.is_datetime64_any_dtype(labeled["created_on"])
    node = build_definitions(settings).resolve_asset_graph().get(AssetKey("projects"))
    assert {"airbyte", "bigquery"} <= node.kinds
    assert node.metadata["dagster/table_name"] == f"{PROJECT}.{dataset}.projects"
