"""Feast, as the course has it (the optional `feast` extra, in an environment of its own):
`online_features` exports the platform's `project_features` to the repository's file source,
applies the definitions and materializes the month into the online store (SQLite; Redis), and
Feast's reads agree with the platform's own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import redis
from dagster import AssetSelection

from mlplatform.core.features import FEATURE_TABLE
from mlplatform.core.text import project_text
from mlplatform.definitions import build_definitions
from mlplatform.resources import build_warehouse
from mlplatform.resources.feast_store import FeastFeatureStore
from mlplatform.settings import FEAST_REDIS_VAR, PROJECT_ROOT, Settings
from mlplatform_tests.support.commands import local_dagster_home
from mlplatform_tests.support.dataops import materialize_selection
from mlplatform_tests.support.extras import extra_environment
from mlplatform_tests.support.fixtures import make_projects_and_tags, write_source
from mlplatform_tests.support.services import REDIS, require

pytestmark = [pytest.mark.feast, pytest.mark.xdist_group("feast")]

FEATURES = AssetSelection.assets("projects", "tags", FEATURE_TABLE)
MONTHS = "2020-02-01...2020-05-01"
CUTOFF = "2020-03-20 12:00:00"  # inside the data's months: some projects are after it
REDIS_DB = 13  # this module's own Redis database, flushed before and after
COMPARED = ["text_sha256", "clean_text", "char_count", "word_count", "feature_version"]


@pytest.fixture(scope="module")
def feast_env() -> Path:
    environment = extra_environment("feast", "Feast", install_project=True)
    if isinstance(environment, str):
        pytest.skip(environment)
    return environment


@pytest.fixture(scope="module")
def environ(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An environment whose warehouse holds `project_features` for four months (built here, in
    the default environment, as the main command does)."""
    root = tmp_path_factory.mktemp("feast")
    projects, tags = make_projects_and_tags(rows=50, freq="2D")
    environ = {
        **os.environ,
        "MLPLATFORM_HOME": str(root / "home"),
        "MLPLATFORM_SOURCE": str(write_source(root / "source", projects, tags)),
        "DAGSTER_HOME": str(local_dagster_home(root / "dagster")),
    }
    result = materialize_selection(build_definitions(Settings.from_env(environ)), FEATURES)
    assert result.success
    return environ


def _materialize_online(feast_env: Path, environ: dict[str, str], months: str = MONTHS) -> str:
    """`dagster asset materialize` of `online_features` in the feast extra's environment."""
    command = [str(feast_env / "bin" / "dagster"), "asset", "materialize"]
    command += ["-m", "mlplatform.definitions", "--select", "online_features"]
    command += ["--partition-range", months]
    env = {**environ, "MLPLATFORM_FEATURE_STORE": "feast"}
    done = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


def _feast_reads(feast_env: Path, environ: dict[str, str], ids: list[int]) -> dict:
    repo = Settings.from_env(environ).feast.repo_path
    command = [str(feast_env / "bin" / "python"), "-m", "mlplatform_tests.support.feast_reads"]
    command += [str(repo), CUTOFF, *map(str, ids)]
    done = subprocess.run(command, cwd=PROJECT_ROOT, env=environ, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _stored(environ: dict[str, str], as_of: str | None = None) -> pd.DataFrame:
    """The platform's own point-in-time read: the rows of every project's text as of `as_of`."""
    warehouse = build_warehouse(Settings.from_env(environ))
    texts = project_text(warehouse.read_table("projects"))
    return warehouse.read_features(texts.tolist(), as_of).sort_values("id").reset_index(drop=True)


def _assert_same(feast: pd.DataFrame, platform: pd.DataFrame) -> None:
    feast = feast.sort_values("id").reset_index(drop=True)
    assert feast["id"].tolist() == platform["id"].tolist()
    assert feast[COMPARED].astype(str).equals(platform[COMPARED].astype(str))
    for served, stored in zip(feast["embedding"], platform["embedding"], strict=True):
        np.testing.assert_allclose(np.asarray(served), np.asarray(stored), atol=1e-6)


def test_feast_reads_what_the_platform_reads(feast_env: Path, environ: dict[str, str]) -> None:
    output = _materialize_online(feast_env, environ)
    assert "materialize from 2020-02-01 to 2020-06-01" in output  # the history, not a year back
    every = _stored(environ)
    reads = _feast_reads(feast_env, environ, every["id"].tolist())

    # get_historical_features: as of the cut-off, exactly the platform's point-in-time rows.
    as_of = _stored(environ, CUTOFF)
    assert 0 < len(as_of) < len(every)
    _assert_same(pd.DataFrame(reads["historical"]).dropna(subset=["clean_text"]), as_of)
    # get_online_features: every project's latest row.
    _assert_same(pd.DataFrame(reads["online"]), every)

    repo = Settings.from_env(environ).feast.repo_path
    offline = sorted(path.name for path in (repo / "offline" / FEATURE_TABLE).iterdir())
    assert offline == [f"2020-0{month}-01.parquet" for month in (2, 3, 4, 5)]
    # Feast's own CLI works on the repository the platform wrote.
    feast = [str(feast_env / "bin" / "feast"), "-c", str(repo)]
    for arguments in (["apply"], ["feature-views", "list"]):
        done = subprocess.run([*feast, *arguments], env=environ, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
    assert FEATURE_TABLE in done.stdout

    # A month again: that month alone, explicitly (it lies behind what is materialized).
    again = _materialize_online(feast_env, environ, "2020-03-01...2020-03-01")
    assert "materialize from 2020-03-01 to 2020-04-01" in again


@pytest.fixture
def redis_db() -> Iterator[str]:
    require("Redis", REDIS)
    client = redis.Redis(host=REDIS[0], port=REDIS[1], db=REDIS_DB)
    client.flushdb()
    yield f"{REDIS[0]}:{REDIS[1]},db={REDIS_DB}"
    client.flushdb()
    client.close()


def test_online_store_on_redis(
    feast_env: Path, environ: dict[str, str], redis_db: str, tmp_path: Path
) -> None:
    environ = {**environ, FEAST_REDIS_VAR: redis_db, "MLPLATFORM_FEAST_REPO": str(tmp_path)}
    output = _materialize_online(feast_env, environ)
    # The run's own log line is not always in the CLI's output (a CI run lost it once, with the
    # rows in Redis); what Redis holds below is the evidence, and the log never names SQLite.
    assert "Feast's sqlite" not in output
    every = _stored(environ)
    online = _feast_reads(feast_env, environ, every["id"].tolist())["online"]
    _assert_same(pd.DataFrame(online), every)
    assert redis.Redis(host=REDIS[0], port=REDIS[1], db=REDIS_DB).dbsize() == len(every)
    # The connection string stays in the environment: the file names the variable.
    assert redis_db not in (tmp_path / "feature_store.yaml").read_text()


def test_feast_is_optional(tmp_path: Path) -> None:
    """Without the setting there is no Feast asset; with it, loading imports no Feast, and a run
    without the extra fails naming it."""
    environ = {**os.environ, "MLPLATFORM_HOME": str(tmp_path)}
    default = build_definitions(Settings.from_env(environ)).resolve_asset_graph()
    chosen = build_definitions(
        Settings.from_env({**environ, "MLPLATFORM_FEATURE_STORE": "feast"})
    ).resolve_asset_graph()
    keys = {key.to_user_string() for key in chosen.get_all_asset_keys()}
    assert "online_features" in keys - {k.to_user_string() for k in default.get_all_asset_keys()}
    assert "feast" not in sys.modules
    with pytest.raises(RuntimeError, match="uv sync --extra feast"):
        FeastFeatureStore(repo_path=str(tmp_path)).store()
