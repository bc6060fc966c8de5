"""Replay the Made With ML data month by month, plus one injected drifted batch, under three
retraining policies side by side.

Each step is a month arriving whole (MLPLATFORM_SOURCE_AS_OF at the month's last second) and
drives the real sensors and automation conditions through a Dagster instance
(mlplatform_tests.support.driver): the source sensor asks for the month that changed, automation
builds that month of labeled_projects, drift_report and champion_performance, the retraining
sensor applies the policy (the first model included: nothing is trained by hand), the gate
decides.

- frozen: the first promoted model forever (only the first-training rule on);
- oracle: a challenger at every step with new rows (gated): the most a policy can get;
- platform: the default RetrainingPolicy.

Each policy has its own instance, tracking store and registry. Every champion is scored on
holdout_2023.csv after every step; those ids are withheld from the replayed source.
The cool-down is 0 for all three: the replay compresses months into minutes of event time.
Writes bench/results/continual_replay.{json,md,png}.

`--label-delay` replays the same months as a deployment meets them: a project's tag becomes known
`LABEL_DELAY_DAYS` after it arrives, and only for `LABEL_BUDGET` of each month's projects, chosen
(a) at random or (b) from the month's `labeling_queue` (the champion's least sure, with its
diversity guard; at random while there is no champion to rank them), for three seeds. Writes
bench/results/continual_replay_delayed.{json,md}.

    uv run python bench/continual_replay.py [--trials 20]
    uv run python bench/continual_replay.py --label-delay [--trials 5]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd
from dagster import DagsterInstance
from import_time import commit_of

from mlplatform.core.gate import GateConfig
from mlplatform.core.partitions import CreationWindow, month_key
from mlplatform.core.predictions import LABELING_QUEUE_TABLE
from mlplatform.core.retraining import DRIFT
from mlplatform.core.sources import SHIPPED_DATA_DIR
from mlplatform.core.training import prepare_labeled, score_tagger
from mlplatform.definitions import build_definitions
from mlplatform.defs.monitoring.sensors import REASON_TAG, RULES_SEPARATOR, RULES_TAG
from mlplatform.resources import build_model_registry, build_warehouse
from mlplatform.resources.model_registry import CHAMPION
from mlplatform.resources.policies import RetrainingPolicy, TrainingPolicy
from mlplatform.settings import Settings
from mlplatform_tests.support.driver import AutomationDriver, ContinualLoop
from mlplatform_tests.support.synthetic import drifted_batch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
# The months, in order; the first step brings February (4 projects) and March together.
STEPS = [
    "2020-03-01",
    "2020-04-01",
    "2020-05-01",
    "2020-06-01",
    "2020-07-01",
    "2020-08-01",
    "2020-09-01",
    "2020-10-01",
]
INJECTED_STEP = "2020-08-01"  # the drifted batch is dated 2020-08-02 .. 2020-08-14
DRIFT_TESTS = ("label_distribution", "text_length", "text_content", "prediction_distribution")
POLICIES = {
    "frozen": RetrainingPolicy(
        cooldown_seconds=0, on_drift=False, decay_margin=None, growth_ratio=None
    ),
    "oracle": RetrainingPolicy(
        cooldown_seconds=0, decay_margin=None, growth_ratio=0.0, min_new_rows=1
    ),
    "platform": RetrainingPolicy(cooldown_seconds=0),
}


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


def replay_policy(
    policy: RetrainingPolicy,
    source: Path,
    home: Path,
    holdout: pd.DataFrame,
    trials: int,
    seed: int | None = None,
    after_step: Callable[[Settings, str], None] | None = None,
) -> list[dict]:
    """Every step of the replay under one policy, on its own instance and registry;
    `after_step(settings, month)` runs after each step (the labelers' turn)."""
    loop = ContinualLoop(AutomationDriver(DagsterInstance.ephemeral()))
    overrides = {
        "training_policy": TrainingPolicy(n_trials=trials, cv_folds=3),
        "retraining_policy": policy,
    }
    steps, holdout_f1 = [], {}
    for as_of in STEPS:
        month_end = pd.Timestamp(as_of) + pd.DateOffset(months=1) - pd.Timedelta(seconds=1)
        settings = Settings.from_env(
            {
                "MLPLATFORM_HOME": str(home),
                "MLPLATFORM_SOURCE": str(source),
                "MLPLATFORM_SOURCE_AS_OF": str(month_end),
                **({"MLPLATFORM_SEED": str(seed)} if seed is not None else {}),
            }
        )
        registry = build_model_registry(settings)
        before = registry.alias_version(CHAMPION)
        outcome = loop.step(build_definitions(settings, **overrides))
        after = registry.alias_version(CHAMPION)
        report = outcome.drift_reports[0] if outcome.drift_reports else {}
        runs = outcome.retraining_runs
        if after not in holdout_f1:  # a champion stays for many steps: score each version once
            holdout_f1[after] = champion_f1(registry, holdout, after)
        steps.append(
            {
                "as_of": as_of,
                "injected": as_of == INJECTED_STEP,
                "new_rows": report.get("new_rows", 0),
                "drift": report.get("status", "no_reference"),
                "statistics": {t: report.get(f"{t}/statistic") for t in DRIFT_TESTS},
                "drifted_tests": [t for t in DRIFT_TESTS if report.get(f"{t}/drifted")],
                "retrained": bool(runs),
                "rules": [run.dagster_run.tags[RULES_TAG] for run in runs],
                "reason": outcome.retraining_skip
                or "; ".join(run.dagster_run.tags[REASON_TAG] for run in runs),
                "train_seconds": sum(_run_seconds(loop, run) for run in runs),
                "champion_changed": after != before,
                "champion_version": after,
                "champion_f1": holdout_f1[after],
            }
        )
        print(json.dumps({k: steps[-1][k] for k in ("as_of", "rules", "champion_f1")}), flush=True)
        if after_step is not None:
            after_step(settings, as_of)
    return steps


def _run_seconds(loop: ContinualLoop, run) -> float:
    stats = loop.driver.instance.get_run_stats(run.run_id)
    return stats.end_time - stats.start_time


def summarize(steps: list[dict]) -> dict:
    """Time-averaged champion F1 (steps with a champion), cost, and what the gate refused."""
    scored = [s["champion_f1"] for s in steps if s["champion_f1"] is not None]
    second_half = [
        s["champion_f1"] for s in steps[len(steps) // 2 :] if s["champion_f1"] is not None
    ]
    acted = [s["as_of"] for s in steps if s["retrained"] and s["as_of"] >= INJECTED_STEP]
    previous, regressions = None, 0
    for step in steps:
        if step["champion_changed"] and previous is not None:
            regressions += step["champion_f1"] < previous - GateConfig.f1_tolerance
        previous = step["champion_f1"]
    return {
        # None while no champion was ever scored (late labels can hold the first one back)
        "mean_f1": sum(scored) / len(scored) if scored else None,
        "mean_f1_second_half": sum(second_half) / len(second_half) if second_half else None,
        "steps_scored": len(scored),
        "retrainings": sum(s["retrained"] for s in steps),
        "train_seconds": sum(s["train_seconds"] for s in steps),
        "promotions": sum(s["champion_changed"] for s in steps),
        "promotions_refused": sum(s["retrained"] and not s["champion_changed"] for s in steps),
        "regressions_promoted": regressions,
        "injected_batch_acted_on": acted[0] if acted else None,
        "natural_drift_retrainings": sum(
            any(DRIFT in rules.split(RULES_SEPARATOR) for rules in s["rules"]) and not s["injected"]
            for s in steps
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument(
        "--redraw", action="store_true", help="redraw the plot and the tables from the results"
    )
    parser.add_argument(
        "--label-delay", action="store_true", help="labels late and partly (see the docstring)"
    )
    args = parser.parse_args()
    if args.label_delay:
        replay_with_label_delay(args.trials)
        return
    if args.redraw:
        saved = json.loads((RESULTS / "continual_replay.json").read_text())
        (RESULTS / "continual_replay.md").write_text(replay_markdown(saved))
        save_plot(saved)
        return
    holdout = prepare_labeled(pd.read_csv(SHIPPED_DATA_DIR / "holdout_2023.csv"))
    started = time.perf_counter()
    runs = {}
    with tempfile.TemporaryDirectory() as scratch:
        source = write_replay_source(Path(scratch) / "source", set(holdout["id"]))
        for name, policy in POLICIES.items():
            print(f"--- {name}", flush=True)
            home = Path(scratch) / name
            runs[name] = replay_policy(policy, source, home, holdout, args.trials)
    frozen = runs["frozen"]
    result = {
        "what": "Made With ML projects replayed by MLPLATFORM_SOURCE_AS_OF, one injected batch",
        "holdout": "holdout_2023.csv (191 rows; its ids withheld from the replayed source)",
        "trials_per_training": args.trials,
        "seconds": time.perf_counter() - started,
        "policy_settings": {name: policy.model_dump() for name, policy in POLICIES.items()},
        "policies": {name: summarize(steps) for name, steps in runs.items()},
        "champion_never_worse_than_frozen": {
            name: all(
                mine["champion_f1"] >= theirs["champion_f1"] - 1e-9
                for mine, theirs in zip(steps, frozen, strict=True)
                if theirs["champion_f1"] is not None
            )
            for name, steps in runs.items()
        },
        "steps": runs,
    }
    platform, oracle = result["policies"]["platform"], result["policies"]["oracle"]
    result["goals"] = {
        "f1_vs_oracle": platform["mean_f1"] / oracle["mean_f1"],
        "retrainings_vs_oracle": platform["retrainings"] / oracle["retrainings"],
    }
    (RESULTS / "continual_replay.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    (RESULTS / "continual_replay.md").write_text(replay_markdown(result))
    save_plot(result)
    print(json.dumps({k: v for k, v in result.items() if k != "steps"}, indent=2))


LABEL_DELAY_DAYS = 30
LABEL_BUDGET = 0.3
SEEDS = (0, 1, 2)
STRATEGIES = ("random", "labeling_queue")


class Labelers:
    """The people who label: `LABEL_BUDGET` of each month's projects, `LABEL_DELAY_DAYS` after
    each arrived, picked at random or from the month's `labeling_queue` (at random while it is
    empty: no champion yet). Writes the replay's `tags.csv` with `labeled_on`."""

    def __init__(self, source: Path, all_tags: pd.DataFrame, strategy: str, seed: int) -> None:
        self.source, self.strategy = source, strategy
        self.rng = np.random.default_rng(seed)
        self.projects = pd.read_csv(source / "projects.csv", parse_dates=["created_on"])
        self.tag_of = all_tags.set_index("id")["tag"]
        self.labeled: list[pd.DataFrame] = []
        self.months = month_key(self.projects["created_on"])
        if strategy == "random":  # decided up front: the draw does not depend on the model
            for month in sorted(self.months.unique()):
                self._label(self._at_random(month))
        self._write()

    def after_step(self, settings: Settings, as_of: str) -> None:
        """Label the months this step closed (the first step closes February and March)."""
        if self.strategy == "random":
            return
        closed = [m for m in sorted(self.months.unique()) if m <= as_of]
        for month in closed[len(self.labeled) :]:
            queued = self._queued(settings, month)
            self._label(queued if queued is not None else self._at_random(month))
        self._write()

    def _budget(self, month: str) -> int:
        return math.ceil(LABEL_BUDGET * int((self.months == month).sum()))

    def _at_random(self, month: str) -> pd.Series:
        ids = self.projects.loc[self.months == month, "id"]
        return ids.sample(n=self._budget(month), random_state=self.rng.integers(2**31))

    def _queued(self, settings: Settings, month: str) -> pd.Series | None:
        start = pd.Timestamp(month)
        window = CreationWindow.of(start, start + pd.DateOffset(months=1))
        warehouse = build_warehouse(settings)
        if warehouse.row_count(LABELING_QUEUE_TABLE, window) is None:
            return None  # no queue yet: no champion has predicted anything
        queue = warehouse.read_table(LABELING_QUEUE_TABLE, window)
        return queue.sort_values("rank")["id"].head(self._budget(month)) if len(queue) else None

    def _label(self, ids: pd.Series) -> None:
        rows = self.projects[self.projects["id"].isin(ids)]
        delay = pd.Timedelta(days=LABEL_DELAY_DAYS)
        self.labeled.append(
            pd.DataFrame(
                {
                    "id": rows["id"],
                    "tag": rows["id"].map(self.tag_of),
                    "labeled_on": (rows["created_on"] + delay).dt.strftime("%Y-%m-%d %H:%M:%S"),
                }
            )
        )

    def _write(self) -> None:
        frame = pd.concat(self.labeled) if self.labeled else pd.DataFrame(columns=["id", "tag"])
        frame.to_csv(self.source / "tags.csv", index=False)


def replay_with_label_delay(trials: int) -> None:
    """Each labeling strategy in a process of its own (the runs are single-threaded)."""
    holdout = prepare_labeled(pd.read_csv(SHIPPED_DATA_DIR / "holdout_2023.csv"))
    commit, started = commit_of(ROOT), time.perf_counter()  # the code measured, not later edits
    with ProcessPoolExecutor(len(STRATEGIES), mp_context=get_context("spawn")) as pool:
        futures = {s: pool.submit(replay_strategy, s, holdout, trials) for s in STRATEGIES}
        runs = {strategy: future.result() for strategy, future in futures.items()}
    result = delayed_result(runs, trials, time.perf_counter() - started, commit)
    (RESULTS / "continual_replay_delayed.json").write_text(
        json.dumps(result, indent=2, default=str) + "\n"
    )
    (RESULTS / "continual_replay_delayed.md").write_text(delayed_markdown(result))
    print(json.dumps({k: v for k, v in result.items() if k != "steps"}, indent=2))


def replay_strategy(strategy: str, holdout: pd.DataFrame, trials: int) -> dict:
    """Every policy and seed under one labeling strategy: {policy: {seed: steps}}."""
    runs: dict[str, dict[int, list[dict]]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        full = write_replay_source(Path(scratch) / "full", set(holdout["id"]))
        all_tags = pd.read_csv(full / "tags.csv")
        for name, policy in POLICIES.items():
            for seed in SEEDS:
                print(f"--- {strategy} {name} seed {seed}", flush=True)
                run = Path(scratch) / f"{name}-{seed}"
                source = run / "source"
                source.mkdir(parents=True)
                shutil.copy(full / "projects.csv", source / "projects.csv")
                labelers = Labelers(source, all_tags, strategy, seed)
                runs.setdefault(name, {})[seed] = replay_policy(
                    policy, source, run / "home", holdout, trials, seed, labelers.after_step
                )
    return runs


def delayed_result(runs: dict, trials: int, seconds: float, commit: str) -> dict:
    """Per strategy and policy: each seed's summary and the mean and spread over seeds; the
    goals as verdicts."""
    policies = {
        strategy: {
            name: _over_seeds({seed: summarize(steps) for seed, steps in by_seed.items()})
            for name, by_seed in by_policy.items()
        }
        for strategy, by_policy in runs.items()
    }
    never_worse = {
        strategy: {
            name: all(
                mine["champion_f1"] >= theirs["champion_f1"] - 1e-9
                for seed in SEEDS
                for mine, theirs in zip(
                    by_policy[name][seed], by_policy["frozen"][seed], strict=True
                )
                if theirs["champion_f1"] is not None and mine["champion_f1"] is not None
            )
            for name in by_policy
        }
        for strategy, by_policy in runs.items()
    }
    verdicts = {}
    for strategy, by_policy in policies.items():
        platform, oracle = by_policy["platform"], by_policy["oracle"]
        ratio = platform["mean_f1"]["mean"] / oracle["mean_f1"]["mean"]
        share = platform["retrainings"]["mean"] / max(oracle["retrainings"]["mean"], 1e-9)
        acted = [s["injected_batch_acted_on"] for s in platform["seeds"].values()]
        regressions = platform["regressions_promoted"]["total"]
        verdicts |= {
            f"{strategy}/platform_f1_vs_oracle": _verdict(ratio, 0.98, ratio >= 0.98),
            f"{strategy}/retrainings_vs_oracle": _verdict(share, 0.5, share <= 0.5),
            f"{strategy}/injected_batch_acted_on_at_its_step": _verdict(
                acted, INJECTED_STEP, all(a == INJECTED_STEP for a in acted)
            ),
            f"{strategy}/platform_regressions_promoted": _verdict(regressions, 0, regressions == 0),
            f"{strategy}/never_worse_than_frozen": _verdict(
                never_worse[strategy]["platform"], True, never_worse[strategy]["platform"]
            ),
        }
    active = policies["labeling_queue"]["platform"]["mean_f1"]
    passive = policies["random"]["platform"]["mean_f1"]
    verdicts["platform_active_vs_random_mean_f1"] = _verdict(
        active["mean"] - passive["mean"], "> 0", active["mean"] > passive["mean"]
    )
    return {
        "what": "Made With ML projects replayed by MLPLATFORM_SOURCE_AS_OF, one injected batch; "
        f"labels {LABEL_DELAY_DAYS} days late for {LABEL_BUDGET:.0%} of each month",
        "commit": commit,
        "holdout": "holdout_2023.csv (its ids withheld from the replayed source)",
        "trials_per_training": trials,
        "seeds": list(SEEDS),
        "seconds": seconds,
        "policies": policies,
        "champion_never_worse_than_frozen": never_worse,
        "verdicts": verdicts,
        "steps": runs,
    }


def _over_seeds(summaries: dict[int, dict]) -> dict:
    numbers = ("mean_f1", "retrainings", "regressions_promoted", "promotions")
    out: dict = {"seeds": summaries}
    for key in numbers:
        values = [s[key] for s in summaries.values() if s[key] is not None] or [float("nan")]
        out[key] = {
            "mean": float(np.mean(values)),
            "min": float(np.min(values)),
            "max": float(np.max(values)),
            "std": float(np.std(values)),
            "total": float(np.sum(values)),
        }
    return out


def _verdict(value, goal, met: bool) -> dict:
    return {"value": value, "goal": goal, "met": bool(met)}


def delayed_markdown(result: dict) -> str:
    lines = [
        "# Continual replay with late, partial labels",
        "",
        f"{result['what']}; {result['trials_per_training']} optuna trials per training; seeds "
        f"{result['seeds']}; {result['seconds']:.0f} s in all; commit {result['commit']}.",
        "",
        "| labeling | policy | mean F1 (mean over seeds) | min to max | retrainings (mean) "
        "| regressions promoted | injected batch acted on |",
        "|---|---|---|---|---|---|---|",
    ]
    for strategy, by_policy in result["policies"].items():
        for name, p in by_policy.items():
            acted = {s["injected_batch_acted_on"] or "never" for s in p["seeds"].values()}
            lines.append(
                f"| {strategy} | {name} | {p['mean_f1']['mean']:.3f} | "
                f"{p['mean_f1']['min']:.3f} to {p['mean_f1']['max']:.3f} | "
                f"{p['retrainings']['mean']:.1f} | {p['regressions_promoted']['total']:.0f} | "
                f"{', '.join(sorted(acted))} |"
            )
    lines += ["", "| goal | value | goal | met |", "|---|---|---|---|"]
    for name, v in result["verdicts"].items():
        value = f"{v['value']:.3f}" if isinstance(v["value"], float) else v["value"]
        lines.append(f"| {name} | {value} | {v['goal']} | {v['met']} |")
    lines.append("")
    return "\n".join(lines)


def save_plot(result: dict) -> None:
    """Each policy's champion F1 on the holdout at each step, retrainings marked."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 4.5))
    axes = figure.subplots()
    styles = {
        "frozen": ("--", "tab:gray"),
        "oracle": (":", "tab:green"),
        "platform": ("-", "tab:blue"),
    }
    for name, steps in result["steps"].items():
        style, color = styles[name]
        labels = [s["as_of"] + (" (injected)" if s["injected"] else "") for s in steps]
        values = [s["champion_f1"] for s in steps]
        axes.plot(labels, values, style, color=color, label=name)
        retrained = [i for i, s in enumerate(steps) if s["retrained"]]
        axes.scatter(
            [labels[i] for i in retrained], [values[i] for i in retrained], color=color, zorder=3
        )
    axes.set_ylabel("champion's weighted F1 on holdout_2023")
    axes.set_title("Continual replay: three retraining policies (dots: a retraining ran)")
    axes.tick_params(axis="x", rotation=30)
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(RESULTS / "continual_replay.png", dpi=100)


def replay_markdown(result: dict) -> str:
    def number(value: float | None) -> str:
        return "" if value is None else f"{value:.3f}"

    lines = [
        "# Continual replay",
        "",
        f"{result['holdout']}; {result['trials_per_training']} optuna trials per training; "
        f"{result['seconds']:.0f} s in all.",
        "",
        "| policy | mean F1 | mean F1, second half | retrainings | training s | promotions "
        "| refused | regressions promoted | injected batch acted on | natural drift retrainings |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, p in result["policies"].items():
        lines.append(
            f"| {name} | {p['mean_f1']:.3f} | {p['mean_f1_second_half']:.3f} | "
            f"{p['retrainings']} | {p['train_seconds']:.0f} | {p['promotions']} | "
            f"{p['promotions_refused']} | {p['regressions_promoted']} | "
            f"{p['injected_batch_acted_on'] or 'never'} | {p['natural_drift_retrainings']} |"
        )
    goals = result["goals"]
    lines += [
        "",
        f"Platform vs oracle: {goals['f1_vs_oracle']:.3f} of its mean F1 with "
        f"{goals['retrainings_vs_oracle']:.2f} of its retrainings. Champion never worse than "
        f"frozen: {result['champion_never_worse_than_frozen']}.",
        "",
        "## Steps",
        "",
        "New rows and drift statistics are the platform run's `drift_report`; each policy's "
        "cell is the rules that fired at that step and its champion's holdout F1 after it.",
        "",
        "| month | new rows | drift | "
        + " | ".join(DRIFT_TESTS)
        + " | "
        + " | ".join(f"{name} (rule, F1)" for name in result["steps"])
        + " |",
        "|---|---|---|" + "---|" * (len(DRIFT_TESTS) + len(result["steps"])),
    ]
    platform = result["steps"]["platform"]
    for index, step in enumerate(platform):
        stats = " | ".join(
            f"{number(step['statistics'][t])}{' **drift**' if t in step['drifted_tests'] else ''}"
            for t in DRIFT_TESTS
        )
        per_policy = " | ".join(
            f"{'+'.join(steps[index]['rules']) or '-'}, {number(steps[index]['champion_f1'])}"
            + (
                " (refused)"
                if steps[index]["retrained"] and not steps[index]["champion_changed"]
                else ""
            )
            for steps in result["steps"].values()
        )
        label = step["as_of"] + (" (injected batch)" if step["injected"] else "")
        lines.append(f"| {label} | {step['new_rows']} | {step['drift']} | {stats} | {per_policy} |")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
