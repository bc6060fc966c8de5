import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from dagster import Definitions, EnvVar

from mlplatform.choices import Registry
from mlplatform.core.sources import PROJECTS, SHIPPED_DATA_DIR, TAGS, read_table
from mlplatform.definitions import build_definitions
from mlplatform.feature_store import FEATURE_STORES
from mlplatform.ingestion import INGESTIONS
from mlplatform.lib.execution import EXECUTORS
from mlplatform.resources.warehouses import WAREHOUSES
from mlplatform.settings import PROJECT_ROOT, Settings, reveal
from mlplatform_tests.support.commands import BIN

SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"

GUARDED_IMPORT = textwrap.dedent(
    """
    import socket, subprocess, sys, duckdb

    def forbidden(*args, **kwargs):
        raise AssertionError("import-time side effect")

    socket.socket.connect = forbidden
    duckdb.connect = forbidden
    popen = subprocess.Popen.__init__

    def no_dbt(self, args, *rest, **kwargs):
        # Dagster itself runs `file` once (platform.architecture); dbt must not run at all.
        assert "dbt" not in str(args), args
        popen(self, args, *rest, **kwargs)

    subprocess.Popen.__init__ = no_dbt

    import mlplatform.definitions as definitions

    heavy = ("great_expectations", "sklearn", "mlflow", "optuna", "evidently")
    heavy = [m for m in heavy if m in sys.modules]
    assert not heavy, heavy
    graph = definitions.defs.resolve_asset_graph()
    print(sorted(k.to_user_string() for k in graph.get_all_asset_keys()))
    """
)


def run_python(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter at the project root; it must exit 0."""
    completed = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        check=False,
        env=env,
    )
    assert completed.returncode == 0, completed.stderr
    return completed


def test_importing_definitions_has_no_side_effects() -> None:
    completed = run_python(
        GUARDED_IMPORT, env={"PATH": "", "MLPLATFORM_SOURCE": "https://example.invalid/data"}
    )
    assert completed.stdout.strip() == str(
        sorted(
            [
                "champion_model",
                "champion_performance",
                "drift_report",
                "label_review",
                "labeled_projects",
                "labeling_queue",
                "model_evaluation",
                "project_features",
                "project_predictions",
                "projects",
                "tags",
                "trained_model",
            ]
        )
    )


def test_relative_paths_resolve_from_the_project_root() -> None:
    settings = Settings.from_env({"MLPLATFORM_HOME": "var/home"})
    assert settings.home == PROJECT_ROOT / "var" / "home"
    assert settings.duckdb_path == PROJECT_ROOT / "var" / "home" / "warehouse.duckdb"


def test_default_source_is_the_shipped_copy_and_public_is_one_setting_away() -> None:
    shipped = Path(Settings.from_env({}).source)
    assert shipped == SHIPPED_DATA_DIR and shipped.is_relative_to(PROJECT_ROOT / "mlplatform")
    for spec in (PROJECTS, TAGS):
        assert len(read_table(str(shipped), spec)) == 955
    assert "MIT License" in (shipped / "LICENSE").read_text()
    public = Settings.from_env({"MLPLATFORM_SOURCE": "public"}).source
    assert public.startswith("https://") and "e8dfdbe98f55cba8befaf8409e16e48fac2d26d8" in public


@pytest.mark.parametrize("registry", [EXECUTORS, WAREHOUSES, INGESTIONS, FEATURE_STORES])
def test_each_choice_is_checked_against_its_one_registry(registry: Registry) -> None:
    with pytest.raises(ValueError, match=f"{registry.variable}='nope': expected one of") as error:
        Settings.from_env({registry.variable: "nope"})
    assert str(tuple(registry.entries)) in str(error.value)
    assert getattr(
        Settings.from_env({}), registry.variable.removeprefix("MLPLATFORM_").lower()
    ) == (registry.default)


def test_secrets_from_the_process_environment_reach_resources_as_env_vars(monkeypatch) -> None:
    url = "https://hooks.slack.invalid/services/T0/B0/secret"
    monkeypatch.setenv("MLPLATFORM_SLACK_WEBHOOK_URL", url)
    from_process = Settings.from_env().slack_webhook_url
    assert isinstance(from_process, EnvVar) and from_process.env_var_name == (
        "MLPLATFORM_SLACK_WEBHOOK_URL"
    )
    assert reveal(from_process) == url
    given = Settings.from_env({"MLPLATFORM_SLACK_WEBHOOK_URL": url}).slack_webhook_url
    assert given == url and not isinstance(given, EnvVar)


GUARDED_DEFS_FOLDER = textwrap.dedent(
    """
    import importlib, pkgutil, sys
    import mlplatform.settings as settings

    def forbidden(*args, **kwargs):
        raise AssertionError("the defs folder read the environment")

    settings.Settings.from_env = classmethod(forbidden)
    import mlplatform.defs as folder

    for module in pkgutil.walk_packages(folder.__path__, "mlplatform.defs."):
        importlib.import_module(module.name)
    chosen = [m for m in ("mlplatform.ingestion", "mlplatform.definitions") if m in sys.modules]
    assert not chosen, chosen
    """
)


def test_the_defs_folder_makes_no_environment_choice() -> None:
    """Only mlplatform.definitions reads the environment and picks backends."""
    run_python(GUARDED_DEFS_FOLDER)


def _summary(description: str | None) -> str:
    """The first paragraph, on one line: what docs/reference/definitions.md shows."""
    return " ".join((description or "").strip().split("\n\n")[0].split())


def _partitioning(partitions_def) -> str | None:
    """`Monthly` for a `MonthlyPartitionsDefinition`; None when unpartitioned."""
    if partitions_def is None:
        return None
    return type(partitions_def).__name__.removesuffix("PartitionsDefinition")


def definitions_listing(defs: Definitions) -> dict[str, dict]:
    """Every asset, check, sensor, schedule and job: what the reference says of each."""
    graph = defs.resolve_asset_graph()
    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs()}
    return {
        "assets": {
            key.to_user_string(): {
                "group": spec.group_name,
                "partitions": _partitioning(spec.partitions_def),
                "upstream": sorted(dep.asset_key.to_user_string() for dep in spec.deps),
                "kinds": sorted(spec.kinds),
                "description": _summary(spec.description),
            }
            for key, spec in sorted(specs.items(), key=lambda item: item[0].to_user_string())
        },
        "asset_checks": {
            f"{spec.asset_key.to_user_string()}:{spec.name}": {
                "blocking": spec.blocking,
                "description": _summary(spec.description),
            }
            for spec in sorted(
                map(graph.get_check_spec, graph.asset_check_keys),
                key=lambda spec: spec.key.to_user_string(),
            )
        },
        "sensors": {
            sensor.name: {
                "default_status": sensor.default_status.value,
                "description": _summary(sensor.description),
            }
            for sensor in sorted(defs.sensors or [], key=lambda sensor: sensor.name)
        },
        "schedules": {
            schedule.name: {
                "cron": schedule.cron_schedule,
                "default_status": schedule.default_status.value,
                "description": _summary(schedule.description),
            }
            for schedule in sorted(defs.schedules or [], key=lambda schedule: schedule.name)
        },
        "jobs": {
            job.name: _summary(job.description)
            for job in sorted(defs.resolve_all_job_defs(), key=lambda job: job.name)
            if not job.name.startswith("__")
        },
    }


def test_definitions_match_the_snapshot(tmp_path: Path) -> None:
    """A check, sensor, schedule or job that drops out of the defs folder fails here.

    After a deliberate change: MLPLATFORM_UPDATE_SNAPSHOT=1 uv run pytest -k snapshot
    """
    listing = definitions_listing(
        build_definitions(Settings.from_env({"MLPLATFORM_HOME": str(tmp_path)}))
    )
    if os.environ.get("MLPLATFORM_UPDATE_SNAPSHOT"):
        SNAPSHOT.write_text(json.dumps(listing, indent=2) + "\n")
        pytest.fail("snapshot written: review the diff, then run again without the variable")
    assert listing == json.loads(SNAPSHOT.read_text())


def test_warehouse_tables_show_their_storage(tmp_path: Path) -> None:
    defs = build_definitions(Settings.from_env({"MLPLATFORM_HOME": str(tmp_path)}))
    specs = {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}
    for table in ("projects", "tags", "labeled_projects"):
        assert "duckdb" in specs[table].kinds
        assert specs[table].metadata["dagster/table_name"] == f"warehouse.madewithml.{table}"
    assert "duckdb" not in specs["trained_model"].kinds


def test_code_location_loads_in_dagster(tmp_path: Path) -> None:
    completed = subprocess.run(
        [
            BIN / "dagster",
            "definitions",
            "validate",
            "-w",
            "workspace.yaml",
        ],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        check=False,
        env={"DAGSTER_HOME": str(tmp_path), "PATH": str(BIN)},
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_everything_a_person_sees_first_is_described_and_owned(settings_for, source_dir) -> None:
    definitions = build_definitions(settings_for(source_dir))
    repository = definitions.get_repository_def()
    for spec in definitions.resolve_all_asset_specs():
        assert spec.description and spec.owners and spec.group_name, spec.key
    for check in repository.asset_graph.asset_check_keys:
        assert repository.asset_graph.get_check_spec(check).description, check
    for schedule_or_sensor in [*repository.sensor_defs, *repository.schedule_defs]:
        assert schedule_or_sensor.description, schedule_or_sensor.name
