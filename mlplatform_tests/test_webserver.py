"""The Dagster webserver loads workspace.yaml and serves the asset graph (no browser needed)."""

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from mlplatform.settings import PROJECT_ROOT

QUERY = """{
  assetNodes { assetKey { path } hasAssetChecks }
  workspaceOrError { ... on Workspace { locationEntries { name } } }
}"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _graphql(port: int) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": QUERY}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["data"]


def test_webserver_serves_the_asset_graph(tmp_path: Path) -> None:
    port = _free_port()
    binary = Path(sys.executable).parent / "dagster-webserver"
    server = subprocess.Popen(
        [str(binary), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={
            "DAGSTER_HOME": str(tmp_path),
            "PATH": str(binary.parent),
            "MLPLATFORM_HOME": str(tmp_path / "home"),
        },
    )
    try:
        deadline, data = time.monotonic() + 120, None
        while time.monotonic() < deadline:
            try:
                data = _graphql(port)
                if data["assetNodes"]:
                    break
            except OSError:
                pass
            time.sleep(1)
        assert data, "webserver did not answer"
        nodes = {"/".join(n["assetKey"]["path"]): n for n in data["assetNodes"]}
        assert set(nodes) == {
            "projects",
            "tags",
            "labeled_projects",
            "trained_model",
            "model_evaluation",
            "champion_model",
            "drift_report",
        }
        assert nodes["labeled_projects"]["hasAssetChecks"]
        assert data["workspaceOrError"]["locationEntries"][0]["name"] == "mlplatform"
    finally:
        server.terminate()
        server.wait(timeout=30)
