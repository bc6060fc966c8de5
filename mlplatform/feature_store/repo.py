"""The Feast objects over `project_features`: the `project` entity, the file source holding the
table's rows a month per file, and the feature view. `feast apply` registers them; the generated
repository's `features.py` imports them from here, so Feast's CLI and the platform see the same.
"""

from datetime import timedelta

from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.types import Array, Float32, Int64, String

from mlplatform.core.features import FEATURE_TABLE
from mlplatform.core.partitions import PARTITION_COLUMN

# Relative to the repository, where Feast resolves it: the repository holds its own data.
OFFLINE_PATH = f"offline/{FEATURE_TABLE}"

project = Entity(
    name="project",
    join_keys=["id"],
    value_type=ValueType.INT64,
    description="A project of the Made With ML data, by its id.",
)

project_features_source = FileSource(
    name=f"{FEATURE_TABLE}_source",
    path=OFFLINE_PATH,
    timestamp_field=PARTITION_COLUMN,
    description=f"The warehouse's `{FEATURE_TABLE}`, one Parquet file per month.",
)

project_features_view = FeatureView(
    name=FEATURE_TABLE,
    entities=[project],
    # 0: a project's features never expire (its row is replaced when its text changes).
    ttl=timedelta(0),
    schema=[
        Field(name="id", dtype=Int64),
        Field(name="text_sha256", dtype=String),
        Field(name="clean_text", dtype=String),
        Field(name="char_count", dtype=Int64),
        Field(name="word_count", dtype=Int64),
        Field(name="embedding", dtype=Array(Float32)),
        Field(name="feature_version", dtype=String),
    ],
    source=project_features_source,
    online=True,
)

FEAST_OBJECTS = [project, project_features_view]
# The features a reader asks for, as Feast names them (`view:feature`).
FEATURE_REFERENCES = [f"{FEATURE_TABLE}:{field.name}" for field in project_features_view.features]
