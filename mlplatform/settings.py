"""Every setting of the platform, read from environment variables in one place.

Reading settings is cheap and side-effect free: no directory is created and nothing connects.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mlplatform.core.sources import DEFAULT_SOURCE

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
GX_PROJECT_DIR = PROJECT_ROOT / "gx"

EXECUTORS = ("in_process", "multiprocess")


@dataclass(frozen=True)
class Settings:
    """Resolved configuration; `from_env` documents each variable and its default."""

    home: Path
    source: str
    source_as_of: str | None
    duckdb_path: Path
    warehouse_schema: str
    dbt_target: str
    executor: str
    mlflow_tracking_uri: str
    mlflow_artifact_location: str
    optuna_storage: str
    tuning_trials: int
    tuning_timeout_seconds: float | None
    seed: int
    slack_webhook_url: str | None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        home = _absolute(environ.get("MLPLATFORM_HOME", ".mlplatform"))
        executor = environ.get("MLPLATFORM_EXECUTOR", "in_process")
        if executor not in EXECUTORS:
            raise ValueError(f"MLPLATFORM_EXECUTOR={executor!r}: expected one of {EXECUTORS}")
        return cls(
            home=home,
            source=environ.get("MLPLATFORM_SOURCE") or DEFAULT_SOURCE,
            source_as_of=environ.get("MLPLATFORM_SOURCE_AS_OF") or None,
            duckdb_path=_absolute(environ.get("MLPLATFORM_DUCKDB_PATH", home / "warehouse.duckdb")),
            warehouse_schema=environ.get("MLPLATFORM_WAREHOUSE_SCHEMA", "madewithml"),
            dbt_target=environ.get("MLPLATFORM_DBT_TARGET", "duckdb"),
            executor=executor,
            mlflow_tracking_uri=environ.get("MLFLOW_TRACKING_URI")
            or f"sqlite:///{home / 'mlflow.db'}",
            mlflow_artifact_location=environ.get("MLPLATFORM_MLFLOW_ARTIFACTS")
            or (home / "mlartifacts").as_uri(),
            optuna_storage=environ.get("MLPLATFORM_OPTUNA_STORAGE")
            or f"sqlite:///{home / 'optuna.db'}",
            tuning_trials=_number(environ, "MLPLATFORM_TUNING_TRIALS", int, 50),
            tuning_timeout_seconds=_number(environ, "MLPLATFORM_TUNING_TIMEOUT", float, 100.0),
            seed=_number(environ, "MLPLATFORM_SEED", int, 42),
            slack_webhook_url=environ.get("MLPLATFORM_SLACK_WEBHOOK_URL") or None,
        )


def _number(environ: Mapping[str, str], name: str, kind: type, default):
    value = environ.get(name)
    if not value:
        return default
    try:
        return kind(value)
    except ValueError as error:
        raise ValueError(f"{name}={value!r}: expected {kind.__name__}") from error


def _absolute(path: str | Path) -> Path:
    """Relative paths are taken from the project root, so dbt and Python agree on them."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path
