"""Import time of the code location, as a ratio to the libraries it cannot avoid.

Each repeat is a fresh interpreter that first imports the floor (`dagster`, `dagster_dbt` and the
IO manager's package), then `mlplatform.definitions` (which builds the whole `Definitions`), and
times both. `overhead` is the median of (our part / floor): what our own code adds on top of the
libraries it cannot avoid. Variants alternate, so machine noise hits them alike.

    uv run python bench/import_time.py [--repeats 7] [--project DIR] [--output FILE]

`--project` measures another checkout (e.g. an older commit in a `git worktree`) with this
environment, for a before/after comparison in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLOOR = "import dagster, dagster_dbt, dagster_duckdb_pandas"
LOCATION = "import mlplatform.definitions"
# Issue #25: importing the code location stays within 1.10x of the libraries it needs.
OVERHEAD_GOAL = 0.10
TIMED = (
    "import time; t0 = time.perf_counter(); {floor}; t1 = time.perf_counter(); {location}; "
    "print(t1 - t0, time.perf_counter() - t1)"
)


def seconds(project: Path) -> tuple[float, float]:
    """(floor, ours) in one fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": str(project), "MLPLATFORM_HOME": "/tmp/mlplatform-bench"}
    completed = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", TIMED.format(floor=FLOOR, location=LOCATION)],
        capture_output=True,
        text=True,
        cwd=project,
        env=env,
        check=True,
    )
    floor, ours = completed.stdout.strip().splitlines()[-1].split()
    return float(floor), float(ours)


def commit_of(project: Path) -> str:
    """The checkout's commit, marked `+dirty` when tracked files differ from it."""

    def git(*args: str) -> str:
        completed = subprocess.run(["git", *args], cwd=project, capture_output=True, text=True)
        return completed.stdout.strip()

    return git("rev-parse", "--short", "HEAD") + (
        "+dirty" if git("status", "--porcelain", "-uno") else ""
    )


def summary(project: Path, runs: list[tuple[float, float]]) -> dict:
    return {
        "project": str(project),
        "commit": commit_of(project),
        "floor_seconds": [round(f, 3) for f, _ in runs],
        "ours_seconds": [round(o, 3) for _, o in runs],
        "floor_median": round(statistics.median(f for f, _ in runs), 3),
        "ours_median": round(statistics.median(o for _, o in runs), 3),
        "overhead": round(statistics.median(o / f for f, o in runs), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--project", type=Path, action="append", default=[])
    parser.add_argument("--output", type=Path, default=ROOT / "bench/results/import_time.json")
    args = parser.parse_args()
    projects = [ROOT, *(project.resolve() for project in args.project)]
    for project in projects:
        seconds(project)  # warm the file and bytecode caches
    runs: dict[Path, list] = {project: [] for project in projects}
    for _ in range(args.repeats):
        for project in projects:
            runs[project].append(seconds(project))
    results = [summary(project, runs[project]) for project in projects]
    report = {
        "floor": FLOOR,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "repeats": args.repeats,
        "results": results,
        "verdicts": {
            "import_overhead": {
                "value": results[0]["overhead"],
                "goal": OVERHEAD_GOAL,
                "met": results[0]["overhead"] <= OVERHEAD_GOAL,
            }
        },
    }
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    for result in results:
        print(json.dumps({k: v for k, v in result.items() if not k.endswith("_seconds")}))


if __name__ == "__main__":
    main()
