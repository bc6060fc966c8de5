"""The Dagster webserver loads workspace.yaml and serves the asset graph (no browser needed),
and never serves the value of a secret set in the environment."""

from pathlib import Path

from mlplatform_tests.support.commands import BIN
from mlplatform_tests.support.webserver import ASSET_NODES, dagster_server, graphql

QUERY = """{
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
    "MLPLATFORM_SOURCE": "https://reader:source-secret@127.0.0.1:9/data?X-Signature=sig-secret",
}


def test_webserver_serves_the_asset_graph(tmp_path: Path) -> None:
    binary = BIN / "dagster-webserver"
    env = {
        "DAGSTER_HOME": str(tmp_path),
        "PATH": str(binary.parent),
        "MLPLATFORM_HOME": str(tmp_path / "home"),
        **SECRETS,
    }
    with dagster_server([str(binary), "-w", "workspace.yaml"], env, tmp_path / "log") as url:
        data, body = graphql(url, QUERY)
        nodes = {
            "/".join(n["assetKey"]["path"]): n for n in graphql(url, ASSET_NODES)[0]["assetNodes"]
        }
    assert set(nodes) == {
        "projects",
        "tags",
        "labeled_projects",
        "labeling_queue",
        "label_review",
        "project_features",
        "project_predictions",
        "trained_model",
        "model_evaluation",
        "champion_model",
        "drift_report",
        "champion_performance",
    }
    assert nodes["labeled_projects"]["hasAssetChecks"] and nodes["label_review"]["hasAssetChecks"]
    assert data["workspaceOrError"]["locationEntries"][0]["name"] == "mlplatform"
    resources = {
        r["name"]: {v["key"]: v for v in r["configuredValues"]}
        for r in data["allTopLevelResourceDetailsOrError"]["results"]
    }
    assert resources["notifier"]["slack_webhook_url"]["type"] == "ENV_VAR"
    assert resources["mlflow_tracking"]["tracking_uri"]["type"] == "ENV_VAR"
    assert resources["training_policy"]["storage"]["type"] == "ENV_VAR"
    assert resources["source"]["location"]["type"] == "ENV_VAR"
    assert "-secret" not in body, "the webserver served a secret's value"
