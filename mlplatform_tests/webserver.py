"""Start Dagster's servers as a user would, on 127.0.0.1, and talk to their GraphQL API."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlplatform.settings import PROJECT_ROOT


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def graphql(base_url: str, query: str, variables: dict | None = None) -> tuple[dict, str]:
    """The `data` of a GraphQL answer, and the raw body."""
    request = urllib.request.Request(
        f"{base_url}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body = response.read().decode()
    return json.loads(body)["data"], body


ASSET_NODES = "{ assetNodes { assetKey { path } hasAssetChecks } }"


@contextmanager
def dagster_server(command: list[str], env: dict[str, str], log: Path) -> Iterator[str]:
    """Run `command` (a dagster CLI taking -h/-p) until its code location serves assets.

    Yields the base URL. The process group is stopped afterwards: `dagster dev` has children.
    """
    port = free_port()
    with log.open("w") as output:
        server = subprocess.Popen(
            [*command, "-h", "127.0.0.1", "-p", str(port)],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_assets(base_url, server, log)
        yield base_url
    finally:
        _stop(server)


def _wait_for_assets(base_url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(
                f"server exited with {server.returncode}:\n{log.read_text()[-3000:]}"
            )
        try:
            if graphql(base_url, ASSET_NODES)[0]["assetNodes"]:
                return
        except (OSError, KeyError, TypeError, ValueError):
            pass
        time.sleep(1)
    raise TimeoutError(f"no assets served at {base_url} after 180 s:\n{log.read_text()[-3000:]}")


def _stop(server: subprocess.Popen) -> None:
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
    except ProcessLookupError:
        pass
