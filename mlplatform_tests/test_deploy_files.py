"""The deployment files are safe to ship: `deploy/helm/values.yaml` is valid for the official
Dagster Helm chart (checked offline against its vendored values schema, and a broken copy is
not), pins its image, holds no secret, exposes the unauthenticated code server only inside the
cluster and keeps MLPLATFORM_HOME on a PersistentVolumeClaim; `deploy/Dockerfile` ends as a
non-root user. Fast, no network, no cluster."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from itertools import groupby
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator, ValidationError

from mlplatform.settings import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "deploy"
VALUES = DEPLOY / "helm" / "values.yaml"
SCHEMA = DEPLOY / "helm" / "vendor" / "dagster-values.schema.json"
PVC = DEPLOY / "helm" / "mlplatform-home-pvc.yaml"
NETWORK_POLICY = DEPLOY / "helm" / "networkpolicy.yaml"
SERVICE = DEPLOY / "helm" / "prediction-service.yaml"
SECRET_NAME = re.compile(r"password|secret|token|api_?key|webhook", re.IGNORECASE)
URL_WITH_CREDENTIALS = re.compile(r"://[^/\s:@]+:[^/\s@]+@")


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _walk(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every (path, value) pair of a YAML tree, the root included."""
    yield path, node
    if isinstance(node, dict | list):
        for key, child in node.items() if isinstance(node, dict) else enumerate(node):
            yield from _walk(child, (*path, key))


def _local(node: Any) -> Any:
    """The schema without its `$ref`s to the Kubernetes definitions on the web (they would need
    the network): those objects keep only their sibling keywords, e.g. `type: object`."""
    if isinstance(node, dict):
        return {
            key: _local(value)
            for key, value in node.items()
            if not (key == "$ref" and not value.startswith("#"))
        }
    return [_local(item) for item in node] if isinstance(node, list) else node


def _filled_by_chart_defaults(error: ValidationError) -> bool:
    """Helm validates this file merged over the chart's own values.yaml, whose maps hold every key
    the schema requires; lists are replaced whole, so a missing key inside a list item (e.g. a
    deployment without `image`) is a real error."""
    if error.validator == "required":
        return not any(isinstance(part, int) for part in error.absolute_path)
    if error.validator in ("anyOf", "oneOf"):
        branches = groupby(
            sorted(error.context or [], key=lambda e: e.relative_schema_path[0]),
            key=lambda e: e.relative_schema_path[0],
        )
        return any(all(map(_filled_by_chart_defaults, errors)) for _, errors in branches)
    return False


def chart_errors(values: dict[str, Any]) -> list[str]:
    schema = _local(json.loads(SCHEMA.read_text()))
    Draft202012Validator.check_schema(schema)
    errors = Draft202012Validator(schema).iter_errors(values)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in errors
        if not _filled_by_chart_defaults(e)
    ]


def _deployment(values: dict[str, Any]) -> dict[str, Any]:
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    return deployment


def test_values_validate_against_the_charts_schema() -> None:
    """Every key values.yaml sets exists in the chart with the right type, enum value and shape."""
    assert chart_errors(_load(VALUES)) == []


def _port_as_text(values: dict[str, Any]) -> None:
    _deployment(values)["port"] = "4266"


def _unknown_service_key(values: dict[str, Any]) -> None:
    values["dagsterWebserver"]["service"]["nodePort"] = 30080


def _deployment_without_image(values: dict[str, Any]) -> None:
    del _deployment(values)["image"]


def _bad_pull_policy(values: dict[str, Any]) -> None:
    _deployment(values)["image"]["pullPolicy"] = "Sometimes"


@pytest.mark.parametrize(
    "break_values",
    [_port_as_text, _unknown_service_key, _deployment_without_image, _bad_pull_policy],
)
def test_a_broken_copy_of_the_values_does_not_validate(
    break_values: Callable[[dict[str, Any]], None],
) -> None:
    """The schema check can fail: a wrong type, an unknown key in a strict object, a key missing
    from a list item and a value outside an enum are each caught."""
    values = copy.deepcopy(_load(VALUES))
    break_values(values)
    assert chart_errors(values)


def test_every_image_is_pinned() -> None:
    """Each image names a fixed tag (or a digest), never `latest`: all nodes run the same code."""
    images = [v for _, v in _walk(_load(VALUES)) if isinstance(v, dict) and "repository" in v]
    assert images, "no image in the values"
    for image in images:
        tag, digest = image.get("tag"), image.get("digest")
        assert digest or (isinstance(tag, str) and tag and tag != "latest"), image
        assert image["pullPolicy"] in ("IfNotPresent", "Always"), image


def test_no_secret_is_written_in_the_values() -> None:
    """The Postgres password comes from a pre-created Secret, and no password, token, webhook or
    credentialed URL is a plain value anywhere in the file."""
    values = _load(VALUES)
    assert "postgresqlPassword" not in values["postgresql"]
    assert values["generatePostgresqlPasswordSecret"] is False
    assert values["global"]["postgresqlSecretName"]
    for path, value in _walk(values):
        key = path[-1] if path else ""
        if isinstance(key, str) and SECRET_NAME.search(key) and not key.endswith("SecretName"):
            assert type(value) not in (str, int, float), f"{path} holds a secret value"
        if isinstance(value, dict) and SECRET_NAME.search(str(value.get("name", ""))):
            assert "value" not in value, f"{path}: {value['name']} as a plain env value"
        if isinstance(value, str):
            assert not URL_WITH_CREDENTIALS.search(value), f"{path}: credentials in a URL"


def test_the_dockerfile_ends_as_a_non_root_user() -> None:
    """The last `USER` before `CMD` is a numeric uid other than 0: the code server is not root."""
    lines = (DEPLOY / "Dockerfile").read_text().splitlines()
    instructions = [line.split(maxsplit=1) for line in lines if re.match(r"[A-Z]+\s", line)]
    keywords = [keyword for keyword, _ in instructions]
    assert "CMD" in keywords
    users = [
        arg.strip() for keyword, arg in instructions[: keywords.index("CMD")] if keyword == "USER"
    ]
    assert users, "no USER before CMD"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), users[-1]
    assert user.isdigit(), "a numeric uid, so Kubernetes' runAsNonRoot can verify it"


def test_the_code_server_is_reachable_only_inside_the_cluster() -> None:
    """No NodePort, LoadBalancer, Ingress or host port: the unauthenticated gRPC code server (and
    the webserver) keep ClusterIP Services, and the NetworkPolicy guards the code server's port."""
    values = _load(VALUES)
    exposed = [p for p, v in _walk(values) if v in ("NodePort", "LoadBalancer")]
    assert exposed == []
    services = [v for p, v in _walk(values) if p and p[-1] == "service" and isinstance(v, dict)]
    assert all(service.get("type", "ClusterIP") == "ClusterIP" for service in services)
    assert "service" not in _deployment(values), "the chart's code server Service is ClusterIP"
    assert values["ingress"]["enabled"] is False
    assert not any(p and p[-1] in ("hostPort", "hostNetwork") for p, _ in _walk(values))
    policy = _load(NETWORK_POLICY)
    assert policy["spec"]["podSelector"]["matchLabels"]["deployment"] == _deployment(values)["name"]
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": _deployment(values)["port"]}]


def test_mlplatform_home_is_a_persistent_volume_claim() -> None:
    """MLPLATFORM_HOME is the mount of the shared claim deploy/helm/mlplatform-home-pvc.yaml
    creates, in the code server and the run pods, so reports and pickled outputs outlive a pod."""
    deployment = _deployment(_load(VALUES))
    env = {item["name"]: item.get("value") for item in deployment["env"]}
    (mount,) = [m for m in deployment["volumeMounts"] if m["mountPath"] == env["MLPLATFORM_HOME"]]
    (volume,) = [v for v in deployment["volumes"] if v["name"] == mount["name"]]
    claim = _load(PVC)
    assert volume.get("persistentVolumeClaim", {}).get("claimName") == claim["metadata"]["name"]
    assert "ReadWriteMany" in claim["spec"]["accessModes"]
    assert deployment["includeConfigInLaunchedRuns"]["enabled"] is True, "run pods mount it too"


def test_the_prediction_service_runs_the_same_image_and_is_ready_only_with_a_champion() -> None:
    """`deploy/helm/prediction-service.yaml`: the code location's pinned image, `mlplatform serve`
    on the port its Service targets, readiness on `/health` (200 only with a champion loaded), a
    non-root user, the registry URI from the secret, and only a ClusterIP Service."""
    deployment, service = yaml.safe_load_all(SERVICE.read_text())
    image = _deployment(_load(VALUES))["image"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"{image['repository']}:{image['tag']}"
    assert container["command"][:2] == ["mlplatform", "serve"]
    port = container["command"][container["command"].index("--port") + 1]
    (named,) = container["ports"]
    assert str(named["containerPort"]) == port
    assert container["readinessProbe"]["httpGet"] == {"path": "/health", "port": named["name"]}
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    assert {"secretRef": {"name": "mlplatform-secrets"}} in container["envFrom"]
    assert not any(SECRET_NAME.search(item["name"]) for item in container.get("env", []))
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["type"] == "ClusterIP" and service["spec"]["selector"] == selector
    assert service["spec"]["ports"][0]["targetPort"] == named["name"]
