"""Wall time of the default test command: this checkout against an earlier commit, in one run.

The earlier commit is exported (`git archive`) to a scratch directory and gets its own
environment from the same `uv.lock` cache (`uv sync --locked`); then `uv run pytest` runs there
and here, one after the other, each with the options its own pyproject.toml sets. Writes
bench/results/test_suite_time.json with both wall times, their test counts and the ratio.

    uv run python bench/test_suite_time.py [--baseline 21ee622]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "test_suite_time.json"
# The last commit before issue #14's faster suite.
BASELINE = "21ee622"


def export_commit(commit: str, destination: Path) -> Path:
    destination.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit], cwd=ROOT, capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(destination)], input=archive.stdout, check=True)
    subprocess.run(["uv", "sync", "--locked", "--quiet"], cwd=destination, check=True)
    return destination


def timed_suite(project: Path) -> dict:
    started = time.perf_counter()
    completed = subprocess.run(
        ["uv", "run", "pytest", "-p", "no:cacheprovider", "-q"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    summary = completed.stdout.strip().splitlines()[-1] if completed.stdout.strip() else ""
    counts = {kind: int(n) for n, kind in re.findall(r"(\d+) (passed|failed|skipped)", summary)}
    return {"seconds": round(seconds, 1), "exit_code": completed.returncode, **counts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", default=BASELINE)
    args = parser.parse_args()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", args.baseline],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    scratch = Path(tempfile.mkdtemp(prefix="mlp-suite-"))
    try:
        baseline = timed_suite(export_commit(commit, scratch / "baseline"))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    current = timed_suite(ROOT)
    result = {
        "baseline_commit": commit,
        "baseline": baseline,
        "current": current,
        "ratio": round(current["seconds"] / baseline["seconds"], 3),
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
