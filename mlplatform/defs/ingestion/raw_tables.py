"""`projects` and `tags` from the ingestion backend that `MLPLATFORM_INGESTION` names."""

from collections.abc import Callable

import dagster as dg

from mlplatform.ingestion_backends.builtin import builtin_ingestion
from mlplatform.settings import active_settings


def airbyte_ingestion() -> dg.Definitions:
    # Imported here: dagster-airbyte is only needed when Airbyte lands the tables.
    from mlplatform.ingestion_backends.airbyte import airbyte_ingestion

    return airbyte_ingestion()


INGESTION_BACKENDS: dict[str, Callable[[], dg.Definitions]] = {
    "builtin": builtin_ingestion,
    "airbyte": airbyte_ingestion,
}


@dg.definitions
def raw_tables() -> dg.Definitions:
    return INGESTION_BACKENDS[active_settings().ingestion]()
