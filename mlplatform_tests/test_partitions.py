"""Monthly partitions: boundaries, a month replaced alone, a bad month refused, months one by one
equal to the whole, the source sensor asking for the changed months, backfills from the CLI."""

import dataclasses
import os
import time
from pathlib import Path

import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance

from mlplatform.core.partitions import (
    CreationWindow,
    changed_months,
    month_key,
    monthly_fingerprints,
    newest_months,
    outside_every_month,
    projects_in,
)
from mlplatform.definitions import build_definitions
from mlplatform.ingestion.builtin import source_change_sensor
from mlplatform.lib.partitions import MONTHLY_PARTITIONS
from mlplatform.resources.source import MadeWithMLSource
from mlplatform.settings import Settings
from mlplatform_tests.support.commands import local_dagster_home, materialize_command, spawn
from mlplatform_tests.support.dataops import (
    DATAOPS,
    check_evaluations,
    materialize_dataops,
    materialize_selection,
    read_warehouse_table,
)
from mlplatform_tests.support.events import tick_sensor
from mlplatform_tests.support.fixtures import make_projects_and_tags, write_source

TABLES = ("projects", "tags", "labeled_projects")
MARCH = "2020-03-01"


def month_run(settings: Settings, month: str, instance: DagsterInstance | None = None):
    """The data assets of one month, as a sensor's run or `--partition` materializes them."""
    return materialize_selection(build_definitions(settings), DATAOPS, instance, (month, month))


def stored(settings: Settings) -> dict[str, pd.DataFrame]:
    return {
        table: read_warehouse_table(settings, table).sort_values("id").reset_index(drop=True)
        for table in TABLES
    }


def in_month(frame: pd.DataFrame, projects: pd.DataFrame, month: str) -> pd.DataFrame:
    """The rows of `frame` whose project was created in `month`."""
    ids = projects.loc[month_key(projects["created_on"]) == month, "id"]
    return frame[frame["id"].isin(ids)].sort_values("id").reset_index(drop=True)


def test_a_month_starts_at_its_first_instant_in_utc() -> None:
    created = pd.Series(
        ["2020-02-29 23:59:59.999999", "2020-03-01 00:00:00", "2020-03-31 23:59:59.999999"]
    )
    assert month_key(created).tolist() == ["2020-02-01", MARCH, MARCH]
    dagster_window = MONTHLY_PARTITIONS.time_window_for_partition_key(MARCH)
    window = CreationWindow.of(dagster_window.start, dagster_window.end)
    assert (window.start, window.end) == (pd.Timestamp(MARCH), pd.Timestamp("2020-04-01"))
    assert window.contains(created).tolist() == [False, True, True]
    # An aware timestamp is placed by its UTC time: 01:00 at UTC+2 is still February.
    aware = CreationWindow.of("2020-03-01T01:00:00+02:00", "2020-04-01T00:00:00+00:00")
    assert aware.start == pd.Timestamp("2020-02-29 23:00")


def test_the_first_month_is_a_setting_checked_by_name(tmp_path) -> None:
    settings = Settings.from_env(
        {"MLPLATFORM_HOME": str(tmp_path), "MLPLATFORM_PARTITIONS_START": "2020-04-01"}
    )
    graph = build_definitions(settings).resolve_asset_graph()
    for key in ("projects", "labeled_projects", "drift_report"):
        assert graph.get(AssetKey(key)).partitions_def.get_first_partition_key() == "2020-04-01"
    with pytest.raises(ValueError, match="MLPLATFORM_PARTITIONS_START='2020-04-15'"):
        Settings.from_env({"MLPLATFORM_PARTITIONS_START": "2020-04-15"})


def test_changed_months_are_new_changed_or_emptied() -> None:
    projects, tags = make_projects_and_tags(rows=40)
    before = monthly_fingerprints(projects, tags)
    assert sorted(before) == ["2020-02-01", MARCH, "2020-04-01"]
    shuffled = monthly_fingerprints(projects.sample(frac=1, random_state=1), tags[::-1])
    assert changed_months(shuffled, before) == []  # row order is not a change
    retagged = tags.assign(tag=tags["tag"].where(tags["id"] != 20, "other"))
    assert changed_months(monthly_fingerprints(projects, retagged), before) == [MARCH]
    without_april = projects[month_key(projects["created_on"]) != "2020-04-01"]
    assert changed_months(monthly_fingerprints(without_april, tags), before) == ["2020-04-01"]


def test_the_sensor_asks_for_exactly_the_months_that_changed(tmp_path) -> None:
    instance = DagsterInstance.ephemeral()
    projects, tags = make_projects_and_tags(rows=40)
    write_source(tmp_path, projects, tags)
    source = MadeWithMLSource(location=str(tmp_path))
    defs = build_definitions(Settings.from_env({"MLPLATFORM_HOME": str(tmp_path / "home")}))

    def tick(cursor: str | None):
        return tick_sensor(source_change_sensor, instance, cursor, defs, source=source)

    def rewrite() -> None:
        write_source(tmp_path, projects, tags)
        os.utime(tmp_path / "projects.csv", ns=(time.time_ns(), time.time_ns() + 10**9))

    first = tick(None)
    assert [r.partition_key for r in first.run_requests] == ["2020-02-01", MARCH, "2020-04-01"]
    assert not tick(first.cursor).run_requests

    rewrite()  # the files change, no row does
    touched = tick(first.cursor)
    assert not touched.run_requests and "no month" in touched.skip_message

    projects.loc[projects["id"] == 20, "title"] = "A corrected title"
    projects.loc[40] = [41, "2020-05-01 00:00:00", "New project", "Fresh description."]
    tags.loc[40] = [41, "mlops"]
    rewrite()
    changed = tick(touched.cursor)
    assert [r.partition_key for r in changed.run_requests] == [MARCH, "2020-05-01"]
    assert len({r.run_key for r in first.run_requests + changed.run_requests}) == 5


@pytest.fixture
def three_months(tmp_path, settings_for) -> tuple[Settings, Path]:
    """The fixture projects (February to April) in a warehouse, every month published."""
    source = write_source(tmp_path / "source", *make_projects_and_tags(rows=40))
    settings = settings_for(source)
    assert materialize_dataops(settings).success
    return settings, source


def test_a_month_materialized_again_replaces_exactly_its_rows(three_months) -> None:
    settings, source = three_months
    before = stored(settings)
    projects, tags = make_projects_and_tags(rows=40)
    projects.loc[projects["id"] == 20, "title"] = "A corrected March title"  # March
    projects.loc[projects["id"] == 2, "title"] = "A February edit, not yet asked for"
    projects = projects[projects["id"] != 21]  # a March project withdrawn...
    tags = tags[tags["id"] != 21]
    projects.loc[40] = [41, "2020-03-31 23:59:59", "Late March", "Arrived at the last second."]
    tags.loc[40] = [41, "mlops"]
    write_source(source, projects, tags)

    assert month_run(settings, MARCH).success
    after = stored(settings)
    for table in TABLES:
        # March holds exactly the source's March rows...
        expected = in_month(projects.merge(tags, on="id"), projects, MARCH)
        march = in_month(after[table], after["projects"], MARCH)
        assert march["id"].tolist() == expected["id"].tolist(), table
        assert after[table]["id"].is_unique
        # ...and every other month is the one stored before, edits in the source included.
        for month in ("2020-02-01", "2020-04-01"):
            pd.testing.assert_frame_equal(
                in_month(after[table], after["projects"], month),
                in_month(before[table], before["projects"], month),
            )
    march_titles = in_month(after["labeled_projects"], after["projects"], MARCH)
    assert "A corrected March title" in march_titles["title"].tolist()


def test_a_bad_month_leaves_every_month_unchanged(three_months) -> None:
    settings, source = three_months
    before = stored(settings)
    projects, tags = make_projects_and_tags(rows=40)
    projects.loc[projects["id"] == 20, "title"] = None  # a March row breaks the suite
    write_source(source, projects, tags)

    result = month_run(settings, MARCH)
    assert check_evaluations(result)["projects:gx_suite"].passed is False
    assert "labeled_projects" not in {
        e.asset_key.to_user_string() for e in result.get_asset_materialization_events()
    }
    for table, frame in stored(settings).items():
        pd.testing.assert_frame_equal(frame, before[table])


def test_an_unchanged_month_keeps_its_data_version(three_months) -> None:
    settings, _ = three_months
    instance = DagsterInstance.ephemeral()
    versions = []
    for _ in range(2):
        assert month_run(settings, MARCH, instance).success
        record = instance.fetch_materializations(AssetKey("projects"), limit=1).records[0]
        versions.append(record.asset_materialization.tags["dagster/data_version"])
    assert versions[0] == versions[1]


@pytest.mark.slow
def test_months_one_by_one_equal_the_whole_on_the_shipped_data(real_data, settings_for) -> None:
    source = pd.read_csv(real_data / "projects.csv", parse_dates=["created_on"])
    expected = source.merge(pd.read_csv(real_data / "tags.csv"), on="id", how="left")
    months = sorted(month_key(source["created_on"]).unique())
    assert len(months) == 9 and len(expected) == 955

    settings = settings_for(real_data)
    for month in months:
        assert month_run(settings, month).success, month
    one_by_one = stored(settings)["labeled_projects"]
    assert one_by_one["id"].tolist() == sorted(expected["id"])
    by_id = expected.set_index("id").loc[one_by_one["id"]]
    assert one_by_one["tag"].tolist() == by_id["tag"].tolist()

    whole = dataclasses.replace(settings, duckdb_path=settings.home / "whole.duckdb")
    assert materialize_dataops(whole).success
    pd.testing.assert_frame_equal(stored(whole)["labeled_projects"], one_by_one)

    # A month without rows is refused like any empty batch, and changes nothing.
    empty = month_run(settings, "2021-01-01")
    assert "projects" not in {
        e.asset_key.to_user_string() for e in empty.get_asset_materialization_events()
    }
    pd.testing.assert_frame_equal(stored(settings)["labeled_projects"], one_by_one)


@pytest.mark.slow
def test_a_cli_backfill_and_a_month_run_meet_without_a_lock_failure(tmp_path, settings_for) -> None:
    """A range backfill and a one-month run (what the sensor launches) of the same instance
    started together: the warehouse pool lets one write at a time, and both succeed."""
    source = write_source(tmp_path / "source", *make_projects_and_tags(rows=40))
    home = local_dagster_home(tmp_path / "dagster")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "MLPLATFORM_HOME": str(tmp_path / "home"),
        "MLPLATFORM_SOURCE": str(source),
    }
    dataops = "group:ingestion or group:transformation"
    # The instance's tables are created once before two processes use them.
    first = spawn(materialize_command(dataops, "2020-04-01...2020-04-01"), env)
    assert first.wait(timeout=300) == 0, first.stdout.read()
    processes = [
        spawn(materialize_command(dataops, "2020-02-01...2020-03-01"), env),
        spawn([*materialize_command(dataops)[:-2], "--partition", MARCH], env),
    ]
    outputs = [process.communicate(timeout=600)[0] for process in processes]
    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output[-3000:]
        assert "Could not set lock" not in output
    settings = settings_for(source)
    labeled = read_warehouse_table(settings, "labeled_projects")
    assert sorted(labeled["id"]) == list(range(1, 41))


def test_a_months_audit_sees_rows_that_would_slip_between_months() -> None:
    projects, _ = make_projects_and_tags(rows=40)
    projects["created_on"] = pd.to_datetime(projects["created_on"])
    projects.loc[projects["id"] == 30, "created_on"] = pd.NaT  # placed in no month
    projects.loc[projects["id"] == 35, "id"] = 3  # April reuses a February id
    march = CreationWindow.of(MARCH, "2020-04-01")
    february = CreationWindow.of("2020-02-01", MARCH)
    assert 30 in projects_in(projects, march)["id"].tolist()  # the suite refuses a null time
    in_february = projects_in(projects, february)["id"]
    assert (in_february == 3).sum() == 2  # the unique-id expectation sees both
    every = CreationWindow.of("2020-02-01", "2020-04-01")
    april = int((projects["created_on"] >= "2020-04-01").sum())
    assert april == 10 and outside_every_month(projects, every) == april


@pytest.mark.slow
def test_a_month_is_monitored_with_what_the_champion_saved_once(tmp_path, settings_for) -> None:
    from mlplatform.defs.monitoring.assets import DRIFT_REFERENCE, TEST_PREDICTIONS
    from mlplatform.resources import build_model_registry
    from mlplatform_tests.support.mlops import materialize_all

    projects, tags = make_projects_and_tags(rows=200, freq="1D")  # February to August
    created = pd.to_datetime(projects["created_on"])
    source = write_source(tmp_path / "source", projects[created < "2020-07-01"], tags)
    settings = settings_for(source)
    instance = DagsterInstance.ephemeral()
    assert materialize_all(settings, instance=instance).success  # champion v1, cutoff in June
    registry = build_model_registry(settings)

    monitoring = ["drift_report", "champion_performance"]
    for month, end in (("2020-07-01", "2020-08-01"), ("2020-08-01", "2020-09-01")):
        write_source(source, projects[created < end], tags)
        assert month_run(settings, month, instance).success
        defs = build_definitions(settings)
        result = materialize_selection(defs, monitoring, instance, (month, month))
        assert result.success
        metadata = {
            e.asset_key.to_user_string(): e.materialization.metadata
            for e in result.get_asset_materialization_events()
        }
        rows = int(((created >= month) & (created < end)).sum())
        assert metadata["drift_report"]["new_rows"].value == rows
        assert metadata["drift_report"]["months"].value.startswith(f"[{month} 00:00")
        # Performance: every labeled row since the cutoff up to the month's end (holdout ids out).
        since_cutoff = int(((created >= "2020-07-01") & (created < end)).sum())
        assert 0.7 * since_cutoff <= metadata["champion_performance"]["new_rows"].value
        assert metadata["champion_performance"]["new_rows"].value < since_cutoff
    for name in (DRIFT_REFERENCE, TEST_PREDICTIONS):
        assert registry.load_frame("1", name) is not None
    logs = [
        entry.user_message
        for run in instance.get_runs()
        for entry in instance.all_logs(run.run_id)
        if "saved with the version" in (entry.user_message or "")
    ]
    assert len(logs) == 1  # built the first time v1 monitored a month, read after


def test_a_rolling_training_window_keeps_the_newest_months(tmp_path) -> None:
    projects, _ = make_projects_and_tags(rows=40)  # February to April
    kept, first = newest_months(projects, 2)
    assert first == MARCH
    assert sorted(month_key(kept["created_on"]).unique()) == [MARCH, "2020-04-01"]
    assert newest_months(projects, None) == (projects, None)  # off by default: every month
    settings = Settings.from_env(
        {"MLPLATFORM_HOME": str(tmp_path), "MLPLATFORM_TRAINING_WINDOW_MONTHS": "2"}
    )
    assert build_definitions(settings).resources["training_policy"].window_months == 2
