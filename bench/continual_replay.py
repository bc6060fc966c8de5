"""Replay the Made With ML data month by month, plus one injected drifted batch.

Each step sets MLPLATFORM_SOURCE_AS_OF and drives the real sensors and automation conditions
through a Dagster instance (mlplatform.lib.driver): the source sensor ingests, automation
builds labeled_projects and drift_report, the drift sensor asks for retraining, the gate decides.
The champion is scored on holdout_2023.csv after every step, next to the model frozen after the
first champion; those holdout ids are withheld from the replayed source so no model trains on them.
Writes bench/results/continual_replay.json and bench/results/continual_replay.md.

    uv run python bench/continual_replay.py [--trials 20]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pandas as pd
from dagster import DagsterInstance

from mlplatform.core.sources import SHIPPED_DATA_DIR
from mlplatform.core.synthetic import drifted_batch
from mlplatform.core.training import prepare_labeled, score_tagger
from mlplatform.definitions import build_definitions
from mlplatform.lib.driver import AutomationDriver, ContinualLoop
from mlplatform.resources import build_model_registry
from mlplatform.resources.model_registry import CHAMPION
from mlplatform.resources.policies import MonitoringPolicy, TrainingPolicy
from mlplatform.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
STEPS = [
    "2020-04-01",
    "2020-05-01",
    "2020-06-01",
    "2020-07-01",
    "2020-08-01",
    "2020-08-15",
    "2020-09-01",
    "2020-10-01",
    "2020-10-07",
]
INJECTED_STEP = "2020-08-15"  # the drifted batch is dated 2020-08-02 .. 2020-08-14
DRIFT_TESTS = ("label_distribution", "text_length", "text_content", "prediction_distribution")


def write_replay_source(directory: Path, holdout_ids: set[int]) -> Path:
    projects = pd.read_csv(SHIPPED_DATA_DIR / "projects.csv")
    tags = pd.read_csv(SHIPPED_DATA_DIR / "tags.csv")
    injected_projects, injected_tags = drifted_batch(
        120, first_id=100_000, start="2020-08-02", end="2020-08-14 23:00", seed=7
    )
    keep = ~projects["id"].isin(holdout_ids)
    directory.mkdir(parents=True, exist_ok=True)
    pd.concat([projects[keep], injected_projects]).to_csv(directory / "projects.csv", index=False)
    pd.concat([tags[tags["id"].isin(projects["id"][keep])], injected_tags]).to_csv(
        directory / "tags.csv", index=False
    )
    return directory


def champion_f1(registry, holdout: pd.DataFrame, version: str | None) -> float | None:
    if version is None:
        return None
    return score_tagger(registry.load(version).tagger, holdout).overall.f1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument(
        "--plot-only", action="store_true", help="redraw the plot from the saved results"
    )
    args = parser.parse_args()
    if args.plot_only:
        save_plot(json.loads((RESULTS / "continual_replay.json").read_text()))
        return
    holdout = prepare_labeled(pd.read_csv(SHIPPED_DATA_DIR / "holdout_2023.csv"))
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        source = write_replay_source(Path(scratch) / "source", set(holdout["id"]))
        base = Settings.from_env(
            {"MLPLATFORM_HOME": str(Path(scratch) / "home"), "MLPLATFORM_SOURCE": str(source)}
        )
        overrides = {
            "training_policy": TrainingPolicy(n_trials=args.trials, cv_folds=3),
            # No cool-down: measure what the detector asks for, month by month.
            "monitoring_policy": MonitoringPolicy(retraining_cooldown_seconds=0),
        }
        loop = ContinualLoop(AutomationDriver(DagsterInstance.ephemeral()))
        steps, frozen = [], None
        for as_of in STEPS:
            settings = Settings.from_env(
                {
                    "MLPLATFORM_HOME": str(base.home),
                    "MLPLATFORM_SOURCE": str(source),
                    "MLPLATFORM_SOURCE_AS_OF": as_of,
                }
            )
            defs = build_definitions(settings, **overrides)
            registry = build_model_registry(settings)
            before = registry.alias_version(CHAMPION)
            outcome = loop.step(defs)
            # Until a first model passes the gate's minimum quality, train by hand each step.
            bootstrap = before is None
            if bootstrap:
                loop.bootstrap(defs)
            after = registry.alias_version(CHAMPION)
            frozen = frozen or after
            report = outcome.drift_reports[0] if outcome.drift_reports else {}
            steps.append(
                {
                    "as_of": as_of,
                    "injected": as_of == INJECTED_STEP,
                    "new_rows": report.get("new_rows", 0),
                    "drift": report.get("status", "no_reference"),
                    "statistics": {t: report.get(f"{t}/statistic") for t in DRIFT_TESTS},
                    "drifted_tests": [t for t in DRIFT_TESTS if report.get(f"{t}/drifted")],
                    "retrained": bool(outcome.retraining_runs),
                    "bootstrap_training": bootstrap,
                    "champion_changed": after != before,
                    "champion_version": after,
                    "champion_f1": champion_f1(registry, holdout, after),
                    "frozen_f1": champion_f1(registry, holdout, frozen),
                }
            )
            print(
                json.dumps(
                    {
                        k: steps[-1][k]
                        for k in (
                            "as_of",
                            "new_rows",
                            "drift",
                            "retrained",
                            "champion_f1",
                            "frozen_f1",
                        )
                    }
                ),
                flush=True,
            )
    retrained = [s for s in steps if s["retrained"]]
    scored = [s for s in steps if s["champion_f1"] is not None]
    result = {
        "what": "Made With ML projects replayed by MLPLATFORM_SOURCE_AS_OF, one injected batch",
        "holdout": "holdout_2023.csv (191 rows; its ids withheld from the replayed source)",
        "trials_per_training": args.trials,
        "seconds": time.perf_counter() - started,
        "injected_drift_retrainings": sum(s["injected"] for s in retrained),
        "natural_retrainings": sum(not s["injected"] for s in retrained),
        "champion_never_worse_than_frozen": all(
            s["champion_f1"] >= s["frozen_f1"] - 1e-9 for s in scored
        ),
        "steps": steps,
    }
    (RESULTS / "continual_replay.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    (RESULTS / "continual_replay.md").write_text(timeline_markdown(result))
    save_plot(result)
    print(json.dumps({k: v for k, v in result.items() if k != "steps"}, indent=2))


def save_plot(result: dict) -> None:
    """The champion's and the frozen model's holdout F1 at each step, retrainings marked."""
    from matplotlib.figure import Figure

    steps = result["steps"]
    labels = [s["as_of"] + (" (injected)" if s["injected"] else "") for s in steps]
    figure = Figure(figsize=(9, 4))
    axes = figure.subplots()
    for key, name, style in (("frozen_f1", "frozen", "--"), ("champion_f1", "platform", "-")):
        axes.plot(labels, [s[key] for s in steps], style, marker="o", label=name)
    for index, step in enumerate(steps):
        if step["retrained"]:
            axes.axvline(index, color="tab:red", alpha=0.3)
            axes.text(
                index,
                0.5,
                " drift confirmed: retrained",
                color="tab:red",
                transform=axes.get_xaxis_transform(),
            )
    axes.set_ylabel("weighted F1 on holdout_2023")
    axes.set_title("Continual replay: the champion vs the first model frozen")
    axes.tick_params(axis="x", rotation=30)
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(RESULTS / "continual_replay.png", dpi=100)


def timeline_markdown(result: dict) -> str:
    def number(value: float | None) -> str:
        return "" if value is None else f"{value:.3f}"

    lines = [
        "# Continual replay",
        "",
        f"{result['holdout']}; {result['trials_per_training']} "
        f"optuna trials per training; {result['seconds']:.0f} s in all.",
        "",
        "| as_of | new rows | drift | "
        + " | ".join(DRIFT_TESTS)
        + " | retrained | champion changed | champion F1 | frozen F1 |",
        "|---|---|---|" + "---|" * len(DRIFT_TESTS) + "---|---|---|---|",
    ]
    for step in result["steps"]:
        stats = " | ".join(
            f"{number(step['statistics'][t])}{' **drift**' if t in step['drifted_tests'] else ''}"
            for t in DRIFT_TESTS
        )
        label = step["as_of"] + (" (injected batch)" if step["injected"] else "")
        retrained = "yes" if step["retrained"] else ""
        if step["bootstrap_training"]:
            retrained = "first model " + ("promoted" if step["champion_version"] else "refused")
        lines.append(
            f"| {label} | {step['new_rows']} | {step['drift']} | {stats} | {retrained} | "
            f"{'yes' if step['champion_changed'] else ''} | "
            f"{number(step['champion_f1'])} | {number(step['frozen_f1'])} |"
        )
    lines += [
        "",
        f"Retrainings on the injected batch: {result['injected_drift_retrainings']}; "
        f"on natural months: {result['natural_retrainings']}; champion never worse than "
        f"frozen: {result['champion_never_worse_than_frozen']}.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
