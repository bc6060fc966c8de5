"""Ingestion backends: each lands `projects` and `tags` in the warehouse its own way and brings
the sensor that notices new data. `MLPLATFORM_INGESTION` picks one (see defs/ingestion)."""

# The raw tables every backend lands, with what each holds; dbt's sources and the GX suites
# (gx/expectations/<table>.json) use the same names.
RAW_TABLES = {
    "projects": "Made With ML projects: id, created_on, title, description.",
    "tags": "The tag of each project: id, tag.",
}
