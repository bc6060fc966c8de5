"""A local BigQuery emulator for tests: PyPI's `bqemulator` (DuckDB-backed) on 127.0.0.1.

The emulator lives in its own virtual environment, cached under
`~/.cache/mlplatform/standins/bqemulator-<version>`, because its pins conflict with the project's.
Clients reach it through `EmulatorEndpoint.env()`: google-cloud-bigquery (and so dagster-gcp,
dagster-gcp-pandas and dbt-bigquery) honours `BIGQUERY_EMULATOR_HOST`, and a static
`authorized_user` credentials file with a far-future token keeps google-auth from ever asking
Google for one.

Launch-time patches (`_LAUNCHER`, run by the emulator's python; site-packages stay untouched):

- `DuckDBEngine._load_spatial` does nothing: start-up runs `INSTALL spatial`, which downloads a
  DuckDB extension and fails offline. Only GEOGRAPHY / `ST_*` SQL is lost.
- `*/*` joins the upload endpoint's permitted media types: google-cloud-bigquery sends the media
  part of a multipart load job (`load_table_from_dataframe`, `load_table_from_file`) as `*/*`,
  which bqemulator 1.4.0 rejects with a 400.

Settings, not patches: `BQEMU_ENABLE_FORMAT_EXTENSIONS=false` skips the best-effort
`INSTALL avro` (a network attempt at every start), and numpy is installed beside bqemulator
because its start-up UDF registration needs it while only its extras name it.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from mlplatform_tests.support.services import background

BQEMULATOR_VERSION = "1.4.0"
# numpy: see the module docstring.
REQUIREMENTS = (f"bqemulator=={BQEMULATOR_VERSION}", "numpy>=1.26")
CACHE_DIR = Path(
    os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"),
    "mlplatform",
    "standins",
    f"bqemulator-{BQEMULATOR_VERSION}",
)

_LAUNCHER = """\
import sys
from bqemulator.api.routes import upload
from bqemulator.storage import engine
engine.DuckDBEngine._load_spatial = lambda self: None
upload._PERMITTED_MEDIA_CONTENT_TYPES = (*upload._PERMITTED_MEDIA_CONTENT_TYPES, "*/*")
from bqemulator.cli import main
sys.exit(main())
"""

# Any token works; only its expiry matters: google-auth refreshes a token that expires (or has no
# expiry in an authorized_user file), and a refresh goes to Google.
_CREDENTIALS = {
    "type": "authorized_user",
    "client_id": "bqemulator",
    "client_secret": "bqemulator",
    "refresh_token": "bqemulator",
    "token": "bqemulator",
    "expiry": "2999-01-01T00:00:00Z",
}


class EmulatorUnavailable(RuntimeError):
    """The emulator cannot be installed here; the message is a `pytest.skip` reason."""


@dataclass(frozen=True)
class EmulatorEndpoint:
    """A running emulator: its REST URL, the project it defaults to and a credentials file."""

    host: str
    project: str
    credentials: Path

    def env(self) -> dict[str, str]:
        """The variables that point google-cloud-bigquery (in-process or a subprocess) here."""
        return {
            "BIGQUERY_EMULATOR_HOST": self.host,
            "GOOGLE_APPLICATION_CREDENTIALS": str(self.credentials),
            "GOOGLE_CLOUD_PROJECT": self.project,
        }


def emulator_python(cache_dir: Path = CACHE_DIR) -> Path:
    """The emulator venv's python, installing the venv once; raises `EmulatorUnavailable`."""
    python = _ensure_venv(cache_dir)
    if isinstance(python, Path) and not python.exists():  # the cache was wiped since: redo it
        _ensure_venv.cache_clear()
        python = _ensure_venv(cache_dir)
    if isinstance(python, str):
        raise EmulatorUnavailable(python)
    return python


def unavailable_reason(cache_dir: Path = CACHE_DIR) -> str | None:
    """Why the emulator cannot run here (for `pytest.skip`), or None when it can."""
    try:
        emulator_python(cache_dir)
    except EmulatorUnavailable as error:
        return str(error)
    return None


@functools.cache
def _ensure_venv(cache_dir: Path) -> Path | str:
    """The venv's python, or why it could not be made (remembered, so one process tries once)."""
    python = cache_dir / "bin" / "python"
    done = cache_dir / ".installed"
    cache_dir.parent.mkdir(parents=True, exist_ok=True)
    # xdist workers start together: one installs, the others wait and then reuse it.
    with FileLock(f"{cache_dir}.lock", timeout=900):
        if done.exists():
            return python
        uv = shutil.which("uv")
        if uv is None:
            return "uv is not on PATH: it installs the BigQuery emulator's virtual environment"
        shutil.rmtree(cache_dir, ignore_errors=True)  # a half-made venv from an interrupted run
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        steps = (
            [uv, "venv", "--quiet", "--python", version, str(cache_dir)],
            [uv, "pip", "install", "--quiet", "--python", str(python), *REQUIREMENTS],
        )
        wanted = " ".join(REQUIREMENTS)
        for step in steps:
            try:
                result = subprocess.run(step, capture_output=True, text=True, timeout=600)
            except subprocess.TimeoutExpired:
                return f"installing {wanted} took over 600 s (is PyPI reachable?)"
            if result.returncode != 0:
                shutil.rmtree(cache_dir, ignore_errors=True)
                tail = (result.stderr or result.stdout).strip()[-800:]
                return f"could not install {wanted} into {cache_dir} (is PyPI reachable?): {tail}"
        done.write_text(" ".join(REQUIREMENTS))
        return python


@contextmanager
def bigquery_emulator(
    project: str, tmp_dir: Path, timeout: float = 60
) -> Iterator[EmulatorEndpoint]:
    """A fresh, empty emulator for `project` on a free 127.0.0.1 port, stopped afterwards."""
    python = emulator_python()
    tmp_dir.mkdir(parents=True, exist_ok=True)
    credentials = tmp_dir / "bigquery-credentials.json"
    credentials.write_text(json.dumps(_CREDENTIALS))
    log = tmp_dir / "bqemulator.log"
    # The caller's PYTHONPATH / PYTHONHOME would leak the project's packages into the emulator.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env |= {"BQEMU_ENABLE_FORMAT_EXTENSIONS": "false", "BQEMU_LOG_FORMAT": "json"}
    env["BQEMU_UPLOAD_STAGING_DIR"] = str(tmp_dir / "bqemulator-uploads")
    # In-memory (the default): ~0.2 s faster to start than a DuckDB file and nothing to clean up.
    command = [str(python), "-c", _LAUNCHER, "start", "--project", project]
    command += ["--rest-port", "0", "--grpc-port", "0"]
    # Port 0 and the port read back from the log: no race with another worker picking the same.
    with background(command, env=env, log=log, cwd=tmp_dir) as process:
        host = _wait_until_serving(process, log, timeout)
        yield EmulatorEndpoint(host=host, project=project, credentials=credentials)


def _wait_until_serving(process: subprocess.Popen, log: Path, timeout: float) -> str:
    """The emulator's REST URL once it answers `/healthz`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"bqemulator exited:\n{log.read_text()[-3000:]}")
        host = _listening_url(log)
        if host is not None:
            try:
                urllib.request.urlopen(f"{host}/healthz", timeout=5).close()
                return host
            except OSError:
                pass
        time.sleep(0.2)
    raise TimeoutError(f"bqemulator did not answer in {timeout} s:\n{log.read_text()[-3000:]}")


def _listening_url(log: Path) -> str | None:
    """The REST URL from the emulator's `rest.listen` JSON log event, once it has logged it."""
    for line in log.read_text().splitlines():
        if '"rest.listen"' in line:
            event = json.loads(line)
            return f"http://{event['host']}:{event['port']}"
    return None
