"""`mlplatform serve`, started as a process: answers with the champion, follows promotions and
rollbacks without a failed request, keeps serving through a version that cannot load, refuses
bad input with a 4xx naming what is wrong, and computes features as the offline table does."""

from __future__ import annotations

import http.client
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from dagster import AssetSelection

from mlplatform.core.features import FEATURE_TABLE
from mlplatform.core.model import SKOPS_TRUSTED_TYPES
from mlplatform.definitions import build_definitions
from mlplatform.resources import build_warehouse
from mlplatform.resources.model_registry import MlflowModelRegistry
from mlplatform.serving.app import MAX_BATCH, NO_TEXT
from mlplatform.settings import Settings, reveal
from mlplatform_tests.support.commands import BIN
from mlplatform_tests.support.dataops import materialize_selection
from mlplatform_tests.support.fixtures import make_projects_and_tags, write_source
from mlplatform_tests.support.mlops import register_tagger, registry_for
from mlplatform_tests.support.services import background, wait_for_http
from mlplatform_tests.support.webserver import free_port

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("serving")]

REFRESH_SECONDS = 0.5
PROJECT = {"title": "Transformers for text", "description": "Attention for sentiment and bert."}


def _request(url: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        body = error.read()
        try:
            return error.code, json.loads(body or b"{}")
        except ValueError:  # Starlette's 413 is plain text
            return error.code, {"text": body.decode()}


def _post(url: str, payload) -> tuple[int, dict]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return _request(url, body, {"Content-Type": "application/json"})


@contextmanager
def _service(settings: Settings, log: Path, **environ: str) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "MLPLATFORM_HOME": str(settings.home),
        "MLPLATFORM_SOURCE": str(settings.source),
        "MLPLATFORM_SERVE_REFRESH_SECONDS": str(REFRESH_SECONDS),
        **environ,
    }
    command = [str(BIN / "mlplatform"), "serve", "--port", str(port)]
    with background(command, env=env, log=log, cwd=log.parent) as process:
        url = f"http://127.0.0.1:{port}"
        wait_for_http(f"{url}/openapi.json", process, log)
        yield url


def _until(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the service did not follow in time"
        time.sleep(0.1)


def _serving(url: str) -> str | None:
    return _request(f"{url}/health")[1].get("serving")


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A warehouse with `project_features` and a registry with two good versions and a third
    that trusts `builtins.exec` (refused when loaded); v1 is the champion."""
    root = tmp_path_factory.mktemp("serving")
    projects, tags = make_projects_and_tags(rows=60)
    settings = Settings.from_env(
        {
            "MLPLATFORM_HOME": str(root / "home"),
            "MLPLATFORM_SOURCE": str(write_source(root / "source", projects, tags)),
        }
    )
    selection = AssetSelection.assets("projects", "tags", FEATURE_TABLE)
    assert materialize_selection(build_definitions(settings), selection).success
    registry = registry_for(settings)
    labeled = projects.merge(tags, on="id")
    first, _ = (register_tagger(registry, labeled), register_tagger(registry, labeled, True))
    _register_refused(registry)
    registry.promote(first, expected_champion=None)
    return settings


def _register_refused(registry: MlflowModelRegistry) -> str:
    good = registry.load("1").tagger
    with registry.tracking.fluent() as mlflow:
        experiment = registry.tracking.experiment_id()
        with mlflow.start_run(experiment_id=experiment):
            info = mlflow.sklearn.log_model(
                good.estimator,
                name="model",
                registered_model_name=registry.registered_model_name,
                pip_requirements=[],
                skops_trusted_types=[*SKOPS_TRUSTED_TYPES, "builtins.exec"],
            )
    return str(info.registered_model_version)


@pytest.fixture(scope="module")
def service(settings: Settings) -> Iterator[str]:
    with _service(settings, settings.home / "serve.log") as url:
        _until(lambda: _serving(url) == "1")
        yield url


def test_answers_are_the_champions(service: str, settings: Settings) -> None:
    status, answer = _post(f"{service}/predict", PROJECT)
    assert status == 200, answer
    tagger = registry_for(settings).load("1").tagger
    expected = tagger.predictions([f"{PROJECT['title']} {PROJECT['description']}"])[0]
    assert answer["version"] == "1"
    assert answer["tag"] == expected.tag
    assert answer["precision_mode_tag"] == expected.precision_mode_tag
    assert answer["probabilities"] == pytest.approx(expected.probabilities, abs=1e-12)
    assert answer["probability"] == pytest.approx(max(answer["probabilities"].values()))
    assert sum(answer["probabilities"].values()) == pytest.approx(1)

    other = {"title": "", "description": "Reward and policy for an agent."}  # one part empty
    status, batch = _post(f"{service}/predict/batch", {"projects": [PROJECT, other]})
    assert status == 200 and batch["version"] == "1"
    assert batch["predictions"][0] == answer
    assert batch["predictions"][1] == _post(f"{service}/predict", other)[1]

    assert _request(f"{service}/health")[0] == 200
    assert "/predict/batch" in _request(f"{service}/openapi.json")[1]["paths"]
    with urllib.request.urlopen(f"{service}/docs", timeout=30) as docs:
        assert docs.status == 200


def test_mlflow_models_serve_answers_as_the_service_does(service: str, settings: Settings) -> None:
    """The standard path: `mlflow models serve` of `@champion` (named title and description
    columns in) gives the service's tag, probabilities and precision-mode tag."""
    port = free_port()
    registry = registry_for(settings)
    uri = f"models:/{registry.registered_model_name}@champion"
    command = [str(BIN / "mlflow"), "models", "serve", "-m", uri, "--env-manager", "local"]
    command += ["--host", "127.0.0.1", "-p", str(port), "-w", "1"]
    env = {**os.environ, "MLFLOW_TRACKING_URI": reveal(settings.mlflow_tracking_uri)}
    log = settings.home / "mlflow-serve.log"
    projects = [PROJECT, {"title": "", "description": "Reward and policy for an agent."}]
    with background(command, env=env, log=log, cwd=log.parent) as process:
        wait_for_http(f"http://127.0.0.1:{port}/ping", process, log)
        status, theirs = _post(
            f"http://127.0.0.1:{port}/invocations", {"dataframe_records": projects}
        )
    assert status == 200, theirs
    status, ours = _post(f"{service}/predict/batch", {"projects": projects})
    assert status == 200 and ours["version"] == registry.alias_version("champion")
    for mine, mlflows in zip(ours["predictions"], theirs["predictions"], strict=True):
        assert mlflows["tag"] == mine["tag"]
        assert mlflows["precision_mode_tag"] == mine["precision_mode_tag"]
        # A text's embedding moves in the 8th digit with the batch it was padded in (the service
        # has met these texts alone before), as in the offline table's comparison.
        assert mlflows["probability"] == pytest.approx(mine["probability"], abs=1e-6)
        assert mlflows["probabilities"] == pytest.approx(mine["probabilities"], abs=1e-6)


@pytest.mark.parametrize(
    ("body", "status", "named"),
    [
        ({"title": "x"}, 422, "description"),
        ({**PROJECT, "colour": "red"}, 422, "colour"),
        ({**PROJECT, "title": 5}, 422, "title"),
        ({"title": " ", "description": ""}, 422, NO_TEXT),
        (b'{"title": "x", "description": ', 422, "JSON decode error"),
        (b'{"title": "\xff\xfe", "description": "x"}', 400, "UTF-8"),
        ([PROJECT], 422, "object"),
    ],
)
def test_bad_input_is_a_4xx_naming_what_is_wrong(service: str, body, status: int, named) -> None:
    got, answer = _post(f"{service}/predict", body)
    assert got == status, answer
    assert named in json.dumps(answer)


def test_a_body_over_the_limit_is_refused_before_it_is_sent(service: str) -> None:
    """A 10 MB description: 413 on the headers alone, as a client asking `Expect: 100-continue`
    (curl does for large bodies) sees it; the service never reads the body."""
    body = json.dumps({**PROJECT, "description": "x" * 10_000_000}).encode()
    address = urllib.parse.urlsplit(service)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    connection.putrequest("POST", "/predict")
    for name, value in [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("Expect", "100-continue"),
    ]:
        connection.putheader(name, value)
    connection.endheaders()
    response = connection.getresponse()
    assert (response.status, response.read()) == (413, b"Content Too Large")
    connection.close()
    assert _request(f"{service}/health")[0] == 200


def test_a_batch_is_bounded(service: str) -> None:
    status, answer = _post(f"{service}/predict/batch", {"projects": [PROJECT] * (MAX_BATCH + 1)})
    assert status == 422 and "projects" in json.dumps(answer)
    assert _post(f"{service}/predict/batch", {"projects": []})[0] == 422


def test_features_are_the_offline_tables(service: str, settings: Settings) -> None:
    stored = build_warehouse(settings).read_table(FEATURE_TABLE).iloc[0]
    project = build_warehouse(settings).read_table("projects").set_index("id").loc[stored["id"]]
    payload = {"title": project["title"], "description": project["description"]}
    status, features = _post(f"{service}/features", payload)
    assert status == 200, features
    for name in ("text_sha256", "clean_text", "char_count", "word_count", "feature_version"):
        assert features[name] == stored[name], name
    np.testing.assert_allclose(features["embedding"], stored["embedding"], atol=1e-6)


def test_it_follows_promotions_and_rollbacks_without_a_failed_request(
    service: str, settings: Settings
) -> None:
    registry = registry_for(settings)

    def load(seconds: float) -> list[tuple[int, str]]:
        """Batches sent for `seconds`: each answered whole, by one version."""
        answers, deadline = [], time.monotonic() + seconds
        while time.monotonic() < deadline:
            status, body = _post(f"{service}/predict/batch", {"projects": [PROJECT] * 5})
            versions = {p["version"] for p in body.get("predictions", [])} | {body.get("version")}
            answers.append((status, "/".join(sorted(map(str, versions)))))
        return answers

    with ThreadPoolExecutor(4) as clients:
        sent = [clients.submit(load, 6) for _ in range(4)]
        time.sleep(1)
        registry.promote("2", expected_champion="1")
        answers = [answer for future in sent for answer in future.result()]
    assert {status for status, _ in answers} == {200}
    assert {versions for _, versions in answers} == {"1", "2"}  # never a mixed batch
    assert _serving(service) == "2"

    registry.rollback()
    _until(lambda: _serving(service) == "1")

    # A champion that cannot be loaded: the old one keeps serving; /health says why.
    registry.promote("3", expected_champion="1")
    _until(lambda: _request(f"{service}/health")[1]["champion"] == "3")
    status, health = _request(f"{service}/health")
    assert status == 200 and health["serving"] == "1"
    assert "v3 could not be loaded" in health["problem"] and "builtins.exec" in health["problem"]
    assert _post(f"{service}/predict", PROJECT)[1]["version"] == "1"
    registry.rollback("1")


def test_without_a_champion_health_is_503_until_one_is_promoted(tmp_path: Path) -> None:
    projects, tags = make_projects_and_tags(rows=60)
    settings = Settings.from_env(
        {
            "MLPLATFORM_HOME": str(tmp_path / "home"),
            "MLPLATFORM_SOURCE": str(write_source(tmp_path / "source", projects, tags)),
        }
    )
    (tmp_path / "home").mkdir()
    with _service(settings, tmp_path / "serve.log") as url:
        status, health = _request(f"{url}/health")
        assert status == 503 and "no champion" in health["problem"]
        status, answer = _post(f"{url}/predict", PROJECT)
        assert status == 503 and "no champion" in answer["detail"]
        registry = registry_for(settings)
        registry.promote(register_tagger(registry, projects.merge(tags, on="id")), None)
        _until(lambda: _serving(url) == "1")
        assert _post(f"{url}/predict", PROJECT)[0] == 200
