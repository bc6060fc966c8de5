"""What stored data looks like after a materialization is killed (-9) mid-step."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pandas as pd
import pytest

from mlplatform.settings import Settings
from mlplatform_tests.commands import BIN, local_dagster_home, materialize_command, spawn
from mlplatform_tests.dataops import materialize_dataops, read_warehouse_table
from mlplatform_tests.fixtures import make_projects_and_tags, write_source
from mlplatform_tests.mlops import mlplatform_cli

MATERIALIZE_DATAOPS = materialize_command("group:ingestion or group:transformation")
DBT_STEP_STARTED = 'Started execution of step "madewithml_dbt_models"'


def _materialize(env: dict[str, str], kill_at: str | None = None) -> tuple[int, str]:
    """Run the DataOps graph; with `kill_at`, SIGKILL its process group when that line shows."""
    process = spawn(MATERIALIZE_DATAOPS, env)
    lines = []
    for line in process.stdout:
        lines.append(line)
        if kill_at and kill_at in line:
            os.killpg(process.pid, signal.SIGKILL)
            break
    process.wait(timeout=600)
    return process.returncode, "".join(lines)


@pytest.mark.slow
def test_killed_during_dbt_keeps_the_published_table_and_a_rerun_converges(tmp_path) -> None:
    # As the README runs it: an instance whose pool lets one step at a time use the warehouse.
    dagster_home = local_dagster_home(tmp_path / "dagster")

    def env_for(home: str, source: Path) -> dict[str, str]:
        return {
            "PATH": str(BIN),
            "DAGSTER_HOME": str(dagster_home),
            "MLPLATFORM_HOME": str(tmp_path / home),
            "MLPLATFORM_SOURCE": str(source),
        }

    first = write_source(tmp_path / "first", *make_projects_and_tags(seed=1))
    second = write_source(tmp_path / "second", *make_projects_and_tags(seed=2))
    env = env_for("home", first)
    assert _materialize(env)[0] == 0
    settings = Settings.from_env(env)
    published = read_warehouse_table(settings, "labeled_projects")

    env = env_for("home", second)
    code, output = _materialize(env, kill_at=DBT_STEP_STARTED)
    assert code == -signal.SIGKILL, output[-3000:]
    pd.testing.assert_frame_equal(read_warehouse_table(settings, "labeled_projects"), published)
    # The killed run still holds the warehouse pool's slot: a new run would wait for it forever.
    recover = mlplatform_cli(env, "recover")
    assert recover.returncode == 0, recover.stderr
    assert [run["job_name"] for run in json.loads(recover.stdout)] == ["__ASSET_JOB"]
    assert json.loads(mlplatform_cli(env, "recover").stdout) == []  # nothing left to recover

    code, output = _materialize(env)
    assert code == 0, output[-3000:]
    # The reference needs no process of its own: an uninterrupted run, in this process.
    uninterrupted = Settings.from_env(env_for("clean", second))
    assert materialize_dataops(uninterrupted).success
    pd.testing.assert_frame_equal(
        read_warehouse_table(settings, "labeled_projects"),
        read_warehouse_table(uninterrupted, "labeled_projects"),
    )
