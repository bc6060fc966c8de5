"""Feast's own reads of the platform's repository, printed as JSON: run with the `feast` extra's
Python (`python -m mlplatform_tests.support.feast_reads REPO CUTOFF IDS...`), since the test
command's environment has no Feast."""

import json
import os
import sys

import pandas as pd

from mlplatform.feature_store.repo import FEATURE_REFERENCES
from mlplatform.resources.feast_store import FeastFeatureStore
from mlplatform.settings import FEAST_REDIS_VAR


def main(repo: str, cutoff: str, ids: list[int]) -> dict:
    store = FeastFeatureStore(
        repo_path=repo, redis_connection=os.environ.get(FEAST_REDIS_VAR)
    ).store()
    entities = pd.DataFrame({"id": ids, "event_timestamp": pd.Timestamp(cutoff, tz="UTC")})
    historical = store.get_historical_features(entity_df=entities, features=FEATURE_REFERENCES)
    online = store.get_online_features(
        features=FEATURE_REFERENCES, entity_rows=[{"id": i} for i in ids]
    )
    frame = historical.to_df().drop(columns="event_timestamp")
    return {"historical": json.loads(frame.to_json(orient="records")), "online": online.to_dict()}


if __name__ == "__main__":
    repo, cutoff, *ids = sys.argv[1:]
    print(json.dumps(main(repo, cutoff, [int(i) for i in ids])))
