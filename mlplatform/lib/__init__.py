"""Dagster-aware helpers shared by the asset modules."""
