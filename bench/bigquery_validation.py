"""Where the GX suites run on BigQuery: the cost of fetching a table into a frame vs validating it.

The platform validates BigQuery tables on a fetched pandas frame (GX's pandas datasource), as
it does on DuckDB. This bench loads `labeled_projects`-shaped tables of 1x, 10x and 100x the real
data into the local BigQuery emulator (see mlplatform_tests/support/standins/bigquery.py), then
times `BigQueryWarehouse.read_table` (the fetch) and the GX suite on the frame, in one run. The
emulator serves reads over REST pages on this machine: a real BigQuery fetch has other costs
(network, the Storage Read API), so read the fetch column as this stand-in's, the GX column as
what the platform's own step spends. Writes bench/results/bigquery_validation.json.

    uv run python bench/bigquery_validation.py [--factors 1 10 100]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import pandas as pd

from mlplatform.core.sources import SHIPPED_DATA_DIR
from mlplatform.resources.bigquery_warehouse import BigQueryWarehouse
from mlplatform.resources.great_expectations import GreatExpectationsResource
from mlplatform.settings import GX_PROJECT_DIR
from mlplatform_tests.support.standins.bigquery import bigquery_emulator

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "mlplatform-bench"
DATASET = "madewithml"


def labeled_projects(factor: int) -> pd.DataFrame:
    """The real labeled projects, repeated with new ids and distinct texts."""
    projects = pd.read_csv(SHIPPED_DATA_DIR / "projects.csv", parse_dates=["created_on"])
    tags = pd.read_csv(SHIPPED_DATA_DIR / "tags.csv")
    base = projects.merge(tags, on="id", how="left")
    copies = []
    for copy in range(factor):
        frame = base.copy()
        frame["id"] = frame["id"] + copy * 1_000_000
        frame["title"] = frame["title"] + (f" ({copy})" if copy else "")
        copies.append(frame)
    return pd.concat(copies, ignore_index=True)


def measure(warehouse: BigQueryWarehouse, factor: int) -> dict:
    from google.cloud import bigquery

    frame = labeled_projects(factor)
    client = bigquery.Client(project=PROJECT)
    client.create_dataset(f"{PROJECT}.{DATASET}", exists_ok=True)
    table = f"labeled_projects_{factor}x"
    client.load_table_from_dataframe(frame, f"{PROJECT}.{DATASET}.{table}").result()

    started = time.perf_counter()
    fetched = warehouse.read_table(table)
    fetch_seconds = time.perf_counter() - started
    gx = GreatExpectationsResource(project_dir=str(GX_PROJECT_DIR))
    started = time.perf_counter()
    outcome = gx.validate(fetched, "labeled_projects")
    validate_seconds = time.perf_counter() - started
    return {
        "factor": factor,
        "rows": len(fetched),
        "suite_passed": outcome.success,
        "fetch_seconds": round(fetch_seconds, 2),
        "validate_seconds": round(validate_seconds, 2),
        "fetch_share": round(fetch_seconds / (fetch_seconds + validate_seconds), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factors", type=int, nargs="+", default=[1, 10, 100])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, bigquery_emulator(PROJECT, Path(tmp)) as endpoint:
        os.environ.update(endpoint.env())
        warehouse = BigQueryWarehouse(project=PROJECT, schema_name=DATASET, location="US")
        GreatExpectationsResource(project_dir=str(GX_PROJECT_DIR)).validate(
            labeled_projects(1).head(10), "labeled_projects"
        )  # GX's first import and context are not part of any factor's figure
        results = []
        for factor in args.factors:
            results.append(measure(warehouse, factor))
            print(json.dumps(results[-1]), flush=True)
    out = ROOT / "bench" / "results" / "bigquery_validation.json"
    out.write_text(json.dumps({"runs": results}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
