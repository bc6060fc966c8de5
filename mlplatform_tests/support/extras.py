"""The project's optional extras, each synced from the lock into an environment of its own (the
test command installs the default one), once per lock."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from filelock import FileLock

from mlplatform.settings import PROJECT_ROOT
from mlplatform_tests.support.standins.bigquery import CACHE_DIR


def extra_environment(extra: str, purpose: str, install_project: bool = False) -> Path | str:
    """The environment of `--extra extra` (`purpose` says what it brings); a string says why it
    could not be made. `install_project` makes the platform importable in it (editable)."""
    # An installed project is this checkout's (editable): another checkout gets its own.
    lock = (PROJECT_ROOT / "uv.lock").read_bytes() + (str(PROJECT_ROOT) * install_project).encode()
    digest = hashlib.sha256(lock).hexdigest()[:12]
    environment = CACHE_DIR.parent / f"{extra}-{'project-' if install_project else ''}{digest}"
    synced = environment / ".synced"  # written last: an interrupted sync is redone
    with FileLock(f"{environment}.lock", timeout=900):
        if synced.exists():
            return environment
        if shutil.which("uv") is None:
            return f"uv is not on PATH: it installs the `{extra}` extra ({purpose})"
        command = ["uv", "sync", "--locked", "--extra", extra, "--no-dev", "--compile-bytecode"]
        command += [] if install_project else ["--no-install-project"]
        env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(environment)}
        done = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            shutil.rmtree(environment, ignore_errors=True)
            return f"could not install the {extra} extra ({purpose}): {done.stderr[-800:]}"
        synced.touch()
    return environment
