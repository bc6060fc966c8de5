"""A local stand-in for a self-managed Airbyte server, for tests.

It speaks the parts of Airbyte's public API (`/api/public/v1`) and configuration API (`/api/v1`)
that dagster-airbyte's `AirbyteWorkspace` calls, with their real paths, bodies, status strings and
auth (client credentials -> bearer token, or basic auth). A sync job runs the real `source-file`
connector (PyPI `airbyte-source-file`, in its own cached virtual environment since its pins
conflict with ours) over one local CSV per stream, and the stand-in plays the destination: it
hands each stream's records, with Destinations V2's `_airbyte_*` columns, to a pluggable writer.

    with airbyte_standin(DuckDBWriter(path), source_dir, tmp_dir) as airbyte:
        workspace = airbyte.workspace()  # a dagster_airbyte.AirbyteWorkspace aimed at it
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit

import pandas as pd
import pytest
from filelock import FileLock

if TYPE_CHECKING:
    from dagster_airbyte import AirbyteWorkspace

# 0.6.0 (the newest) cannot be installed: it pins a smart-open version that does not exist.
SOURCE_FILE_REQUIREMENT = "airbyte-source-file==0.5.39"
TOKEN_LIFETIME_SECONDS = 180  # what Airbyte gives its application tokens
PUBLIC_PREFIX = "/api/public/v1"
CONFIG_PREFIX = "/api/v1"
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
AIRBYTE_COLUMNS = ("_airbyte_raw_id", "_airbyte_extracted_at", "_airbyte_meta")
EMPTY_COLUMN_DTYPES = {
    "string": "string",
    "number": "float64",
    "integer": "Int64",
    "boolean": "boolean",
}

# The marks of every test module that uses the stand-in: one xdist worker runs them all, so one
# stand-in serves them (its connector start-up is the slow part), and dagster-airbyte's API is
# all beta and preview: its warnings would drown the report.
AIRBYTE_TEST_MARKS = (
    pytest.mark.airbyte,
    pytest.mark.xdist_group("airbyte"),
    pytest.mark.filterwarnings("ignore::dagster.BetaWarning"),
    pytest.mark.filterwarnings("ignore::dagster.PreviewWarning"),
)


class ConnectorUnavailable(RuntimeError):
    """The connector's virtual environment could not be built (e.g. no package registry)."""


class ConnectorError(RuntimeError):
    """A connector command (spec, check, discover) failed."""


# ---------------------------------------------------------------------------------------------
# Destination writers


class DestinationWriter(Protocol):
    """Where a sync lands: Airbyte's destination, as the stand-in plays it."""

    @property
    def destination_type(self) -> str:
        """Airbyte's `destinationType` (becomes the assets' storage kind), e.g. `duckdb`."""
        ...

    @property
    def configuration(self) -> Mapping[str, Any]:
        """The destination's configuration as `GET /destinations/{id}` shows it."""
        ...

    def write(self, stream: str, records: pd.DataFrame) -> None:
        """Replace the stream's table with these records (full refresh, overwrite)."""
        ...


@dataclass(frozen=True)
class DuckDBWriter:
    """Writes each stream to `"<schema>"."<stream>"` in a DuckDB file, replacing the table."""

    path: Path
    schema: str = "main"
    lock_timeout_seconds: float = 120.0

    @property
    def destination_type(self) -> str:
        return "duckdb"

    @property
    def configuration(self) -> Mapping[str, Any]:
        # The keys Airbyte's DuckDB destination has (`destination_path`, `schema`).
        return {"destination_path": str(self.path), "schema": self.schema}

    def write(self, stream: str, records: pd.DataFrame) -> None:
        import duckdb

        self.path.parent.mkdir(parents=True, exist_ok=True)
        # The platform's warehouse takes the same `<file>.lock` around its reads and writes:
        # DuckDB lets one process at a time open the file for writing.
        with (
            FileLock(f"{self.path}.lock", timeout=self.lock_timeout_seconds),
            duckdb.connect(str(self.path)) as con,
        ):
            con.register("_standin_records", records)
            con.execute(f'create schema if not exists "{self.schema}"')
            con.execute(
                f'create or replace table "{self.schema}"."{stream}" '
                "as select * from _standin_records"
            )
            con.unregister("_standin_records")


@dataclass(frozen=True)
class BigQueryWriter:
    """Writes each stream to `<project>.<dataset>.<stream>` with a load job that replaces the
    table, as Airbyte's BigQuery destination does on a full refresh (the client reaches the
    emulator through `BIGQUERY_EMULATOR_HOST`)."""

    project: str
    dataset: str
    location: str = "US"

    @property
    def destination_type(self) -> str:
        return "bigquery"

    @property
    def configuration(self) -> Mapping[str, Any]:
        # The keys Airbyte's BigQuery destination has.
        return {
            "project_id": self.project,
            "dataset_id": self.dataset,
            "dataset_location": self.location,
        }

    def write(self, stream: str, records: pd.DataFrame) -> None:
        from google.cloud import bigquery

        client = bigquery.Client(project=self.project, location=self.location)
        client.create_dataset(f"{self.project}.{self.dataset}", exists_ok=True)
        truncate = bigquery.LoadJobConfig(write_disposition="WRITE_TRUNCATE")
        table = f"{self.project}.{self.dataset}.{stream}"
        client.load_table_from_dataframe(records, table, job_config=truncate).result()


# ---------------------------------------------------------------------------------------------
# The connector: source-file in its own virtual environment


def standins_cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "mlplatform" / "standins"


def _subprocess_env() -> dict[str, str]:
    """Our environment without what ties a Python process to our own virtual environment."""
    # DEPLOYMENT_MODE=cloud would make source-file refuse local files.
    dropped = {
        "VIRTUAL_ENV",
        "PYTHONPATH",
        "PYTHONHOME",
        "UV_PROJECT_ENVIRONMENT",
        "DEPLOYMENT_MODE",
    }
    return {key: value for key, value in os.environ.items() if key not in dropped}


def _base_python() -> str:
    # source-file needs Python < 3.12; ours is 3.11, so reuse it rather than have uv fetch one.
    return sys.executable if sys.version_info[:2] == (3, 11) else "3.11"


@cache
def ensure_source_file_connector(cache_dir: Path | None = None) -> Path:
    """The `source-file` executable, installing it into a cached venv on first use.

    Safe for several processes at once (pytest-xdist workers): one builds under a file lock and
    marks the venv ready; the others wait and reuse it. Raises ConnectorUnavailable.
    """
    cache_dir = cache_dir or standins_cache_dir()
    name = SOURCE_FILE_REQUIREMENT.replace("==", "-") + "-py311"
    venv, ready = cache_dir / name, cache_dir / name / ".mlplatform-ready"
    executable = venv / "bin" / "source-file"
    cache_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{venv}.lock", timeout=900):
        if ready.exists() and executable.exists():
            return executable
        uv = shutil.which("uv")
        if uv is None:
            raise ConnectorUnavailable("`uv` is not on PATH: cannot build the source-file venv")
        shutil.rmtree(venv, ignore_errors=True)  # a half-built one from an interrupted run
        python = str(venv / "bin" / "python")
        # Compiled at install: a connector then starts in ~2 s instead of ~5 s (this machine sets
        # PYTHONDONTWRITEBYTECODE, so no run would ever cache the compiled modules).
        install = [uv, "pip", "install", "--python", python, "-q", "--compile-bytecode"]
        for command in (
            [uv, "venv", str(venv), "--python", _base_python(), "--quiet"],
            [*install, SOURCE_FILE_REQUIREMENT],
        ):
            done = subprocess.run(
                command, capture_output=True, text=True, env=_subprocess_env(), check=False
            )
            if done.returncode != 0:
                shutil.rmtree(venv, ignore_errors=True)
                raise ConnectorUnavailable(
                    f"could not install {SOURCE_FILE_REQUIREMENT} into {venv} "
                    f"(`{' '.join(command[:3])} ...` exited {done.returncode}): "
                    f"{(done.stderr or done.stdout).strip()[-800:]}"
                )
        ready.write_text(SOURCE_FILE_REQUIREMENT + "\n")
    return executable


@cache
def airbyte_connector_skip_reason() -> str | None:
    """Why the Airbyte stand-in cannot run here (for `pytest.skip`), or None when it can."""
    try:
        ensure_source_file_connector()
    except ConnectorUnavailable as error:
        return f"Airbyte stand-in unavailable: {error}"
    return None


def source_file_config(stream: str, csv_path: Path) -> dict[str, Any]:
    """source-file's config for one local CSV (its `local` provider reads any absolute path)."""
    return {
        "dataset_name": stream,
        "format": "csv",
        "url": str(csv_path),
        "provider": {"storage": "local"},
    }


@dataclass(frozen=True)
class ConnectorFailure:
    """An error the connector reported (TRACE error) or implied (non-zero exit)."""

    external_message: str
    internal_message: str
    stacktrace: str
    failure_type: str  # Airbyte's: config_error, system_error, transient_error
    timestamp_ms: int

    @classmethod
    def system_error(cls, external_message: str, internal_message: str) -> ConnectorFailure:
        return cls(external_message, internal_message, "", "system_error", int(time.time() * 1000))


@dataclass
class _ConnectorRun:
    """What one `read` of one stream produced."""

    stream: str
    data: list[dict[str, Any]] = field(default_factory=list)
    emitted_at: list[int] = field(default_factory=list)
    bytes_emitted: int = 0
    logs: list[str] = field(default_factory=list)
    failure: ConnectorFailure | None = None


def _failure_from_trace(trace: Mapping[str, Any]) -> ConnectorFailure:
    error = trace.get("error", {})
    return ConnectorFailure(
        external_message=str(error.get("message", "")),
        internal_message=str(error.get("internal_message") or ""),
        stacktrace=str(error.get("stack_trace") or ""),
        failure_type=str(error.get("failure_type") or "system_error"),
        timestamp_ms=int(trace.get("emitted_at") or time.time() * 1000),
    )


def run_connector(
    executable: Path,
    args: Sequence[str],
    on_message: Callable[[Mapping[str, Any]], None],
    on_start: Callable[[subprocess.Popen[str]], None] = lambda process: None,
) -> tuple[int, str]:
    """Run one connector command; each Airbyte protocol message on stdout goes to `on_message`.

    Returns the exit code and the tail of stderr. Lines that are not JSON are logs, as Airbyte
    treats them.
    """
    with subprocess.Popen(
        [str(executable), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_subprocess_env(),
    ) as process:
        on_start(process)
        stderr: list[str] = []
        # Drain stderr alongside stdout so a chatty connector cannot block on a full pipe.
        drain = threading.Thread(target=lambda: stderr.extend(process.stderr or ()), daemon=True)
        drain.start()
        for line in process.stdout or ():
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                message = {"type": "LOG", "log": {"level": "INFO", "message": line.rstrip()}}
            if isinstance(message, dict):
                on_message(message)
        returncode = process.wait()
        drain.join(timeout=10)
    return returncode, "".join(stderr)[-2000:]


def discover_stream(executable: Path, config_path: Path) -> dict[str, Any]:
    """The stream source-file discovers for one config (name, json_schema, sync modes)."""
    catalogs: list[Mapping[str, Any]] = []
    failures: list[ConnectorFailure] = []

    def on_message(message: Mapping[str, Any]) -> None:
        if message.get("type") == "CATALOG":
            catalogs.append(message["catalog"])
        elif message.get("type") == "TRACE" and message["trace"].get("type") == "ERROR":
            failures.append(_failure_from_trace(message["trace"]))

    code, stderr = run_connector(executable, ["discover", "--config", str(config_path)], on_message)
    if code != 0 or failures or not catalogs:
        detail = failures[0].internal_message if failures else stderr
        raise ConnectorError(f"source-file discover failed (exit {code}): {detail}")
    return dict(catalogs[0]["streams"][0])


# ---------------------------------------------------------------------------------------------
# Jobs


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Job:
    id: int
    connection_id: str
    created_at: datetime
    hang: bool
    fail: bool
    status: str = "pending"
    updated_at: datetime = field(default_factory=_now)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    committing: bool = False
    runs: list[_ConnectorRun] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    cancel: threading.Event = field(default_factory=threading.Event)
    processes: list[subprocess.Popen[str]] = field(default_factory=list)
    thread: threading.Thread | None = None

    @property
    def rows(self) -> int:
        return sum(len(run.data) for run in self.runs)

    @property
    def bytes(self) -> int:
        return sum(run.bytes_emitted for run in self.runs)

    def public(self) -> dict[str, Any]:
        """The public API's JobResponse."""
        body: dict[str, Any] = {
            "jobId": self.id,
            "status": self.status,
            "jobType": "sync",
            "startTime": _iso(self.created_at),
            "connectionId": self.connection_id,
            "lastUpdatedAt": _iso(self.updated_at),
            "bytesSynced": self.bytes,
            "rowsSynced": self.rows,
        }
        if self.ended_at:
            body["duration"] = f"PT{(self.ended_at - self.created_at).total_seconds():.3f}S"
        return body

    def info(self) -> dict[str, Any]:
        """The configuration API's JobInfoRead (`POST /api/v1/jobs/get`), with the attempt."""
        job = {
            "id": self.id,
            "configType": "sync",
            "configId": self.connection_id,
            "createdAt": int(self.created_at.timestamp()),
            "updatedAt": int(self.updated_at.timestamp()),
            "status": self.status,
        }
        if self.started_at is None:
            return {"job": job, "attempts": []}
        stream_stats = [
            {
                "streamName": run.stream,
                "stats": {
                    "recordsEmitted": len(run.data),
                    "bytesEmitted": run.bytes_emitted,
                    "recordsCommitted": len(run.data) if self.status == "succeeded" else 0,
                },
            }
            for run in self.runs
        ]
        attempt: dict[str, Any] = {
            "id": 0,
            # Airbyte's attempts are running, succeeded or failed; a cancelled job's is failed.
            "status": {"running": "running", "succeeded": "succeeded"}.get(self.status, "failed"),
            "createdAt": int(self.started_at.timestamp()),
            "updatedAt": int(self.updated_at.timestamp()),
            "bytesSynced": self.bytes,
            "recordsSynced": self.rows if self.status == "succeeded" else 0,
            "totalStats": {"recordsEmitted": self.rows, "bytesEmitted": self.bytes},
            "streamStats": stream_stats,
        }
        if self.ended_at:
            attempt["endedAt"] = int(self.ended_at.timestamp())
        if self.failures:
            attempt["failureSummary"] = {"failures": self.failures, "partialSuccess": False}
        logs = [line for run in self.runs for line in run.logs]
        return {"job": job, "attempts": [{"attempt": attempt, "logs": {"logLines": logs}}]}


def _failure_entry(origin: str, failure: ConnectorFailure) -> dict[str, Any]:
    """One entry of an attempt's failureSummary, in Airbyte's FailureReason shape."""
    return {
        "failureOrigin": origin,
        "failureType": failure.failure_type,
        "externalMessage": failure.external_message,
        "internalMessage": failure.internal_message,
        "stacktrace": failure.stacktrace,
        "retryable": False,
        "timestamp": failure.timestamp_ms,
    }


class _Airbyte:
    """The server's state: one workspace, source, destination and connection; the jobs."""

    def __init__(
        self,
        *,
        writer: DestinationWriter,
        executable: Path,
        source_dir: Path,
        tmp_dir: Path,
        streams: Mapping[str, dict[str, Any]],
        connection_name: str,
        prefix: str,
    ) -> None:
        self.writer, self.executable = writer, executable
        self.source_dir, self.tmp_dir = source_dir, tmp_dir
        self.streams, self.connection_name, self.prefix = streams, connection_name, prefix
        self.workspace_id, self.source_id = str(uuid.uuid4()), str(uuid.uuid4())
        self.destination_id, self.connection_id = str(uuid.uuid4()), str(uuid.uuid4())
        self.client_id, self.client_secret = str(uuid.uuid4()), secrets.token_urlsafe(24)
        self.username, self.password = "airbyte", secrets.token_urlsafe(12)
        self.created_at = int(time.time())
        self.lock = threading.Lock()
        self.tokens: dict[str, float] = {}
        self.jobs: dict[int, _Job] = {}
        self.job_ids = itertools.count(1)
        self.fail_next = self.hang_next = False
        self.base_url = ""

    # -- auth ---------------------------------------------------------------------------------

    def issue_token(self, client_id: Any, client_secret: Any) -> str | None:
        if not (
            isinstance(client_id, str)
            and isinstance(client_secret, str)
            and secrets.compare_digest(client_id, self.client_id)
            and secrets.compare_digest(client_secret, self.client_secret)
        ):
            return None
        token = secrets.token_urlsafe(32)
        with self.lock:
            self.tokens[token] = time.monotonic() + TOKEN_LIFETIME_SECONDS
        return token

    def authorized(self, header: str | None) -> bool:
        scheme, _, credentials = (header or "").partition(" ")
        if scheme.lower() == "bearer":
            with self.lock:
                expiry = self.tokens.get(credentials)
            return expiry is not None and time.monotonic() < expiry
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(credentials).decode().partition(":")
            except ValueError:
                return False
            return secrets.compare_digest(f"{user}:{password}", f"{self.username}:{self.password}")
        return False

    # -- resources ----------------------------------------------------------------------------

    def workspace(self) -> dict[str, Any]:
        return {"workspaceId": self.workspace_id, "name": "mlplatform", "dataResidency": "auto"}

    def source(self) -> dict[str, Any]:
        return {
            "sourceId": self.source_id,
            "name": "madewithml files",
            "sourceType": "file",
            "workspaceId": self.workspace_id,
            "configuration": {"format": "csv", "provider": {"storage": "local"}},
            "createdAt": self.created_at,
        }

    def destination(self) -> dict[str, Any]:
        return {
            "destinationId": self.destination_id,
            "name": f"{self.writer.destination_type} (stand-in)",
            "destinationType": self.writer.destination_type,
            "workspaceId": self.workspace_id,
            "configuration": dict(self.writer.configuration),
            "createdAt": self.created_at,
        }

    def connection(self) -> dict[str, Any]:
        """The public API's ConnectionResponse."""
        return {
            "connectionId": self.connection_id,
            "name": self.connection_name,
            "sourceId": self.source_id,
            "destinationId": self.destination_id,
            "workspaceId": self.workspace_id,
            "status": "active",
            "schedule": {"scheduleType": "manual"},
            "dataResidency": "auto",
            "nonBreakingSchemaUpdatesBehavior": "ignore",
            "namespaceDefinition": "destination",
            "prefix": self.prefix,
            "configurations": {
                "streams": [
                    {"name": name, "syncMode": "full_refresh_overwrite", "cursorField": []}
                    for name in self.streams
                ]
            },
            "createdAt": self.created_at,
        }

    def connection_read(self) -> dict[str, Any]:
        """The configuration API's ConnectionRead, with the discovered catalog."""
        catalog = [
            {
                "stream": {
                    "name": name,
                    "jsonSchema": stream["json_schema"],
                    "supportedSyncModes": stream.get("supported_sync_modes", ["full_refresh"]),
                    "sourceDefinedCursor": False,
                    "defaultCursorField": [],
                    "sourceDefinedPrimaryKey": [],
                    "namespace": None,
                    "isResumable": False,
                },
                "config": {
                    "syncMode": "full_refresh",
                    "cursorField": [],
                    "destinationSyncMode": "overwrite",
                    "primaryKey": [],
                    "aliasName": name,
                    "selected": True,
                    "suggested": True,
                    "fieldSelectionEnabled": False,
                    "selectedFields": [],
                },
            }
            for name, stream in self.streams.items()
        ]
        return {
            "connectionId": self.connection_id,
            "name": self.connection_name,
            "namespaceDefinition": "destination",
            "prefix": self.prefix,
            "sourceId": self.source_id,
            "destinationId": self.destination_id,
            "operationIds": [],
            "syncCatalog": {"streams": catalog},
            "scheduleType": "manual",
            "status": "active",
            "breakingChange": False,
            "notifySchemaChanges": False,
            "nonBreakingChangesPreference": "ignore",
            "geography": "auto",
            "backfillPreference": "disabled",
            "workspaceId": self.workspace_id,
            "created_at": self.created_at,
        }

    # -- jobs ---------------------------------------------------------------------------------

    def start_job(self, connection_id: str) -> _Job | None:
        """A new sync job, or None while one of the connection's jobs is still going."""
        with self.lock:
            if any(
                job.connection_id == connection_id and job.status not in TERMINAL_STATUSES
                for job in self.jobs.values()
            ):
                return None
            job = _Job(
                id=next(self.job_ids),
                connection_id=connection_id,
                created_at=_now(),
                hang=self.hang_next,
                fail=self.fail_next,
            )
            self.hang_next = self.fail_next = False
            self.jobs[job.id] = job
        job.thread = threading.Thread(target=self._run, args=(job,), daemon=True)
        job.thread.start()
        return job

    def cancel_job(self, job: _Job) -> None:
        with self.lock:
            # Once the destination commits, the sync finishes (as Airbyte's would).
            if job.status in TERMINAL_STATUSES or job.committing:
                return
            self._finish(job, "cancelled")
            # Set under the lock: a connector starting now either is in `processes` or sees it.
            job.cancel.set()
            processes = list(job.processes)
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                process.kill()

    def _finish(self, job: _Job, status: str) -> None:
        """Set a final status (caller holds the lock); a job ends once, first end wins."""
        if job.status not in TERMINAL_STATUSES:
            job.status, job.ended_at = status, _now()
            job.updated_at = job.ended_at

    def _run(self, job: _Job) -> None:
        with self.lock:
            if job.status in TERMINAL_STATUSES:
                return
            job.status, job.started_at = "running", _now()
            job.updated_at = job.started_at
        if job.hang:
            job.cancel.wait()
            return
        job_dir = self.tmp_dir / f"job-{job.id}"
        job_dir.mkdir(parents=True, exist_ok=True)
        with ThreadPoolExecutor(max_workers=len(self.streams)) as pool:
            runs = list(pool.map(lambda name: self._read(job, job_dir, name), self.streams))
        with self.lock:
            job.runs = runs
            job.updated_at = _now()
            if job.status in TERMINAL_STATUSES:  # cancelled while the connector ran
                return
            job.failures = [_failure_entry("source", r.failure) for r in runs if r.failure]
            if job.failures:
                self._finish(job, "failed")
                return
            job.committing = True
        try:
            for run in runs:
                self.writer.write(run.stream, self._frame(job, run))
        except Exception as error:
            failure = ConnectorFailure.system_error(
                f"The destination failed to write: {error}", repr(error)
            )
            with self.lock:
                job.failures = [_failure_entry("destination", failure)]
                self._finish(job, "failed")
            return
        with self.lock:
            self._finish(job, "succeeded")

    def _read(self, job: _Job, job_dir: Path, name: str) -> _ConnectorRun:
        run = _ConnectorRun(stream=name)
        csv_path = self.source_dir / f"{name}.csv"
        if job.fail:  # the `fail_next_job` knob: the real connector meets a missing file
            csv_path = job_dir / "fail_next_job" / f"{name}.csv"
        config, catalog = job_dir / f"{name}.config.json", job_dir / f"{name}.catalog.json"
        config.write_text(json.dumps(source_file_config(name, csv_path)))
        catalog.write_text(
            json.dumps(
                {
                    "streams": [
                        {
                            "stream": self.streams[name],
                            "sync_mode": "full_refresh",
                            "destination_sync_mode": "overwrite",
                        }
                    ]
                }
            )
        )

        def on_message(message: Mapping[str, Any]) -> None:
            kind = message.get("type")
            if kind == "RECORD":
                record = message["record"]
                run.data.append(record.get("data", {}))
                run.emitted_at.append(int(record.get("emitted_at") or time.time() * 1000))
                run.bytes_emitted += len(json.dumps(record.get("data", {})))
            elif kind == "LOG":
                log = message.get("log", {})
                if len(run.logs) < 200:
                    run.logs.append(f"{name} {log.get('level', 'INFO')}: {log.get('message', '')}")
            elif kind == "TRACE" and message["trace"].get("type") == "ERROR":
                run.failure = run.failure or _failure_from_trace(message["trace"])

        def on_start(process: subprocess.Popen[str]) -> None:
            with self.lock:
                job.processes.append(process)
                cancelled = job.cancel.is_set()
            if cancelled:  # cancelled between the job's start and this process's
                process.kill()

        args = ["read", "--config", str(config), "--catalog", str(catalog)]
        code, stderr = run_connector(self.executable, args, on_message, on_start)
        if code != 0 and run.failure is None:
            run.failure = ConnectorFailure.system_error(
                f"source-file exited with code {code}", stderr.strip() or f"exit code {code}"
            )
        return run

    def _frame(self, job: _Job, run: _ConnectorRun) -> pd.DataFrame:
        """The stream's records as a table: Destinations V2's columns, then the record's own."""
        properties = self.streams[run.stream]["json_schema"].get("properties", {})
        extra = sorted({key for row in run.data for key in row} - set(properties))
        # The connector's values as it emits them (numbers stay numbers, dates stay strings).
        data = pd.DataFrame.from_records(run.data, columns=[*properties, *extra])
        for column, schema in properties.items():
            # A column with no values has no emitted type: type it from the schema, as a
            # destination does (else DuckDB makes it a column of type NULL).
            types = schema.get("type", [])
            kind = next(
                (t for t in ([types] if isinstance(types, str) else types) if t != "null"), ""
            )
            if data[column].isna().all() and kind in EMPTY_COLUMN_DTYPES:
                data[column] = data[column].astype(EMPTY_COLUMN_DTYPES[kind])
        meta = json.dumps({"changes": [], "sync_id": job.id})
        airbyte = pd.DataFrame(
            {
                "_airbyte_raw_id": pd.Series([str(uuid.uuid4()) for _ in run.data], dtype="string"),
                "_airbyte_extracted_at": pd.to_datetime(
                    pd.Series(run.emitted_at, dtype="int64"), unit="ms", utc=True
                ),
                "_airbyte_meta": pd.Series([meta] * len(run.data), dtype="string"),
            }
        )
        return pd.concat([airbyte, data], axis=1)


# ---------------------------------------------------------------------------------------------
# HTTP


def _problem(status: HTTPStatus, detail: str) -> tuple[int, dict[str, Any]]:
    """An error body as Airbyte's public API sends them (application/problem+json)."""
    title = status.phrase.lower().replace(" ", "-")
    return status.value, {
        "type": f"https://reference.airbyte.com/reference/errors#{title}",
        "title": title,
        "status": status.value,
        "detail": detail,
    }


def _page(
    airbyte: _Airbyte, path: str, items: list[dict[str, Any]], query: dict[str, str]
) -> dict[str, Any]:
    """A page of a list response, with `next`/`previous` URLs as Airbyte builds them."""
    limit = max(1, min(int(query.get("limit", 20)), 100))
    offset = max(0, int(query.get("offset", 0)))
    body: dict[str, Any] = {"data": items[offset : offset + limit]}
    url = f"{airbyte.base_url}{PUBLIC_PREFIX}{path}"
    if offset + limit < len(items):
        body["next"] = f"{url}?{urlencode({**query, 'limit': limit, 'offset': offset + limit})}"
    if offset > 0:
        previous = {**query, "limit": limit, "offset": max(0, offset - limit)}
        body["previous"] = f"{url}?{urlencode(previous)}"
    return body


def _route(
    airbyte: _Airbyte, method: str, path: str, query: dict[str, str], body: Any, auth: str | None
) -> tuple[int, dict[str, Any]]:
    if method == "POST" and path == f"{PUBLIC_PREFIX}/applications/token":
        body = body if isinstance(body, dict) else {}
        token = airbyte.issue_token(body.get("client_id"), body.get("client_secret"))
        if token is None:
            return _problem(HTTPStatus.UNAUTHORIZED, "Invalid client_id or client_secret.")
        return 200, {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME_SECONDS,
        }
    if not airbyte.authorized(auth):
        return _problem(HTTPStatus.UNAUTHORIZED, "Missing, invalid or expired credentials.")

    if path.startswith(f"{PUBLIC_PREFIX}/"):
        return _public(airbyte, method, path.removeprefix(PUBLIC_PREFIX), query, body)
    if path.startswith(f"{CONFIG_PREFIX}/") and method == "POST":
        return _config(airbyte, path.removeprefix(CONFIG_PREFIX), body)
    return _problem(HTTPStatus.NOT_FOUND, f"No route for {method} {path}.")


def _public(
    airbyte: _Airbyte, method: str, path: str, query: dict[str, str], body: Any
) -> tuple[int, dict[str, Any]]:
    resources = {
        f"/workspaces/{airbyte.workspace_id}": airbyte.workspace,
        f"/sources/{airbyte.source_id}": airbyte.source,
        f"/destinations/{airbyte.destination_id}": airbyte.destination,
        f"/connections/{airbyte.connection_id}": airbyte.connection,
    }
    if method == "GET" and path in resources:
        return 200, resources[path]()
    if method == "GET" and path == "/workspaces":
        return 200, _page(airbyte, path, [airbyte.workspace()], query)
    if method == "GET" and path == "/connections":
        ids = query.get("workspaceIds", airbyte.workspace_id).split(",")
        found = [airbyte.connection()] if airbyte.workspace_id in ids else []
        return 200, _page(airbyte, path, found, query)
    if method == "GET" and path == "/jobs":
        return 200, _page(airbyte, path, _list_jobs(airbyte, query), query)
    if method == "POST" and path == "/jobs":
        body = body if isinstance(body, dict) else {}
        if body.get("connectionId") != airbyte.connection_id:
            return _problem(
                HTTPStatus.NOT_FOUND, f"Connection {body.get('connectionId')} not found."
            )
        if body.get("jobType") != "sync":
            return _problem(HTTPStatus.BAD_REQUEST, "The stand-in runs only jobType `sync`.")
        job = airbyte.start_job(airbyte.connection_id)
        if job is None:
            return _problem(HTTPStatus.CONFLICT, "A sync is already running for this connection.")
        with airbyte.lock:
            return 200, job.public()
    if match := re.fullmatch(r"/jobs/(\d+)", path):
        job = airbyte.jobs.get(int(match.group(1)))
        if job is None:
            return _problem(HTTPStatus.NOT_FOUND, f"Job {match.group(1)} not found.")
        if method == "DELETE":
            airbyte.cancel_job(job)
        if method in ("GET", "DELETE"):
            with airbyte.lock:
                return 200, job.public()
    return _problem(HTTPStatus.NOT_FOUND, f"No route for {method} {PUBLIC_PREFIX}{path}.")


def _list_jobs(airbyte: _Airbyte, query: dict[str, str]) -> list[dict[str, Any]]:
    after = query.get("createdAtStart")
    # dagster-airbyte sends a naive local time with a `Z`; compare as written.
    start = datetime.fromisoformat(after.replace("Z", "+00:00")) if after else None
    with airbyte.lock:
        return [
            job.public()
            for job in sorted(airbyte.jobs.values(), key=lambda job: job.id, reverse=True)
            if query.get("connectionId", job.connection_id) == job.connection_id
            and query.get("status", job.status) == job.status
            and query.get("jobType", "sync") == "sync"
            and (start is None or job.created_at >= start)
        ]


def _config(airbyte: _Airbyte, path: str, body: Any) -> tuple[int, dict[str, Any]]:
    body = body if isinstance(body, dict) else {}
    if path == "/connections/get":
        if body.get("connectionId") != airbyte.connection_id:
            return 404, {"message": f"Could not find connection {body.get('connectionId')}"}
        return 200, airbyte.connection_read()
    if path == "/jobs/get":
        job = airbyte.jobs.get(body.get("id", -1))
        if job is None:
            return 404, {"message": f"Could not find job {body.get('id')}"}
        with airbyte.lock:
            return 200, job.info()
    return 404, {"message": f"No route for POST {CONFIG_PREFIX}{path}"}


def _handler(airbyte: _Airbyte) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except json.JSONDecodeError:
                status, reply = _problem(HTTPStatus.BAD_REQUEST, "The body is not JSON.")
            else:
                query = dict(parse_qsl(url.query))
                auth = self.headers.get("Authorization")
                try:
                    status, reply = _route(airbyte, self.command, url.path, query, body, auth)
                except ValueError as error:  # a malformed parameter, e.g. `limit=abc`
                    status, reply = _problem(HTTPStatus.BAD_REQUEST, str(error))
                except Exception as error:  # a 500 with the cause, not a dropped connection
                    status, reply = _problem(HTTPStatus.INTERNAL_SERVER_ERROR, repr(error))
            payload = json.dumps(reply).encode()
            self.send_response(status)
            problem = status >= 400 and url.path.startswith(PUBLIC_PREFIX)
            content_type = "application/problem+json" if problem else "application/json"
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read the API
            pass

    return Handler


# ---------------------------------------------------------------------------------------------
# The public face


@dataclass(frozen=True)
class AirbyteStandin:
    """A running stand-in: where it listens, its ids and credentials, and the test knobs."""

    rest_api_base_url: str
    configuration_api_base_url: str
    workspace_id: str
    connection_id: str
    connection_name: str
    destination_id: str
    client_id: str
    client_secret: str
    username: str
    password: str
    streams: tuple[str, ...]
    _server: _Airbyte = field(repr=False, compare=False)

    def fail_next_job(self) -> None:
        """The next sync's connector reads files that do not exist: the job fails with its
        real error in the attempt's failureSummary, and nothing is written."""
        with self._server.lock:
            self._server.fail_next = True

    def hang_next_job(self) -> None:
        """The next sync stays `running` until it is cancelled."""
        with self._server.lock:
            self._server.hang_next = True

    def job_info(self, job_id: int) -> dict[str, Any]:
        """What `POST /api/v1/jobs/get` answers for the job (attempt, stats, failures)."""
        with self._server.lock:
            return self._server.jobs[job_id].info()

    def job_ids(self) -> list[int]:
        with self._server.lock:
            return sorted(self._server.jobs)

    def workspace(self, **overrides: Any) -> AirbyteWorkspace:
        """A dagster-airbyte `AirbyteWorkspace` aimed at the stand-in, polling every 0.2 s."""
        from dagster_airbyte import AirbyteWorkspace

        settings: dict[str, Any] = {
            "rest_api_base_url": self.rest_api_base_url,
            "configuration_api_base_url": self.configuration_api_base_url,
            "workspace_id": self.workspace_id,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "poll_interval": 0.2,
            "request_max_retries": 1,
            "request_retry_delay": 0.05,
        }
        return AirbyteWorkspace(**{**settings, **overrides})


@contextlib.contextmanager
def airbyte_standin(
    writer: DestinationWriter,
    source_dir: Path,
    tmp_dir: Path,
    *,
    streams: Sequence[str] = ("projects", "tags"),
    connection_name: str = "madewithml",
    prefix: str = "",
) -> Iterator[AirbyteStandin]:
    """Serve a stand-in Airbyte on 127.0.0.1 until the block ends; each stream is
    `source_dir/<stream>.csv`. Discovers the streams' schemas with the real connector first.

    Raises ConnectorUnavailable when the connector cannot be installed (see
    `airbyte_connector_skip_reason`).
    """
    executable = ensure_source_file_connector()
    tmp_dir.mkdir(parents=True, exist_ok=True)
    discover_dir = tmp_dir / "discover"
    discover_dir.mkdir(exist_ok=True)

    def discover(name: str) -> dict[str, Any]:
        config = discover_dir / f"{name}.config.json"
        config.write_text(json.dumps(source_file_config(name, source_dir / f"{name}.csv")))
        return discover_stream(executable, config)

    with ThreadPoolExecutor(max_workers=len(streams)) as pool:
        discovered = dict(zip(streams, pool.map(discover, streams), strict=True))
    airbyte = _Airbyte(
        writer=writer,
        executable=executable,
        source_dir=source_dir,
        tmp_dir=tmp_dir,
        streams=discovered,
        connection_name=connection_name,
        prefix=prefix,
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(airbyte))
    server.daemon_threads = True
    airbyte.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    try:
        yield AirbyteStandin(
            rest_api_base_url=f"{airbyte.base_url}{PUBLIC_PREFIX}",
            configuration_api_base_url=f"{airbyte.base_url}{CONFIG_PREFIX}",
            workspace_id=airbyte.workspace_id,
            connection_id=airbyte.connection_id,
            connection_name=connection_name,
            destination_id=airbyte.destination_id,
            client_id=airbyte.client_id,
            client_secret=airbyte.client_secret,
            username=airbyte.username,
            password=airbyte.password,
            streams=tuple(streams),
            _server=airbyte,
        )
    finally:
        server.shutdown()
        server.server_close()
        for job in list(airbyte.jobs.values()):
            airbyte.cancel_job(job)
            if job.thread is not None:
                job.thread.join(timeout=30)
