"""Steps that run the tagger read the stored sentence embeddings instead of encoding texts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from dagster import AssetExecutionContext

from mlplatform.core.features import FEATURE_TABLE
from mlplatform.resources.warehouse import Warehouse


@contextmanager
def stored_features(
    context: AssetExecutionContext, warehouse: Warehouse, as_of: datetime | str | None = None
) -> Iterator[None]:
    """Within the block, the encoder reads embeddings of projects created by `as_of` from
    `project_features`; texts the table lacks are encoded, and counted in the log."""
    from mlplatform.core.embeddings import stored_embeddings

    with stored_embeddings(warehouse.embedding_lookup(as_of)) as encoder:
        before = encoder.encoded_texts
        yield
        encoded = encoder.encoded_texts - before
    if encoded:
        context.log.warning(
            f"{encoded} texts were not in {FEATURE_TABLE} (as of {as_of or 'now'}) and were "
            "encoded here: materialize project_features for their months"
        )
