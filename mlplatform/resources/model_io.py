"""IO manager that stores `trained_model` in the MLflow registry and loads it back."""

from dataclasses import replace

from dagster import ConfigurableIOManager, InputContext, MetadataValue, OutputContext

from mlplatform.resources.model_registry import MlflowModelRegistry, TaggerModel

DAGSTER_RUN_TAG = "dagster_run_id"


class MlflowModelIOManager(ConfigurableIOManager):
    """Registers a `TaggerModel` as a new version; loads the version a run produced."""

    registry: MlflowModelRegistry

    def handle_output(self, context: OutputContext, obj: TaggerModel) -> None:
        tagged = replace(obj, tags={**obj.tags, DAGSTER_RUN_TAG: context.run_id})
        version = self.registry.register(tagged).version
        context.add_output_metadata(
            {
                "registered_model": self.registry.registered_model_name,
                "model_version": version,
                "mlflow_run_id": obj.run_id,
                "mlflow_run": MetadataValue.url(self.registry.tracking.run_url(obj.run_id)),
            }
        )
        context.log.info(f"Registered {self.registry.registered_model_name} version {version}")

    def load_input(self, context: InputContext) -> TaggerModel:
        # The version this run registered, else the newest one (the latest materialization).
        upstream = context.upstream_output
        version = upstream and self.registry.latest_version((DAGSTER_RUN_TAG, upstream.run_id))
        version = version or self.registry.latest_version()
        if version is None:
            raise LookupError(
                f"no version of {self.registry.registered_model_name} is registered yet: "
                "materialize trained_model first"
            )
        return self.registry.load(version)
