"""`mlplatform summary`: what a materialization left behind, and where to look next."""

from __future__ import annotations

from dataclasses import dataclass

from mlplatform.cli.champion import registry_from_settings
from mlplatform.core.sources import is_http, without_credentials
from mlplatform.resources.model_registry import CHAMPION
from mlplatform.resources.warehouses import build_warehouse
from mlplatform.settings import TRACKING_URI_VAR, Settings, reveal

SUMMARY_TABLE = "labeled_projects"


@dataclass(frozen=True)
class PlatformSummary:
    """What a materialization left behind, and where to look next."""

    champion_version: str | None
    champion_test_f1: float | None
    champion_run_url: str | None
    table: str
    table_rows: int | None
    mlflow_ui_url: str
    tracking_uri: str

    def to_text(self) -> str:
        if self.champion_version is None:
            champion = "no champion yet: materialize champion_model (the gate may have refused)"
        else:
            f1 = "n/a" if self.champion_test_f1 is None else f"{self.champion_test_f1:.3f}"
            champion = f"v{self.champion_version}, weighted F1 {f1} on its held-out rows"
        rows = "not built yet" if self.table_rows is None else f"{self.table_rows} rows"
        # A database URI may hold a password: then the command names the variable instead.
        store = (
            self.tracking_uri
            if without_credentials(self.tracking_uri) == self.tracking_uri
            else f'"${TRACKING_URI_VAR}"'
        )
        mlflow_ui = (
            "(served by the tracking server)"
            if is_http(self.tracking_uri)
            else f"uv run mlflow ui --backend-store-uri {store}"
        )
        lines = [
            "mlplatform summary",
            f"  champion model    {champion}",
            f"  warehouse table   {self.table}: {rows}",
            "next",
            "  open the UI       DAGSTER_HOME=$PWD uv run dagster dev   -> http://127.0.0.1:3000",
            f"  open MLflow       {mlflow_ui}   -> {self.mlflow_ui_url}",
            '  predict           uv run mlplatform predict "<title>" "<description>"',
        ]
        if self.champion_run_url:
            lines.insert(2, f"  training run      {self.champion_run_url}")
        return "\n".join(lines)


def summary(settings: Settings | None = None) -> PlatformSummary:
    """The champion and the main table of the environment `settings` describes."""
    settings = settings or Settings.from_env()
    registry = registry_from_settings(settings)
    version = registry.alias_version(CHAMPION)
    run_id, metrics = registry.version_run(version) if version else (None, {})
    warehouse = build_warehouse(settings)
    return PlatformSummary(
        champion_version=version,
        champion_test_f1=metrics.get("test_f1_weighted"),
        champion_run_url=registry.tracking.run_url(run_id) if run_id else None,
        table=warehouse.table_name(SUMMARY_TABLE),
        table_rows=warehouse.row_count(SUMMARY_TABLE),
        mlflow_ui_url=settings.mlflow_ui_url,
        tracking_uri=reveal(settings.mlflow_tracking_uri),
    )
