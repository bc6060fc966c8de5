"""Disk use over retraining cycles, with and without the retention policy (issue #30).

Each mode gets a fresh `MLPLATFORM_HOME` (DuckDB, MLflow store and artifacts, optuna, reports,
Dagster instance) and its own dbt target folder. Cycle 0 materializes every asset on the real
data; each later cycle re-runs `labeled_projects+` (dbt, its checks, training, the gate,
promotion, monitoring), as the retraining sensor would. With retention, `prune` runs after every
cycle with the policy's version count and a window of 0 days: what the daily job would delete
after the window, deleted at once, so the flat level shows within the run. Bytes are measured
after each cycle under the home and the dbt folder. The two modes run side by side; growth
without retention is a straight line, so it runs fewer cycles (`--baseline-cycles`).

    uv run python bench/disk_retention.py [--cycles 50] [--baseline-cycles 20] [--trials 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from import_time import commit_of

ROOT = Path(__file__).resolve().parents[1]
MODES = ("without_retention", "with_retention")
# Issue #30: with retention, disk use is flat after the first cycles.
SLOPE_GOAL_MB = 0.1
PRUNE = """
import sys
from pathlib import Path
from dagster import DagsterInstance
from mlplatform.core.retention import RetentionConfig
from mlplatform.resources import build_model_registry
from mlplatform.resources.retention import prune, retention_stores
from mlplatform.settings import Settings, reveal

settings = Settings.from_env()
with DagsterInstance.get() as instance:
    stores = retention_stores(
        build_model_registry(settings, reveal_secrets=True), reveal(settings.tuning.storage),
        settings.reports_dir, Path(sys.argv[1]), instance,
    )
    config = RetentionConfig(settings.retention.keep_model_versions, window_days=0)
    print(prune(stores, config, dry_run=False).freed_bytes)
"""


def size_mb(path: Path) -> float:
    if not path.exists():
        return 0.0
    if path.is_file():
        return path.stat().st_size / 1e6
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def areas(home: Path, dbt_target: Path) -> dict[str, float]:
    return {
        "model_artifacts_mb": size_mb(home / "mlartifacts"),
        "mlflow_db_mb": size_mb(home / "mlflow.db"),
        "optuna_db_mb": size_mb(home / "optuna.db"),
        "dagster_mb": size_mb(home / "dagster"),
        "reports_mb": size_mb(home / "reports"),
        "dbt_target_mb": size_mb(dbt_target),
        "total_mb": size_mb(home) + size_mb(dbt_target),
    }


def run_mode(mode: str, cycles: int, trials: int, scratch: Path) -> list[dict]:
    home, dbt_target = scratch / mode / "home", scratch / mode / "dbt_target"
    (home / "dagster").mkdir(parents=True)
    (home / "dagster" / "dagster.yaml").write_text("")
    env = {
        **os.environ,
        "MLPLATFORM_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "MLPLATFORM_TUNING_TRIALS": str(trials),
        "DBT_TARGET_PATH": str(dbt_target),  # dagster-dbt's per-invocation folders go here
    }
    rows = []
    for cycle in range(cycles + 1):
        select = "*" if cycle == 0 else "labeled_projects+"
        started = time.perf_counter()
        materialize = ["dagster", "asset", "materialize", "-m", "mlplatform.definitions"]
        subprocess.run(
            [*materialize, "--select", select], cwd=ROOT, env=env, check=True, capture_output=True
        )
        freed = 0.0
        if mode == "with_retention":
            pruned = subprocess.run(
                [sys.executable, "-c", PRUNE, str(dbt_target)],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
                text=True,
            )
            freed = int(pruned.stdout.strip().splitlines()[-1]) / 1e6
        row = {"cycle": cycle, "seconds": round(time.perf_counter() - started, 1)}
        row |= {k: round(v, 2) for k, v in areas(home, dbt_target).items()}
        row["freed_mb"] = round(freed, 2)
        rows.append(row)
        print(mode, json.dumps(row), flush=True)
    return rows


def slope(rows: list[dict], skip: int) -> float:
    """Least-squares MB per cycle of the total over the cycles after `skip`."""
    tail = [r for r in rows if r["cycle"] > skip]
    return float(np.polyfit([r["cycle"] for r in tail], [r["total_mb"] for r in tail], 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=50)
    parser.add_argument("--baseline-cycles", type=int, default=20)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/mlplatform-disk-bench"))
    parser.add_argument("--output", type=Path, default=ROOT / "bench/results/disk_retention.json")
    args = parser.parse_args()

    cycles = {"without_retention": args.baseline_cycles, "with_retention": args.cycles}
    for mode in args.modes:
        subprocess.run(["rm", "-rf", str(args.scratch / mode)], check=True)
    with ThreadPoolExecutor(len(args.modes)) as pool:
        futures = {
            mode: pool.submit(run_mode, mode, cycles[mode], args.trials, args.scratch)
            for mode in args.modes
        }
        results = {mode: future.result() for mode, future in futures.items()}
    # Flat after the versions kept fill up: the policy's count plus champion and previous.
    from mlplatform.core.retention import RetentionConfig

    settle = RetentionConfig.keep_model_versions + 2
    summary = {mode: round(slope(rows, settle), 3) for mode, rows in results.items()}
    report = {
        "commit": commit_of(ROOT),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "cycles": {mode: cycles[mode] for mode in args.modes},
        "trials_per_training": args.trials,
        "slope_after_cycle": settle,
        "slope_mb_per_cycle": summary,
        "cycles_measured": results,
    }
    if "with_retention" in summary:
        report["verdicts"] = {
            "retention_slope_mb_per_cycle": {
                "value": summary["with_retention"],
                "goal": SLOPE_GOAL_MB,
                "met": summary["with_retention"] <= SLOPE_GOAL_MB,
            }
        }
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({"slope_mb_per_cycle": summary, "verdicts": report.get("verdicts")}))


if __name__ == "__main__":
    main()
