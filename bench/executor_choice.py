"""Which executor materializes the DataOps graph faster: in-process or multiprocess + pool?

Runs `dagster asset materialize --select '*'` end to end (fresh warehouse each time) with each
executor, alternating them so machine noise hits both; writes bench/results/executor_choice.json.
The multiprocess runs use an instance with the `warehouse` pool limited to one step, as in
dagster.yaml, so DuckDB never sees two writers.

    uv run python bench/executor_choice.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlplatform.core.sources import SHIPPED_DATA_DIR

ROOT = Path(__file__).resolve().parents[1]
INSTANCE_YAML = "concurrency:\n  pools:\n    granularity: op\n    default_limit: 1\n"
INSTANCE_YAML += "telemetry:\n  enabled: false\n"


def materialize_seconds(executor: str, source: Path) -> float:
    with tempfile.TemporaryDirectory() as scratch:
        dagster_home = Path(scratch) / "dagster"
        dagster_home.mkdir()
        (dagster_home / "dagster.yaml").write_text(INSTANCE_YAML)
        env = {
            **os.environ,
            "DAGSTER_HOME": str(dagster_home),
            "MLPLATFORM_HOME": str(Path(scratch) / "home"),
            "MLPLATFORM_SOURCE": str(source),
            "MLPLATFORM_EXECUTOR": executor,
        }
        command = [
            str(Path(sys.executable).parent / "dagster"),
            "asset",
            "materialize",
            "-m",
            "mlplatform.definitions",
            "--select",
            "*",
        ]
        started = time.perf_counter()
        completed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        if completed.returncode != 0 or "RUN_SUCCESS" not in completed.stderr:
            raise RuntimeError(f"{executor} run failed:\n{completed.stderr[-3000:]}")
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    seconds: dict[str, list[float]] = {"in_process": [], "multiprocess": []}
    for repeat in range(args.repeats):
        for executor in seconds:
            seconds[executor].append(materialize_seconds(executor, SHIPPED_DATA_DIR))
            print(f"repeat {repeat}: {executor} {seconds[executor][-1]:.1f}s", flush=True)
    medians = {executor: statistics.median(values) for executor, values in seconds.items()}
    result = {
        "what": "dagster asset materialize --select '*' on the real data, fresh warehouse",
        "cores": os.cpu_count(),
        "seconds": seconds,
        "median_seconds": medians,
        "multiprocess_over_in_process": medians["multiprocess"] / medians["in_process"],
    }
    out = ROOT / "bench" / "results" / "executor_choice.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
