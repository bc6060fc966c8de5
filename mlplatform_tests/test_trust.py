"""Trust boundaries: an outage is never an answer, a model file never runs code, a promotion
never races, and a notification never undoes a decision."""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

import pytest
from dagster import EnvVar, Failure, build_asset_context

from mlplatform.core.model import SKOPS_TRUSTED_TYPES
from mlplatform.core.model_files import package_versions, refusal_reasons
from mlplatform.core.project_tagger import OUTPUT_COLUMNS
from mlplatform.core.sources import (
    PROJECTS,
    SOURCE_ALIASES,
    SourceError,
    SourceFormatError,
    SourceUnavailableError,
    file_fingerprint,
    read_bytes,
    read_table,
    shown,
)
from mlplatform.core.text import project_text
from mlplatform.core.training import score_tagger
from mlplatform.defs.deployment.assets import champion_model, model_evaluation
from mlplatform.resources.duckdb_warehouse import DuckDBWarehouse
from mlplatform.resources.mlflow_tracking import MlflowTracking
from mlplatform.resources.model_registry import (
    MlflowModelRegistry,
    ModelRefusedError,
    RegistryUnavailableError,
)
from mlplatform.resources.notifications import Notifier, ReportStore, slack_escaped
from mlplatform.resources.policies import PromotionPolicy, TrainingPolicy
from mlplatform.settings import Settings
from mlplatform_tests.support.fixtures import make_projects_and_tags
from mlplatform_tests.support.mlops import register_tagger, registry_for
from mlplatform_tests.support.standins.http_source import serve_directory
from mlplatform_tests.support.standins.slack import slack_stand_in
from mlplatform_tests.support.webserver import free_port


@pytest.fixture
def labeled():
    projects, tags = make_projects_and_tags(rows=60)
    return projects.merge(tags, on="id")


@pytest.fixture
def registry(settings_for, source_dir) -> MlflowModelRegistry:
    return registry_for(settings_for(source_dir))


class WritesMarkerWhenLoaded:
    """A payload whose unpickling writes a file: what a hostile registered version would run."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "code ran"))


def start_run(registry: MlflowModelRegistry, mlflow):
    """A run in the platform's experiment, whose artifacts stay in the test's store."""
    return mlflow.start_run(experiment_id=registry.tracking.experiment_id())


# --- the registry: only "does not exist" means no champion --------------------------------------


def test_a_missing_model_or_alias_is_no_champion(registry, labeled) -> None:
    assert registry.alias_version("champion") is None  # no model registered at all
    register_tagger(registry, labeled)
    assert registry.alias_version("champion") is None  # a model without the alias


def test_an_unreachable_registry_is_an_error_naming_it_never_no_champion(monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    port = free_port()  # nothing listens there
    tracking = MlflowTracking(tracking_uri=f"http://ml:secret@127.0.0.1:{port}", ui_url="x")
    registry = MlflowModelRegistry(tracking=tracking)
    for read in (lambda: registry.alias_version("champion"), registry.latest_version):
        with pytest.raises(RegistryUnavailableError) as error:
            read()
        assert f"http://127.0.0.1:{port}" in str(error.value)
        assert "secret" not in str(error.value)


# --- loading: a model file never runs code ------------------------------------------------------


def test_a_cloudpickle_payload_is_refused_and_never_runs(registry, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    with registry.tracking.fluent() as mlflow, start_run(registry, mlflow):
        info = mlflow.sklearn.log_model(
            WritesMarkerWhenLoaded(marker),
            name="model",
            serialization_format="cloudpickle",
            registered_model_name=registry.registered_model_name,
            pip_requirements=[],
        )
    version = str(info.registered_model_version)
    with pytest.raises(ModelRefusedError, match=rf"v{version} is not loaded: .*'cloudpickle'"):
        registry.load(version)
    assert not marker.exists()
    # The payload is live: MLflow's own loader, allowed to unpickle, runs it.
    with registry.tracking.fluent() as mlflow:
        mlflow.environment_variables.MLFLOW_ALLOW_PICKLE_DESERIALIZATION.set(True)
        try:
            mlflow.sklearn.load_model(f"models:/{registry.registered_model_name}/{version}")
        except Exception:
            pass  # it is no estimator; what matters is that unpickling ran the payload
        finally:
            mlflow.environment_variables.MLFLOW_ALLOW_PICKLE_DESERIALIZATION.unset()
    assert marker.read_text() == "code ran"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"skops_trusted_types": [*SKOPS_TRUSTED_TYPES, "builtins.exec"]}, "builtins.exec"),
        ({"code_paths": ["CODE"]}, "adds code paths"),
    ],
)
def test_a_model_that_trusts_more_or_adds_code_is_refused(
    registry, labeled, tmp_path: Path, change: dict, reason: str
) -> None:
    good = registry.load(register_tagger(registry, labeled))
    code = tmp_path / "hook.py"
    code.write_text("open('marker', 'w')\n")
    options = {k: [str(code)] if v == ["CODE"] else v for k, v in change.items()}
    with registry.tracking.fluent() as mlflow, start_run(registry, mlflow):
        info = mlflow.sklearn.log_model(
            good.tagger.estimator,
            name="model",
            registered_model_name=registry.registered_model_name,
            pip_requirements=[],
            **{"skops_trusted_types": list(SKOPS_TRUSTED_TYPES), **options},
        )
    with pytest.raises(ModelRefusedError, match=reason):
        registry.load(str(info.registered_model_version))


def test_the_pyfunc_answers_by_name_as_the_tagger_and_earlier_versions_still_load(
    registry, labeled
) -> None:
    """MLflow's own loader (skops, the trusted types the version records) answers named title
    and description columns as the platform's tagger does, with a signature that says so; a
    version registered before that, holding the bare pipeline, still loads here."""
    import mlflow.pyfunc

    version = register_tagger(registry, labeled)
    tagger = registry.load(version).tagger
    projects = labeled[["title", "description"]].head(5)
    uri = f"models:/{registry.registered_model_name}/{version}"
    with registry.tracking.fluent():
        pyfunc = mlflow.pyfunc.load_model(uri)
    signature = pyfunc.metadata.signature
    assert signature.inputs.input_names() == ["title", "description"]
    assert signature.outputs.input_names() == list(OUTPUT_COLUMNS)
    answers = pyfunc.predict(projects).to_dict("records")
    assert answers == [asdict(p) for p in tagger.predictions(project_text(projects))]

    with registry.tracking.fluent() as mlflow, start_run(registry, mlflow):
        info = mlflow.sklearn.log_model(
            tagger.estimator,
            name="model",
            registered_model_name=registry.registered_model_name,
            pip_requirements=[],
            metadata={"threshold": tagger.threshold, "other": tagger.other},
            skops_trusted_types=list(SKOPS_TRUSTED_TYPES),
        )
    earlier = registry.load(str(info.registered_model_version)).tagger
    assert earlier.threshold == tagger.threshold
    assert earlier.predictions(project_text(projects)) == tagger.predictions(project_text(projects))


def test_refusal_reasons_name_each_departure_from_what_the_platform_writes() -> None:
    runtime = package_versions()
    good = {
        "flavors": {
            "python_function": {"loader_module": "mlflow.sklearn"},
            "sklearn": {
                "serialization_format": "skops",
                "pickled_model": "model.skops",
                "skops_trusted_types": list(SKOPS_TRUSTED_TYPES),
            },
        },
        "metadata": {"package_versions": runtime},
    }
    assert refusal_reasons(good, SKOPS_TRUSTED_TYPES, runtime) == []
    older = {**runtime, "scikit-learn": "0.24.0"}
    assert refusal_reasons(good, SKOPS_TRUSTED_TYPES, older) == [
        f"it was saved with scikit-learn {runtime['scikit-learn']}, this process has 0.24.0"
    ]
    flavors = good["flavors"]
    bad = {
        "flavors": {
            "python_function": {**flavors["python_function"], "loader_module": "evil"},
            "sklearn": {**flavors["sklearn"], "pickled_model": "../model.pkl"},
            "keras": {},
        }
    }
    reasons = refusal_reasons(bad, SKOPS_TRUSTED_TYPES, runtime)
    assert [r.split(" ")[1] for r in reasons] == ["has", "pyfunc", "model"]


def test_an_unloadable_champion_stops_the_gate_with_the_fix(registry, labeled, tmp_path) -> None:
    champion = register_tagger(registry, labeled)
    registry.promote(champion, None)
    challenger = registry.load(register_tagger(registry, labeled))
    client = registry.tracking.client()
    source = client.get_model_version(registry.registered_model_name, champion).source
    logged = client.get_logged_model(source.removeprefix("models:/"))
    artifacts = Path(logged.artifact_location.removeprefix("file://"))
    for path in sorted(artifacts.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    with pytest.raises(Failure, match=r"champion v1 cannot be loaded.*mlplatform rollback"):
        model_evaluation(
            context=build_asset_context(),
            trained_model=challenger,
            labeled_projects=labeled,
            model_registry=registry,
            training_policy=TrainingPolicy(),
            promotion_policy=PromotionPolicy(),
            notifier=Notifier(),
            reports=ReportStore(directory=str(tmp_path / "reports")),
            warehouse=DuckDBWarehouse(
                database=str(tmp_path / "warehouse.duckdb"),
                schema_name="madewithml",
                lock_timeout_seconds=5,
            ),
        )
    assert registry.alias_version("champion") == champion


# --- promotion: compare and set; notifications never fail the step ------------------------------


def test_two_evaluations_against_one_champion_promote_once(registry, labeled, caplog) -> None:
    from mlplatform.core.gate import decide

    first, second, third = (register_tagger(registry, labeled) for _ in range(3))
    registry.promote(first, None)
    champion = score_tagger(registry.load(first).tagger, labeled)

    def evaluation(version: str):
        from mlplatform.core.gate import ModelEvaluation

        scores = score_tagger(registry.load(version).tagger, labeled)
        return ModelEvaluation(version, first, scores, champion, decide(scores, champion))

    evaluations = [evaluation(second), evaluation(third)]
    assert all(e.decision.promote for e in evaluations)
    caplog.set_level(logging.WARNING)
    with slack_stand_in(reset=True) as slack:
        notifier = Notifier(slack_webhook_url=slack.url, timeout_seconds=5)
        promoted = champion_model(evaluations[0], model_registry=registry, notifier=notifier)
        assert promoted.metadata["champion_version"] == second
        assert "Slack notification for 'champion_changed' failed" in caplog.text
        with pytest.raises(Failure, match=f"not promoting v{third}: champion is v{second} now"):
            champion_model(evaluations[1], model_registry=registry, notifier=notifier)
    assert (registry.alias_version("champion"), registry.alias_version("previous")) == (
        second,
        first,
    )


def test_data_in_slack_messages_is_escaped() -> None:
    assert (
        slack_escaped("<!channel> a & <http://x|y>")
        == "&lt;!channel&gt; a &amp; &lt;http://x|y&gt;"
    )


# --- sources and settings: no credential shown, no protocol or size unchecked ------------------


def test_messages_show_a_source_without_credentials_or_signature(tmp_path: Path) -> None:
    presigned = "https://reader:pass-secret@127.0.0.1:9/data/projects.csv?X-Signature=sig-secret"
    assert shown(presigned) == "https://127.0.0.1:9/data/projects.csv?…"
    with pytest.raises(SourceUnavailableError) as error:
        read_table(f"https://reader:pass-secret@127.0.0.1:{free_port()}/data", PROJECTS)
    assert "secret" not in str(error.value) and "https://127.0.0.1:" in str(error.value)


@pytest.mark.parametrize(
    "location", ["ssh://host/data", "ftp://host/data", "simplecache::s3://bucket/data"]
)
def test_a_source_protocol_outside_the_allow_list_is_refused(location: str) -> None:
    with pytest.raises(SourceError, match="is not allowed for a source"):
        read_table(location, PROJECTS)
    with pytest.raises(SourceError, match="is not allowed for a source"):
        file_fingerprint(f"{location}/projects.csv")


def test_a_source_file_over_the_size_limit_is_refused(source_dir: Path) -> None:
    size = (source_dir / "projects.csv").stat().st_size
    with serve_directory(source_dir) as server:
        url = f"http://127.0.0.1:{server.server_address[1]}/projects.csv"
        for uri in (str(source_dir / "projects.csv"), url):
            assert len(read_bytes(uri, limit=size)) == size
            with pytest.raises(SourceFormatError, match=f"larger than {size - 1} bytes"):
                read_bytes(uri, limit=size - 1)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MLPLATFORM_WAREHOUSE_SCHEMA", "madewithml; drop table projects"),
        ("MLPLATFORM_WAREHOUSE_SCHEMA", 'a"b'),
        ("MLPLATFORM_BIGQUERY_PROJECT", "my_project`"),
    ],
)
def test_identifiers_from_settings_are_checked(variable: str, value: str) -> None:
    with pytest.raises(ValueError, match=f"{variable}=.*expected a name matching"):
        Settings.from_env({variable: value})


def test_a_source_from_the_environment_reaches_resources_as_an_env_var(monkeypatch) -> None:
    monkeypatch.setenv("MLPLATFORM_SOURCE", "https://u:p@example.invalid/data")
    assert isinstance(Settings.from_env().source, EnvVar)
    monkeypatch.setenv("MLPLATFORM_SOURCE", "public")  # an alias is no secret
    assert Settings.from_env().source == SOURCE_ALIASES["public"]
