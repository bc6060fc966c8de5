import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mlplatform.settings import PROJECT_ROOT, Settings

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


def test_importing_definitions_has_no_side_effects() -> None:
    completed = subprocess.run(
        [sys.executable, "-c", GUARDED_IMPORT],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        check=False,
        env={"PATH": "", "MLPLATFORM_SOURCE": "https://example.invalid/data"},
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == str(
        sorted(
            [
                "champion_model",
                "drift_report",
                "labeled_projects",
                "model_evaluation",
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


def test_default_source_is_the_pinned_public_data() -> None:
    assert "e8dfdbe98f55cba8befaf8409e16e48fac2d26d8" in Settings.from_env({}).source


def test_unknown_executor_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="MLPLATFORM_EXECUTOR"):
        Settings.from_env({"MLPLATFORM_EXECUTOR": "threads"})


def test_code_location_loads_in_dagster(tmp_path: Path) -> None:
    completed = subprocess.run(
        [
            Path(sys.executable).parent / "dagster",
            "definitions",
            "validate",
            "-w",
            "workspace.yaml",
        ],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        check=False,
        env={"DAGSTER_HOME": str(tmp_path), "PATH": str(Path(sys.executable).parent)},
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
