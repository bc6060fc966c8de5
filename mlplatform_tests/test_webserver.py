"""The Dagster webserver loads workspace.yaml and serves the asset graph (no browser needed),
and never serves the value of a secret set in the environment."""

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
  allTopLevelResourceDetailsOrError(
    repositorySelector: {repositoryLocationName: "mlplatform", repositoryName: "__repository__"}
  ) {
    ... on ResourceDetailsList { results { name configuredValues { key value type } } }
  }
}"""
# Credentials in URLs, as a team would set them; none may reach the UI.
SECRETS = {
    "MLPLATFORM_SLACK_WEBHOOK_URL": "https://hooks.slack.invalid/services/T0/B0/webhook-secret",
    "MLFLOW_TRACKING_URI": "http://ml:tracking-secret@127.0.0.1:9",
    "MLPLATFORM_OPTUNA_STORAGE": "postgresql://optuna:optuna-secret@127.0.0.1:9/optuna",
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _graphql(port: int) -> tuple[dict, str]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": QUERY}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read().decode()
    return json.loads(body)["data"], body


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
            **SECRETS,
        },
    )
    try:
        deadline, data, body = time.monotonic() + 120, None, ""
        while time.monotonic() < deadline:
            try:
                data, body = _graphql(port)
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
        resources = {
            r["name"]: {v["key"]: v for v in r["configuredValues"]}
            for r in data["allTopLevelResourceDetailsOrError"]["results"]
        }
        assert resources["notifier"]["slack_webhook_url"]["type"] == "ENV_VAR"
        assert resources["mlflow_tracking"]["tracking_uri"]["type"] == "ENV_VAR"
        assert resources["training_policy"]["optuna_storage"]["type"] == "ENV_VAR"
        assert "-secret" not in body, "the webserver served a secret's value"
    finally:
        server.terminate()
        server.wait(timeout=30)
