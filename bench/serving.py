"""The prediction service under load: `mlplatform serve` and `mlflow models serve` of the same
registered version, in one run, at 1, 4 and 16 concurrent clients on 127.0.0.1.

- `floor`: the bare model's time per project, `Tagger.predictions` of one text in process (the
  median of 1 000, measured before and after the load; the faster of the two counts).
- per server and concurrency: latency p50/p95/p99 and requests per second over a bounded number
  of requests (each client keeps one connection, as a real client would).
- `swap`: 16 clients on `mlplatform serve` while `champion` moves to another version: the failed
  requests (goal 0) and how many answers each version gave (met only when both answered).

The model is a word TF-IDF + logistic-regression tagger fitted on the shipped data (the tests'
`register_tagger`), not a tuned champion: the service's overhead is the subject, not the model.

    uv run python bench/serving.py [--requests 600] [--output bench/results/serving.json]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from import_time import commit_of

from mlplatform.core.text import project_text
from mlplatform.resources import build_model_registry
from mlplatform.resources.model_registry import CHAMPION
from mlplatform.resources.source import MadeWithMLSource
from mlplatform.settings import Settings, reveal
from mlplatform_tests.support.mlops import register_tagger
from mlplatform_tests.support.services import background, wait_for_http
from mlplatform_tests.support.webserver import free_port

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
CONCURRENCY = (1, 4, 16)
TIME_LIMIT_SECONDS = 120  # per server and concurrency, whatever --requests says
SWAP_LOAD_FACTOR = 20  # the swap's load, in multiples of --requests
P50_FLOOR_RATIO_GOAL = 1.2
PROJECT = {
    "title": "Transfer learning with transformers",
    "description": "Using transformers for text classification.",
}


def floor_seconds(tagger, repeats: int = 1000) -> float:
    text = project_text(_frame())
    tagger.predictions(text)  # warm
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        tagger.predictions(text)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _frame():
    import pandas as pd

    return pd.DataFrame([PROJECT])


def load(port: int, path: str, body: bytes, clients: int, requests: int) -> dict:
    """`requests` POSTs spread over `clients` threads, each on its own connection."""
    latencies: list[float] = []
    failures: list[str] = []
    versions: dict[str, int] = {}
    lock = threading.Lock()
    deadline = time.monotonic() + TIME_LIMIT_SECONDS

    def client(count: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Content-Type": "application/json"}
        for _ in range(count):
            if time.monotonic() > deadline:
                break
            started = time.perf_counter()
            try:
                connection.request("POST", path, body, headers)
                response = connection.getresponse()
                answer = response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException) as error:
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                ok, answer = False, repr(error).encode()
            elapsed = time.perf_counter() - started
            with lock:
                if ok:
                    latencies.append(elapsed)
                    version = json.loads(answer).get("version")
                    if version:
                        versions[version] = versions.get(version, 0) + 1
                else:
                    failures.append(answer[:200].decode(errors="replace"))
        connection.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, [requests // clients] * clients))
    wall = time.perf_counter() - started
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {
        "clients": clients,
        "requests": len(latencies) + len(failures),
        "failed": len(failures),
        "failures": failures[:5],
        "p50_ms": round(quantiles[49] * 1000, 3),
        "p95_ms": round(quantiles[94] * 1000, 3),
        "p99_ms": round(quantiles[98] * 1000, 3),
        "requests_per_second": round(len(latencies) / wall, 1),
        "versions": versions,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--output", type=Path, default=ROOT / "bench/results/serving.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch) / "home"
        env = {**os.environ, "MLPLATFORM_HOME": str(home), "MLPLATFORM_SERVE_REFRESH_SECONDS": "1"}
        settings = Settings.from_env(env)
        env["MLFLOW_TRACKING_URI"] = reveal(settings.mlflow_tracking_uri)
        registry = build_model_registry(settings)
        source = MadeWithMLSource(location=str(settings.source))
        projects, tags = source.read_projects(), source.read_tags()
        labeled = projects.merge(tags, on="id")
        first, second = register_tagger(registry, labeled), register_tagger(registry, labeled)
        registry.promote(first, expected_champion=None)
        tagger = registry.load(first).tagger
        floors = [floor_seconds(tagger)]
        ours, theirs = free_port(), free_port()
        uri = f"models:/{registry.registered_model_name}@{CHAMPION}"
        mlflow_command = [str(BIN / "mlflow"), "models", "serve", "-m", uri]
        mlflow_command += ["--env-manager", "local", "--host", "127.0.0.1", "-p", str(theirs)]
        serve_command = [str(BIN / "mlplatform"), "serve", "--port", str(ours)]
        ours_body = json.dumps(PROJECT).encode()
        theirs_body = json.dumps({"dataframe_records": [PROJECT]}).encode()
        results: dict = {}
        with (
            background(serve_command, env, Path(scratch) / "serve.log", ROOT) as serve,
            background(mlflow_command, env, Path(scratch) / "mlflow.log", ROOT) as mlflow,
        ):
            wait_for_http(f"http://127.0.0.1:{ours}/health", serve, Path(scratch) / "serve.log")
            wait_for_http(f"http://127.0.0.1:{theirs}/ping", mlflow, Path(scratch) / "mlflow.log")
            for clients in CONCURRENCY:
                results[f"mlplatform_c{clients}"] = load(
                    ours, "/predict", ours_body, clients, args.requests
                )
                results[f"mlflow_c{clients}"] = load(
                    theirs, "/invocations", theirs_body, clients, args.requests
                )
                print(clients, results[f"mlplatform_c{clients}"], results[f"mlflow_c{clients}"])
            # Long enough that the swap lands inside the load on any machine (the alias is read
            # every second, then the version loads); the verdict counts only if both answered.
            swapper = threading.Timer(2.0, lambda: registry.promote(second, first))
            swapper.start()
            swap = load(ours, "/predict", ours_body, 16, args.requests * SWAP_LOAD_FACTOR)
            swapper.join()
            floors.append(floor_seconds(tagger))  # again, with both servers up and idle
        results["swap_c16"] = swap
        # The faster of the two: the stricter goal, and machine noise does not flatter the ratio.
        floor = min(floors)
    payload = {
        "commit": commit_of(ROOT),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "floor_ms": round(floor * 1000, 3),
        "floor_ms_before_and_after": [round(f * 1000, 3) for f in floors],
        "results": results,
        "verdicts": verdicts(floor, results),
    }
    args.output.write_text(json.dumps(payload, indent=2) + "\n")
    print(json.dumps(payload["verdicts"], indent=2))


def verdicts(floor: float, results: dict) -> dict:
    p50 = results["mlplatform_c1"]["p50_ms"] / (floor * 1000)
    out = {
        "p50_c1_over_floor": {
            "value": round(p50, 2),
            "goal": P50_FLOOR_RATIO_GOAL,
            "met": p50 <= P50_FLOOR_RATIO_GOAL,
        }
    }
    for clients in CONCURRENCY:
        ours = results[f"mlplatform_c{clients}"]["requests_per_second"]
        theirs = results[f"mlflow_c{clients}"]["requests_per_second"]
        out[f"throughput_vs_mlflow_c{clients}"] = {
            "value": round(ours / theirs, 2) if theirs else None,
            "goal": 1.0,
            "met": bool(theirs) and ours >= theirs,
        }
    swap = results["swap_c16"]
    swapped = len(swap["versions"]) == 2  # else the load ended before the swap: no evidence
    out["failed_during_swap"] = {
        "value": swap["failed"],
        "goal": 0,
        "met": swapped and swap["failed"] == 0,
        "both_versions_answered": swapped,
    }
    return out


if __name__ == "__main__":
    main()
