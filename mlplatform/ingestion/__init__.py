"""Ingestion: the backends that land the raw tables `projects` and `tags` in the warehouse, the
job that runs them and the sensors that notice new data.

`MLPLATFORM_INGESTION` picks a backend from `INGESTIONS`; `mlplatform.definitions` merges its
definitions and resources with the `defs/` folder. Nothing in `defs/` imports this package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlplatform.choices import Backend, Registry

if TYPE_CHECKING:
    from dagster import Definitions

    from mlplatform.settings import Settings


def _builtin_definitions(settings: Settings) -> Definitions:
    from mlplatform.ingestion.builtin import builtin_definitions

    return builtin_definitions()


# dagster-airbyte is imported only when Airbyte lands the tables.
def _airbyte_definitions(settings: Settings) -> Definitions:
    from mlplatform.ingestion.airbyte import airbyte_definitions

    return airbyte_definitions(settings.airbyte)


def _airbyte_resources(settings: Settings) -> dict[str, Any]:
    from mlplatform.resources.airbyte import build_airbyte_workspace

    return {"airbyte": build_airbyte_workspace(settings.airbyte)}


INGESTIONS: Registry[Backend] = Registry(
    "MLPLATFORM_INGESTION",
    {
        "builtin": Backend(_builtin_definitions),
        "airbyte": Backend(_airbyte_definitions, _airbyte_resources),
    },
)
