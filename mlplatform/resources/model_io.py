"""IO manager that stores `trained_model` in the MLflow registry and loads it back."""

from dataclasses import replace

from dagster import (
    ConfigurableIOManager,
    DagsterInvariantViolationError,
    InputContext,
    MetadataValue,
    OutputContext,
)

from mlplatform.resources.model_registry import MlflowModelRegistry, TaggerModel

DAGSTER_RUN_TAG = "dagster_run_id"
VERSION_KEY = "model_version"  # the materialization metadata that records the version


class MlflowModelIOManager(ConfigurableIOManager):
    """Registers a `TaggerModel` as a new version; loads the version a run produced."""

    registry: MlflowModelRegistry

    def handle_output(self, context: OutputContext, obj: TaggerModel) -> None:
        tagged = replace(obj, tags={**obj.tags, DAGSTER_RUN_TAG: context.run_id})
        version = self.registry.register(tagged).version
        context.add_output_metadata(
            {
                "registered_model": self.registry.registered_model_name,
                VERSION_KEY: version,
                "mlflow_run_id": obj.run_id,
                "mlflow_run": MetadataValue.url(self.registry.tracking.run_url(obj.run_id)),
            }
        )
        context.log.info(f"Registered {self.registry.registered_model_name} version {version}")

    def load_input(self, context: InputContext) -> TaggerModel:
        """The version the upstream run registered; from another run, the version recorded by
        the upstream asset's latest materialization. Never "the newest registered"."""
        upstream = context.upstream_output
        version = upstream and self.registry.latest_version((DAGSTER_RUN_TAG, upstream.run_id))
        version = version or _materialized_version(context)
        if version is None:
            raise LookupError(
                f"no materialization of trained_model records a version of "
                f"{self.registry.registered_model_name}: materialize trained_model first"
            )
        return self.registry.load(version)


def _materialized_version(context: InputContext) -> str | None:
    """`model_version` of the upstream asset's latest materialization in the instance."""
    upstream = context.upstream_output
    if upstream is None or not upstream.has_asset_key:
        return None
    try:
        instance = context.instance
    except DagsterInvariantViolationError:  # a context built outside a run
        return None
    records = instance.fetch_materializations(upstream.asset_key, limit=1).records
    recorded = records[0].asset_materialization.metadata.get(VERSION_KEY) if records else None
    return None if recorded is None else str(recorded.value)
