"""IO manager that stores `trained_model` in the MLflow registry and loads it back."""

from dataclasses import dataclass
from typing import Any

from dagster import ConfigurableIOManager, InputContext, MetadataValue, OutputContext

from mlplatform.resources.mlflow_tracking import MlflowTracking, RegisteredTagger

DAGSTER_RUN_TAG = "dagster_run_id"


@dataclass
class TrainedModel:
    """What the training asset hands over: the tagger and the MLflow run that describes it."""

    tagger: Any
    run_id: str
    tags: dict[str, str]


class MlflowModelIOManager(ConfigurableIOManager):
    """Logs a `TrainedModel` to its run and registers it; loads the version a run produced."""

    mlflow: MlflowTracking

    def handle_output(self, context: OutputContext, obj: TrainedModel) -> None:
        tags = {**obj.tags, DAGSTER_RUN_TAG: context.run_id}
        version = self.mlflow.log_tagger(obj.run_id, obj.tagger, tags)
        context.add_output_metadata(
            {
                "registered_model": self.mlflow.registered_model_name,
                "model_version": version,
                "mlflow_run_id": obj.run_id,
                "mlflow_run": MetadataValue.url(self.mlflow.run_url(obj.run_id)),
            }
        )
        context.log.info(f"Registered {self.mlflow.registered_model_name} version {version}")

    def load_input(self, context: InputContext) -> RegisteredTagger:
        # The version this run registered, else the newest one (the latest materialization).
        upstream = context.upstream_output
        version = upstream and self.mlflow.latest_version((DAGSTER_RUN_TAG, upstream.run_id))
        version = version or self.mlflow.latest_version()
        if version is None:
            raise LookupError(
                f"no version of {self.mlflow.registered_model_name} is registered yet: "
                "materialize trained_model first"
            )
        return self.mlflow.load_tagger(version)
