"""The machine's services (Postgres, Redis, RabbitMQ) for deployment tests: each test gets its
own database; a machine without a service skips those tests and names it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

POSTGRES = ("127.0.0.1", 5432)
REDIS = ("127.0.0.1", 6379)
RABBITMQ = ("127.0.0.1", 5672)
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
# SQLAlchemy 2.1 defaults to psycopg 3 for `postgresql://`; Dagster's NOTIFY needs psycopg2, which
# dagster-postgres installs, so every SQLAlchemy URL (Dagster, MLflow, optuna) names it.
SQLALCHEMY_SCHEME = "postgresql+psycopg2"


def require(name: str, address: tuple[str, int]) -> None:
    try:
        socket.create_connection(address, timeout=2).close()
    except OSError:
        pytest.skip(f"{name} is not reachable at {address[0]}:{address[1]}")


@contextmanager
def postgres_database(prefix: str = "mlplatform_test") -> Iterator[str]:
    """A fresh database, dropped afterwards; yields its SQLAlchemy URL."""
    import psycopg2

    require("PostgreSQL", POSTGRES)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(POSTGRES_ADMIN_URL)
    admin.autocommit = True
    try:
        admin.cursor().execute(f'create database "{name}"')
        yield f"{SQLALCHEMY_SCHEME}://postgres@127.0.0.1:5432/{name}"
    finally:
        admin.cursor().execute(f'drop database if exists "{name}" with (force)')
        admin.close()


@contextmanager
def background(command: list[str], env: dict[str, str], log: Path, cwd: Path) -> Iterator:
    """A long-running process in its own session, stopped (with its children) afterwards."""
    with log.open("w") as output:
        process = subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, sig)
                process.wait(timeout=30)
                break
            except subprocess.TimeoutExpired:
                continue
            except ProcessLookupError:
                break


def wait_for_http(url: str, process: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited:\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=5).close()
            return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"{url} did not answer in {timeout} s:\n{log.read_text()[-3000:]}")


@contextmanager
def mlflow_server(backend_store: str, artifacts: Path, port: int, log: Path) -> Iterator[str]:
    """`mlflow server` on 127.0.0.1:`port` over `backend_store`; yields its URL once healthy."""
    from mlplatform_tests.support.commands import BIN

    command = [
        str(BIN / "mlflow"),
        "server",
        "--backend-store-uri",
        backend_store,
        "--artifacts-destination",
        artifacts.as_uri(),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    env = {"PATH": str(BIN), "MLFLOW_DISABLE_TELEMETRY": "true"}
    with background(command, env, log, artifacts.parent) as server:
        url = f"http://127.0.0.1:{port}"
        wait_for_http(f"{url}/health", server, log)
        yield url


@dataclass(frozen=True)
class PrivatePostgres:
    """A PostgreSQL server of the test's own (data directory, port), which it may restart."""

    data_dir: Path
    port: int

    def url(self, database: str = "postgres") -> str:
        return f"{SQLALCHEMY_SCHEME}://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg2

        admin = psycopg2.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres")
        admin.autocommit = True
        admin.cursor().execute(f'create database "{name}"')
        admin.close()
        return self.url(name)

    def starts(self) -> int:
        """How many times the server has started (its log says so each time)."""
        log = (self.data_dir / "server.log").read_text()
        return log.count("database system is ready to accept connections")

    def pg_ctl(self, action: str, *args: str) -> None:
        """`pg_ctl action` (start, restart, stop); the server logs to a file, never to our pipe."""
        options = f"-p {self.port} -k {self.data_dir} -c listen_addresses=127.0.0.1"
        log = ["-l", str(self.data_dir / "server.log")] if action != "stop" else []
        _as_postgres(["pg_ctl", action, "-D", str(self.data_dir), "-o", options, "-w", *log, *args])


@contextmanager
def private_postgres(port: int) -> Iterator[PrivatePostgres]:
    """initdb (trust auth) and start a server on 127.0.0.1:`port`; stopped and deleted afterwards.

    The data directory is made under /tmp, not pytest's (root-only) temporary folder: as root,
    the server runs as the `postgres` user, which must reach it."""
    if shutil.which("initdb") is None:
        pytest.skip("PostgreSQL's initdb is not on PATH: no private server")
    directory = Path(tempfile.mkdtemp(prefix="mlplatform-pg-"))
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(directory, "postgres")
    _as_postgres(["initdb", "-D", str(directory), "-U", "postgres", "--auth=trust", "-E", "UTF8"])
    server = PrivatePostgres(directory, port)
    server.pg_ctl("start")
    try:
        yield server
    finally:
        server.pg_ctl("stop", "-m", "immediate")
        shutil.rmtree(directory, ignore_errors=True)


def _as_postgres(command: list[str]) -> None:
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run([*prefix, *command], check=True, capture_output=True, text=True)
