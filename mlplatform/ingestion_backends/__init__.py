"""Ingestion backends: each lands `projects` and `tags` in the warehouse its own way and brings
the sensor that notices new data. `MLPLATFORM_INGESTION` picks one (see defs/ingestion)."""
