"""Dagster-aware helpers shared by `defs/`, the ingestion backends and the resources: metadata,
checks, automation conditions, the dbt project, the executor registry, and the presentation of
results (figures, markdown, MLflow records) that the core leaves to its callers."""
