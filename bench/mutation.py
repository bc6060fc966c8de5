"""Mutation testing of the decision modules with mutmut, and the three mutants of issue #14.

1. `mutmut run` mutates the modules listed under `[tool.mutmut]` in pyproject.toml (the gate,
   drift, evaluation, performance and retraining code, the sensor's reading of the monitoring
   events, the automation condition, the model IO manager) and runs the fast tests there
   against each mutant. mutmut mutates function bodies only: decorator arguments and
   module-level constants are covered by the named mutants below and by the definitions
   snapshot.
2. Each named mutant (a one-line change that once left the whole suite green) is applied to a
   copy of the project, and the tests that should catch it are run there.

Writes bench/results/mutation.json: the score, every surviving mutant with its diff, and
whether each named mutant was killed.

    uv run python bench/mutation.py [--skip-mutmut] [--skip-named]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

from mlplatform_tests.support.commands import BIN

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "mutation.json"


@dataclass(frozen=True)
class NamedMutant:
    name: str
    path: str
    before: str
    after: str
    tests: tuple[str, ...]


NAMED_MUTANTS = (
    NamedMutant(
        "promotion_gate made non-blocking",
        "mlplatform/defs/deployment/checks.py",
        "blocking=True",
        "blocking=False",
        (
            "mlplatform_tests/test_mlops_assets.py::"
            "test_gate_promotes_only_better_models_and_rollback_restores",
        ),
    ),
    NamedMutant(
        "retraining sensor forgets its last trigger time on an event it does not act on",
        "mlplatform/core/retraining.py",
        "    handled = replace(\n        cursor,\n",
        "    handled = replace(\n        cursor,\n        triggered_at=None,\n",
        ("mlplatform_tests/test_retraining_policy.py",),
    ),
    NamedMutant(
        "evaluation and promotion re-run on new data alone",
        "mlplatform/defs/deployment/assets.py",
        'fresh_when_parents_update(ignore=["labeled_projects"])',
        "fresh_when_parents_update()",
        ("mlplatform_tests/test_decisions.py",),
    ),
)


def mutmut(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "mutmut"), *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


def run_mutmut(max_children: int) -> dict:
    shutil.rmtree(ROOT / "mutants", ignore_errors=True)
    started = time.perf_counter()
    run = mutmut("run", "--max-children", str(max_children))
    seconds = time.perf_counter() - started
    if run.returncode != 0:
        raise SystemExit(f"mutmut run failed ({run.returncode}):\n{run.stdout}\n{run.stderr}")
    export = mutmut("export-cicd-stats")
    if export.returncode != 0:
        raise SystemExit(f"mutmut export-cicd-stats failed:\n{export.stdout}\n{export.stderr}")
    stats = json.loads((ROOT / "mutants" / "mutmut-cicd-stats.json").read_text())
    survivors = []
    for line in mutmut("results").stdout.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name:
            diff = mutmut("show", name).stdout
            survivors.append({"mutant": name, "status": status, "diff": _diff_body(diff)})
    judged = stats["killed"] + stats["survived"] + stats["timeout"] + stats["suspicious"]
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    return {
        "modules": config["only_mutate"],
        "tests": config["pytest_add_cli_args_test_selection"],
        "seconds": round(seconds, 1),
        "counts": stats,
        # Timeouts count as killed (the mutant hung the test); mutants no test reaches do not.
        "score": round((stats["killed"] + stats["timeout"]) / judged, 4) if judged else None,
        "not_killed": survivors,
    }


def _diff_body(diff: str) -> list[str]:
    """The changed lines of a mutant's diff, without its headers."""
    return [
        line
        for line in diff.splitlines()
        if re.match(r"^[+-](?![+-])", line) and not line.startswith(("+++", "---"))
    ]


def project_copy(destination: Path) -> Path:
    ignored = shutil.ignore_patterns(
        ".venv", ".git", "mutants", "__pycache__", ".mlplatform", "*.pyc", ".pytest_cache"
    )
    shutil.copytree(ROOT, destination, ignore=ignored)
    return destination


def run_named(mutant: NamedMutant) -> dict:
    with tempfile.TemporaryDirectory(prefix="mlp-mutant-") as scratch:
        copy = project_copy(Path(scratch) / "project")
        target = copy / mutant.path
        source = target.read_text()
        if source.count(mutant.before) != 1:
            raise SystemExit(f"{mutant.path}: expected {mutant.before!r} exactly once")
        target.write_text(source.replace(mutant.before, mutant.after))
        # The copy comes first on the path, ahead of the editable install of this checkout.
        env = {**os.environ, "PYTHONPATH": str(copy)}
        started = time.perf_counter()
        completed = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *mutant.tests],
            cwd=copy,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        failed = re.findall(r"^FAILED (\S+)", completed.stdout, flags=re.MULTILINE)
        return {
            **asdict(mutant),
            "killed": completed.returncode == 1 and bool(failed),
            "failed_tests": failed,
            "pytest_exit_code": completed.returncode,
            "seconds": round(time.perf_counter() - started, 1),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--skip-mutmut", action="store_true")
    parser.add_argument("--skip-named", action="store_true")
    args = parser.parse_args()
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    result = {**previous, "python": sys.version.split()[0]}
    if not args.skip_mutmut:
        result["mutmut"] = run_mutmut(args.max_children)
        print(f"mutmut: score {result['mutmut']['score']} {result['mutmut']['counts']}")
    if not args.skip_named:
        result["named_mutants"] = [run_named(mutant) for mutant in NAMED_MUTANTS]
        for named in result["named_mutants"]:
            print(f"{'killed ' if named['killed'] else 'SURVIVED'} {named['name']}")
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
