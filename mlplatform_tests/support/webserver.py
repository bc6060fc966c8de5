"""Start Dagster's servers as a user would, on 127.0.0.1, and talk to their GraphQL API."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlplatform.settings import PROJECT_ROOT
from mlplatform_tests.support.services import background


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

    Yields the base URL; the process and its children (`dagster dev` has some) stop afterwards.
    """
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with background(
        [*command, "-h", "127.0.0.1", "-p", str(port)], env, log, PROJECT_ROOT
    ) as server:
        _wait_for_assets(base_url, server, log)
        yield base_url


def _wait_for_assets(base_url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            tail = log.read_text()[-3000:]
            raise RuntimeError(f"server exited with {server.returncode}:\n{tail}")
        try:
            if graphql(base_url, ASSET_NODES)[0]["assetNodes"]:
                return
        except (OSError, KeyError, TypeError, ValueError):
            pass
        time.sleep(1)
    raise TimeoutError(f"no assets served at {base_url} after 180 s:\n{log.read_text()[-3000:]}")
