"""Every setting of the platform, read from environment variables in one place.

Reading settings is cheap and side-effect free: no directory is created and nothing connects.
Defaults of tuning, the gate and drift live in the core's config dataclasses; this module only
says which environment variable overrides which of them. Values that may hold credentials are
`Secret`s: read from the process environment they are `dagster.EnvVar`s, so a resource's config
in the UI shows the variable's name, never its value. Which backends a choice may name is its
registry's business (`mlplatform.choices.Registry`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from dagster import EnvVar

from mlplatform.core.partitions import DEFAULT_FIRST_MONTH, parse_first_month
from mlplatform.core.predictions import LabelingConfig
from mlplatform.core.retention import RetentionConfig
from mlplatform.core.sources import DEFAULT_SOURCE, SOURCE_ALIASES, is_http, without_credentials
from mlplatform.core.tuning_config import TuningConfig

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
GX_PROJECT_DIR = PROJECT_ROOT / "gx"

# Variables that may hold credentials: resources receive them as `dagster.EnvVar`.
SLACK_WEBHOOK_VAR = "MLPLATFORM_SLACK_WEBHOOK_URL"
SOURCE_VAR = "MLPLATFORM_SOURCE"
TRACKING_URI_VAR = "MLFLOW_TRACKING_URI"
FLAG_VALUES = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
# The first monthly partition: rows created before it belong to no partition.
PARTITIONS_START_VAR = "MLPLATFORM_PARTITIONS_START"
OPTUNA_STORAGE_VAR = "MLPLATFORM_OPTUNA_STORAGE"
CELERY_BROKER_VAR = "MLPLATFORM_CELERY_BROKER"
CELERY_BACKEND_VAR = "MLPLATFORM_CELERY_BACKEND"
BIGQUERY_CREDENTIALS_VAR = "MLPLATFORM_BIGQUERY_CREDENTIALS"
AIRBYTE_CLIENT_ID_VAR = "MLPLATFORM_AIRBYTE_CLIENT_ID"
AIRBYTE_CLIENT_SECRET_VAR = "MLPLATFORM_AIRBYTE_CLIENT_SECRET"
AIRBYTE_PASSWORD_VAR = "MLPLATFORM_AIRBYTE_PASSWORD"
FEAST_REDIS_VAR = "MLPLATFORM_FEAST_REDIS"

# Names that reach SQL: a schema or dataset, a Google Cloud project (domain-scoped ones too).
SQL_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
GCP_PROJECT = re.compile(r"([a-z][a-z0-9.-]*:)?[a-z][a-z0-9-]{4,28}[a-z0-9]")

# Where `mlflow ui` serves a local store (the README's command); a tracking server is its own UI.
LOCAL_MLFLOW_UI = "http://127.0.0.1:5000"
# A self-managed Airbyte's server (`abctl local install`), whose API URLs derive from it.
AIRBYTE_LOCAL_URL = "http://localhost:8000"

# A value that may hold credentials: an `EnvVar` when it came from the process environment.
Secret = str | EnvVar


def reveal(value: Secret | None) -> str | None:
    """The value itself, for code that runs outside Dagster (the CLI)."""
    return value.get_value() if isinstance(value, EnvVar) else value


@dataclass(frozen=True)
class TuningSettings:
    """The tuning settings an environment sets; names as in `TuningConfig` and `TrainingPolicy`."""

    n_trials: int
    timeout_seconds: float | None
    workers: int
    seed: int
    storage: Secret
    window_months: int | None

    def as_fields(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Settings:
    """Resolved configuration; `from_env` documents each variable and its default."""

    home: Path
    source: Secret
    source_as_of: str | None
    partitions_start: str
    accept_shrink: bool
    label_budget: float
    ingestion: str
    warehouse: str
    duckdb_path: Path
    warehouse_schema: str
    warehouse_lock_timeout_seconds: float
    bigquery_project: str | None
    bigquery_location: str
    bigquery_credentials: Secret | None
    dbt_executable: str | None
    airbyte: AirbyteSettings
    feature_store: str
    feast: FeastSettings
    serving: ServingSettings
    executor: str
    celery_broker: Secret | None
    celery_backend: Secret | None
    mlflow_tracking_uri: Secret
    mlflow_artifact_location: str | None
    mlflow_ui_url: str
    tuning: TuningSettings
    retention: RetentionConfig
    slack_webhook_url: Secret | None

    @property
    def reports_dir(self) -> Path:
        """Where reports (drift HTML, regressions) are written, and pruned."""
        return self.home / "reports"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The process environment (secrets as `EnvVar`s), or `environ` (secrets as values)."""
        # Registries import their backends lazily: these imports stay light.
        from mlplatform.feature_store import FEATURE_STORES
        from mlplatform.ingestion import INGESTIONS
        from mlplatform.lib.execution import EXECUTORS
        from mlplatform.resources.warehouses import WAREHOUSES

        secrets = _Secrets(environ is None)
        environ = os.environ if environ is None else environ
        home = _absolute(environ.get("MLPLATFORM_HOME", ".mlplatform"))
        tracking_uri = environ.get(TRACKING_URI_VAR) or f"sqlite:///{home / 'mlflow.db'}"
        return cls(
            home=home,
            source=_source(environ, secrets),
            source_as_of=environ.get("MLPLATFORM_SOURCE_AS_OF") or None,
            partitions_start=parse_first_month(
                environ.get(PARTITIONS_START_VAR) or DEFAULT_FIRST_MONTH, PARTITIONS_START_VAR
            ),
            accept_shrink=_flag(environ, "MLPLATFORM_ACCEPT_SHRINK"),
            label_budget=_share(environ, "MLPLATFORM_LABEL_BUDGET", LabelingConfig.budget_share),
            ingestion=INGESTIONS.parse(environ),
            warehouse=WAREHOUSES.parse(environ),
            duckdb_path=_absolute(environ.get("MLPLATFORM_DUCKDB_PATH", home / "warehouse.duckdb")),
            warehouse_schema=_identifier(
                environ, "MLPLATFORM_WAREHOUSE_SCHEMA", SQL_IDENTIFIER, "madewithml"
            ),
            warehouse_lock_timeout_seconds=_number(
                environ, "MLPLATFORM_WAREHOUSE_LOCK_TIMEOUT", float, 600.0
            ),
            bigquery_project=_identifier(environ, "MLPLATFORM_BIGQUERY_PROJECT", GCP_PROJECT)
            or _identifier(environ, "GOOGLE_CLOUD_PROJECT", GCP_PROJECT),
            bigquery_location=environ.get("MLPLATFORM_BIGQUERY_LOCATION") or "US",
            bigquery_credentials=secrets.get(environ, BIGQUERY_CREDENTIALS_VAR),
            dbt_executable=environ.get("MLPLATFORM_DBT_EXECUTABLE") or None,
            airbyte=AirbyteSettings.from_env(environ, home, secrets),
            feature_store=FEATURE_STORES.parse(environ),
            feast=FeastSettings(
                repo_path=_absolute(environ.get("MLPLATFORM_FEAST_REPO", home / "feast")),
                redis_connection=secrets.get(environ, FEAST_REDIS_VAR),
            ),
            serving=ServingSettings(
                host=environ.get("MLPLATFORM_SERVE_HOST") or "127.0.0.1",
                port=_number(environ, "MLPLATFORM_SERVE_PORT", int, 8000),
                refresh_seconds=_number(environ, "MLPLATFORM_SERVE_REFRESH_SECONDS", float, 10.0),
                max_request_bytes=_number(
                    environ, "MLPLATFORM_SERVE_MAX_REQUEST_BYTES", int, 1_000_000
                ),
            ),
            executor=EXECUTORS.parse(environ),
            celery_broker=secrets.get(environ, CELERY_BROKER_VAR),
            celery_backend=secrets.get(environ, CELERY_BACKEND_VAR),
            mlflow_tracking_uri=secrets.get(environ, TRACKING_URI_VAR) or tracking_uri,
            # A tracking server keeps artifacts where it was told to (`--artifacts-destination`).
            mlflow_artifact_location=environ.get("MLPLATFORM_MLFLOW_ARTIFACTS")
            or (None if is_http(tracking_uri) else (home / "mlartifacts").as_uri()),
            mlflow_ui_url=environ.get("MLPLATFORM_MLFLOW_UI_URL") or _mlflow_ui_of(tracking_uri),
            tuning=TuningSettings(
                n_trials=_number(environ, "MLPLATFORM_TUNING_TRIALS", int, TuningConfig.n_trials),
                timeout_seconds=_number(
                    environ, "MLPLATFORM_TUNING_TIMEOUT", float, TuningConfig.timeout_seconds
                ),
                workers=_number(environ, "MLPLATFORM_TUNING_WORKERS", int, TuningConfig.workers),
                seed=_number(environ, "MLPLATFORM_SEED", int, TuningConfig.seed),
                storage=secrets.get(environ, OPTUNA_STORAGE_VAR)
                or f"sqlite:///{home / 'optuna.db'}",
                window_months=_number(environ, "MLPLATFORM_TRAINING_WINDOW_MONTHS", int, None),
            ),
            retention=_retention(environ),
            slack_webhook_url=secrets.get(environ, SLACK_WEBHOOK_VAR),
        )


@dataclass(frozen=True)
class AirbyteSettings:
    """Where the Airbyte that lands `projects` and `tags` runs (`MLPLATFORM_INGESTION=airbyte`).

    Self-managed Airbyte takes both API URLs; `cloud` uses Airbyte Cloud's fixed URLs. Either a
    client id and secret or (self-managed only) a username and password authenticate.
    """

    cloud: bool
    rest_api_url: str
    configuration_api_url: str
    workspace_id: str | None
    connection: str
    client_id: Secret | None
    client_secret: Secret | None
    username: str | None
    password: Secret | None
    state_path: Path
    sync_interval_seconds: int
    poll_interval_seconds: float
    sync_timeout_seconds: float

    @classmethod
    def from_env(cls, environ: Mapping[str, str], home: Path, secrets: _Secrets) -> AirbyteSettings:
        server = (environ.get("MLPLATFORM_AIRBYTE_URL") or AIRBYTE_LOCAL_URL).rstrip("/")
        return cls(
            cloud=_flag(environ, "MLPLATFORM_AIRBYTE_CLOUD"),
            rest_api_url=environ.get("MLPLATFORM_AIRBYTE_REST_API_URL")
            or f"{server}/api/public/v1",
            configuration_api_url=environ.get("MLPLATFORM_AIRBYTE_CONFIGURATION_API_URL")
            or f"{server}/api/v1",
            workspace_id=environ.get("MLPLATFORM_AIRBYTE_WORKSPACE_ID") or None,
            connection=environ.get("MLPLATFORM_AIRBYTE_CONNECTION") or "madewithml",
            client_id=secrets.get(environ, AIRBYTE_CLIENT_ID_VAR),
            client_secret=secrets.get(environ, AIRBYTE_CLIENT_SECRET_VAR),
            username=environ.get("MLPLATFORM_AIRBYTE_USERNAME") or None,
            password=secrets.get(environ, AIRBYTE_PASSWORD_VAR),
            state_path=_absolute(
                environ.get("MLPLATFORM_AIRBYTE_STATE", home / "airbyte_workspace.json")
            ),
            sync_interval_seconds=_number(environ, "MLPLATFORM_AIRBYTE_SYNC_INTERVAL", int, 3600),
            poll_interval_seconds=_number(environ, "MLPLATFORM_AIRBYTE_POLL_INTERVAL", float, 10.0),
            # A sync that never ends would hold the `warehouse` pool forever: past this it is
            # cancelled in Airbyte and the step fails.
            sync_timeout_seconds=_number(environ, "MLPLATFORM_AIRBYTE_SYNC_TIMEOUT", float, 3600.0),
        )


@dataclass(frozen=True)
class FeastSettings:
    """Where Feast keeps its repository (`MLPLATFORM_FEATURE_STORE=feast`): the registry, the
    offline files it reads and, unless `redis_connection` (Feast's form, `host:port,db=0`) names
    a Redis, its SQLite online store."""

    repo_path: Path
    redis_connection: Secret | None


@dataclass(frozen=True)
class ServingSettings:
    """`mlplatform serve`: where it listens, how often it checks the champion alias, and the
    largest request body it reads."""

    host: str
    port: int
    refresh_seconds: float
    max_request_bytes: int


@dataclass(frozen=True)
class _Secrets:
    """Reads variables that may hold credentials: as `EnvVar`s from the process environment."""

    as_env_vars: bool

    def get(self, environ: Mapping[str, str], name: str) -> Secret | None:
        value = environ.get(name) or None
        return EnvVar(name) if value is not None and self.as_env_vars else value


def _mlflow_ui_of(tracking_uri: str) -> str:
    """A tracking server serves its own UI; the link never carries the URI's credentials."""
    return without_credentials(tracking_uri) if is_http(tracking_uri) else LOCAL_MLFLOW_UI


def _source(environ: Mapping[str, str], secrets: _Secrets) -> Secret:
    """A location (a secret: URLs may be presigned or hold credentials), an alias from
    `SOURCE_ALIASES`, or the shipped data when unset."""
    value = environ.get(SOURCE_VAR)
    if not value:
        return DEFAULT_SOURCE
    return SOURCE_ALIASES.get(value) or secrets.get(environ, SOURCE_VAR)


def _identifier(
    environ: Mapping[str, str], name: str, pattern: re.Pattern, default: str | None = None
) -> str | None:
    """A name that goes into SQL or an API path: checked, never quoted around."""
    value = environ.get(name) or default
    if value is not None and not pattern.fullmatch(value):
        raise ValueError(f"{name}={value!r}: expected a name matching {pattern.pattern}")
    return value


def _retention(environ: Mapping[str, str]) -> RetentionConfig:
    """MLPLATFORM_KEEP_MODEL_VERSIONS and MLPLATFORM_RETENTION_DAYS (see `RetentionConfig`)."""
    versions, days, default = (
        "MLPLATFORM_KEEP_MODEL_VERSIONS",
        "MLPLATFORM_RETENTION_DAYS",
        RetentionConfig(),
    )
    try:
        return RetentionConfig(
            keep_model_versions=_number(environ, versions, int, default.keep_model_versions),
            window_days=_number(environ, days, float, default.window_days),
        )
    except ValueError as error:
        raise ValueError(f"{versions} / {days}: {error}") from error


def _flag(environ: Mapping[str, str], name: str) -> bool:
    """Off unless set to 1/true/yes (any case)."""
    value = (environ.get(name) or "0").lower()
    if value not in FLAG_VALUES:
        raise ValueError(f"{name}={environ[name]!r}: expected one of {sorted(FLAG_VALUES)}")
    return FLAG_VALUES[value]


def _number(environ: Mapping[str, str], name: str, kind: type, default):
    value = environ.get(name)
    if not value:
        return default
    try:
        return kind(value)
    except ValueError as error:
        raise ValueError(f"{name}={value!r}: expected {kind.__name__}") from error


def _share(environ: Mapping[str, str], name: str, default: float) -> float:
    value = _number(environ, name, float, default)
    if not 0 < value <= 1:
        raise ValueError(f"{name}={value!r}: expected a share of the month in (0, 1]")
    return value


def _absolute(path: str | Path) -> Path:
    """Relative paths are taken from the project root, so dbt and Python agree on them."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


@dataclass(frozen=True)
class Variable:
    """An environment variable the settings read: the `Settings` field it sets (its value with
    nothing set is the default) or, for one read only to derive others, its `default`."""

    name: str
    meaning: str
    field: str | None = None
    default: str | None = None


# Every variable `Settings.from_env` reads, for the reference (docs/reference/settings.md); a
# test fails when one is read and missing here, or listed and no longer read.
VARIABLES: tuple[Variable, ...] = (
    Variable(
        "MLPLATFORM_HOME",
        "Local state: warehouse, Dagster storage, MLflow, optuna, reports.",
        "home",
    ),
    Variable(
        SOURCE_VAR,
        "Where `projects.csv` and `tags.csv` are: a local path, `http(s)`, `s3`, `gs`/`gcs`, "
        "`az`/`abfs(s)` (files up to 1 GiB); `public` = the same files at GitHub, `shipped` = "
        "the copy in the package. May hold credentials (a presigned URL).",
        "source",
    ),
    Variable(
        "MLPLATFORM_SOURCE_AS_OF",
        "Hide rows created (and labels given) after this timestamp.",
        "source_as_of",
    ),
    Variable(
        PARTITIONS_START_VAR,
        "The first monthly partition (a month's first day); older rows belong to no partition.",
        "partitions_start",
    ),
    Variable(
        "MLPLATFORM_ACCEPT_SHRINK",
        "`1` publishes a batch that shrinks a raw table beyond the volume guard's limit "
        "(never an empty one).",
        "accept_shrink",
    ),
    Variable(
        "MLPLATFORM_LABEL_BUDGET",
        "The share of a month's projects people label: `labeling_queue` offers what the "
        "month's labels leave of it.",
        "label_budget",
    ),
    Variable(
        "MLPLATFORM_INGESTION", "The ingestion backend: the CSV loader or Airbyte.", "ingestion"
    ),
    Variable(
        "MLPLATFORM_WAREHOUSE", "The warehouse backend; it also picks the dbt target.", "warehouse"
    ),
    Variable("MLPLATFORM_DUCKDB_PATH", "The DuckDB warehouse file.", "duckdb_path"),
    Variable(
        "MLPLATFORM_WAREHOUSE_SCHEMA",
        "Schema (BigQuery: dataset) shared by the IO manager and dbt; letters, digits, `_`. "
        "dbt builds in `<schema>_staging` beside it.",
        "warehouse_schema",
    ),
    Variable(
        "MLPLATFORM_WAREHOUSE_LOCK_TIMEOUT",
        "Seconds a step waits for another process to let go of the DuckDB file before it fails.",
        "warehouse_lock_timeout_seconds",
    ),
    Variable(
        "MLPLATFORM_BIGQUERY_PROJECT",
        "The Google Cloud project of the BigQuery warehouse.",
        "bigquery_project",
    ),
    Variable("GOOGLE_CLOUD_PROJECT", "Read when `MLPLATFORM_BIGQUERY_PROJECT` is unset."),
    Variable(
        "MLPLATFORM_BIGQUERY_LOCATION",
        "The location of BigQuery jobs and datasets (also dbt's).",
        "bigquery_location",
    ),
    Variable(
        BIGQUERY_CREDENTIALS_VAR,
        "A base64 service-account key; unset: Google's application default credentials, "
        "which dbt's `bigquery` target also uses.",
        "bigquery_credentials",
    ),
    Variable(
        "MLPLATFORM_DBT_EXECUTABLE",
        "The dbt that builds the models; unset: the `dbt` beside the Python running Dagster.",
        "dbt_executable",
    ),
    Variable(
        "MLPLATFORM_AIRBYTE_URL",
        "A self-managed Airbyte's server; both API URLs below derive from it.",
        default=AIRBYTE_LOCAL_URL,
    ),
    Variable("MLPLATFORM_AIRBYTE_CLOUD", "`1`: Airbyte Cloud and its fixed URLs.", "airbyte.cloud"),
    Variable(
        "MLPLATFORM_AIRBYTE_REST_API_URL", "Airbyte's public REST API.", "airbyte.rest_api_url"
    ),
    Variable(
        "MLPLATFORM_AIRBYTE_CONFIGURATION_API_URL",
        "Airbyte's configuration API.",
        "airbyte.configuration_api_url",
    ),
    Variable(
        "MLPLATFORM_AIRBYTE_WORKSPACE_ID",
        "The Airbyte workspace (required with `MLPLATFORM_INGESTION=airbyte`).",
        "airbyte.workspace_id",
    ),
    Variable(
        "MLPLATFORM_AIRBYTE_CONNECTION",
        "The connection that lands `projects` and `tags`.",
        "airbyte.connection",
    ),
    Variable(AIRBYTE_CLIENT_ID_VAR, "Application client id.", "airbyte.client_id"),
    Variable(AIRBYTE_CLIENT_SECRET_VAR, "Application client secret.", "airbyte.client_secret"),
    Variable(
        "MLPLATFORM_AIRBYTE_USERNAME", "Basic-auth user (self-managed only).", "airbyte.username"
    ),
    Variable(AIRBYTE_PASSWORD_VAR, "Basic-auth password (self-managed only).", "airbyte.password"),
    Variable(
        "MLPLATFORM_AIRBYTE_STATE",
        "The cached workspace definitions load from (`mlplatform airbyte-state` refreshes it).",
        "airbyte.state_path",
    ),
    Variable(
        "MLPLATFORM_AIRBYTE_SYNC_INTERVAL",
        "The `airbyte_sync_sensor` syncs the connection once per this many seconds.",
        "airbyte.sync_interval_seconds",
    ),
    Variable(
        "MLPLATFORM_AIRBYTE_POLL_INTERVAL",
        "Seconds between polls of a running sync.",
        "airbyte.poll_interval_seconds",
    ),
    Variable(
        "MLPLATFORM_AIRBYTE_SYNC_TIMEOUT",
        "Seconds after which a sync is cancelled and its step fails.",
        "airbyte.sync_timeout_seconds",
    ),
    Variable(
        "MLPLATFORM_FEATURE_STORE",
        "`feast` adds `online_features` (needs `uv sync --extra feast`).",
        "feature_store",
    ),
    Variable(
        "MLPLATFORM_FEAST_REPO",
        "The Feast repository the platform writes and Feast's CLI reads.",
        "feast.repo_path",
    ),
    Variable(
        FEAST_REDIS_VAR,
        "Feast's online store in this Redis (`host:port,db=N`); unset: SQLite in the repository.",
        "feast.redis_connection",
    ),
    Variable(
        "MLPLATFORM_SERVE_HOST", "Where `mlplatform serve` listens (`--host`).", "serving.host"
    ),
    Variable("MLPLATFORM_SERVE_PORT", "Its port (`--port`).", "serving.port"),
    Variable(
        "MLPLATFORM_SERVE_REFRESH_SECONDS",
        "How often the service checks the `champion` alias.",
        "serving.refresh_seconds",
    ),
    Variable(
        "MLPLATFORM_SERVE_MAX_REQUEST_BYTES",
        "The largest request body the service reads (413 above it).",
        "serving.max_request_bytes",
    ),
    Variable("MLPLATFORM_EXECUTOR", "How a run's steps execute.", "executor"),
    Variable(CELERY_BROKER_VAR, "The Celery broker (`celery` executor).", "celery_broker"),
    Variable(
        CELERY_BACKEND_VAR, "The Celery result backend (`celery` executor).", "celery_backend"
    ),
    Variable(TRACKING_URI_VAR, "MLflow tracking and registry.", "mlflow_tracking_uri"),
    Variable(
        "MLPLATFORM_MLFLOW_ARTIFACTS",
        "The experiment's artifact location (a tracking server keeps its own).",
        "mlflow_artifact_location",
    ),
    Variable(
        "MLPLATFORM_MLFLOW_UI_URL",
        "Base of the MLflow links in metadata and in `mlplatform summary`.",
        "mlflow_ui_url",
    ),
    Variable(
        "MLPLATFORM_TUNING_TRIALS",
        "Finished optuna trials per study, over all workers.",
        "tuning.n_trials",
    ),
    Variable(
        "MLPLATFORM_TUNING_TIMEOUT",
        "An optional ceiling in seconds on top of the trial count (results then depend on the "
        "machine's load).",
        "tuning.timeout_seconds",
    ),
    Variable(
        "MLPLATFORM_TUNING_WORKERS",
        "Processes tuning one study; more than one needs a shared storage such as Postgres.",
        "tuning.workers",
    ),
    Variable("MLPLATFORM_SEED", "Seed of splits, sampler and models.", "tuning.seed"),
    Variable(OPTUNA_STORAGE_VAR, "optuna's study storage (any RDB URL).", "tuning.storage"),
    Variable(
        "MLPLATFORM_TRAINING_WINDOW_MONTHS",
        "Train on the newest N months only; unset: every month stored.",
        "tuning.window_months",
    ),
    Variable(
        "MLPLATFORM_KEEP_MODEL_VERSIONS",
        "Model versions kept beside the champion and the previous champion.",
        "retention.keep_model_versions",
    ),
    Variable(
        "MLPLATFORM_RETENTION_DAYS",
        "Runs, studies, reports and Dagster runs younger than this are kept.",
        "retention.window_days",
    ),
    Variable(
        SLACK_WEBHOOK_VAR, "Also post notifications to this Slack webhook.", "slack_webhook_url"
    ),
)
