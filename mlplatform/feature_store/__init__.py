"""Feature stores that serve `project_features` beyond the warehouse (Feast's online store).

`MLPLATFORM_FEATURE_STORE` picks one from `FEATURE_STORES`; `mlplatform.definitions` merges its
definitions and resources with the `defs/` folder. `none` (the default) adds nothing: the
offline table in the warehouse is the platform's own feature store. `feast` needs the optional
extra (`uv sync --extra feast`); nothing imports Feast until a run does.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from mlplatform.choices import Backend, Registry

if TYPE_CHECKING:
    from dagster import Definitions

    from mlplatform.settings import Settings


def _no_definitions(settings: Settings) -> Definitions:
    from dagster import Definitions

    return Definitions()


def _feast_definitions(settings: Settings) -> Definitions:
    from dagster import BetaWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BetaWarning)  # `@asset(backfill_policy=...)`
        from mlplatform.feature_store.assets import feast_definitions

    return feast_definitions()


def _feast_resources(settings: Settings) -> dict[str, Any]:
    from mlplatform.resources.feast_store import FeastFeatureStore

    feast = settings.feast
    store = FeastFeatureStore(
        repo_path=str(feast.repo_path), redis_connection=feast.redis_connection
    )
    return {"feast": store}


FEATURE_STORES: Registry[Backend] = Registry(
    "MLPLATFORM_FEATURE_STORE",
    {
        "none": Backend(_no_definitions),
        "feast": Backend(_feast_definitions, _feast_resources),
    },
)
