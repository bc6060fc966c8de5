"""MkDocs hooks: the reference pages and the benchmark pages are generated from the code.

- `<!-- generated: settings -->` becomes the table of every variable in `mlplatform.settings`,
  with the default `Settings.from_env` gives when nothing is set;
- `<!-- generated: cli -->` becomes every `mlplatform` command, from the CLI's own parser;
- `<!-- generated: definitions -->` becomes every asset, check, sensor, schedule and job, from
  the definitions snapshot (`mlplatform_tests/snapshots/definitions.json`, which a test keeps
  equal to the code);
- each `bench/*.py` with results in `bench/results/` gets a page under `benchmarks/`.
"""

from __future__ import annotations

import ast
import json
import operator
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
SNAPSHOT = ROOT / "mlplatform_tests" / "snapshots" / "definitions.json"
BENCHMARKS_SECTION = "Benchmarks"
# A results file larger than this is linked by name rather than printed on the page.
RAW_JSON_LIMIT = 25_000


def on_config(config):
    """The Benchmarks section of the navigation lists every generated page."""
    # The navigation names a benchmark by its script; its page's title is the docstring's.
    pages = [
        {name.replace("_", " ").capitalize(): f"benchmarks/{name}.md"} for name in _benchmarks()
    ]
    for entry in config["nav"]:
        if isinstance(entry, dict) and BENCHMARKS_SECTION in entry:
            entry[BENCHMARKS_SECTION] = ["benchmarks/index.md", *pages]
    return config


def on_files(files: Files, config) -> Files:
    for name in _benchmarks():
        files.append(File.generated(config, f"benchmarks/{name}.md", content=_benchmark_page(name)))
        for image in sorted(RESULTS.glob(f"{name}*.png")):
            files.append(
                File.generated(config, f"benchmarks/{image.name}", abs_src_path=str(image))
            )
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    for name, render in GENERATORS.items():
        marker = f"<!-- generated: {name} -->"
        if marker in markdown:
            markdown = markdown.replace(marker, render())
    return markdown


# --- settings ---------------------------------------------------------------------------------


def settings_table() -> str:
    from mlplatform.choices import Registry
    from mlplatform.feature_store import FEATURE_STORES
    from mlplatform.ingestion import INGESTIONS
    from mlplatform.lib.execution import EXECUTORS
    from mlplatform.resources.warehouses import WAREHOUSES
    from mlplatform.settings import PROJECT_ROOT, VARIABLES, Settings

    registries: dict[str, Registry] = {
        registry.variable: registry
        for registry in (INGESTIONS, WAREHOUSES, FEATURE_STORES, EXECUTORS)
    }
    defaults = Settings.from_env({})
    home = str(defaults.home)

    def shown(value: Any) -> str:
        """A default as a user would write it: paths under the home or the checkout relative."""
        if value is None:
            return "unset"
        if isinstance(value, bool):
            return f"`{int(value)}`"
        if value == defaults.home:
            return f"`{defaults.home.relative_to(PROJECT_ROOT)}`"
        text = str(value).replace(home, "$MLPLATFORM_HOME").replace(f"{PROJECT_ROOT}/", "")
        return f"`{text}`"

    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for variable in VARIABLES:
        default = (
            shown(operator.attrgetter(variable.field)(defaults))
            if variable.field
            else shown(variable.default)
        )
        meaning = variable.meaning
        if variable.name in registries:
            choices = ", ".join(f"`{name}`" for name in registries[variable.name].entries)
            meaning += f" One of {choices}."
        rows.append(f"| `{variable.name}` | {default} | {meaning} |")
    return "\n".join(rows)


# --- CLI --------------------------------------------------------------------------------------


def cli_reference() -> str:
    from mlplatform.cli import build_parser, commands

    return "\n\n".join(
        f"## `mlplatform {name}`\n\n{summary[0].upper()}{summary[1:]}.\n\n"
        f"```text\n{command.format_help().strip()}\n```"
        for name, (summary, command) in commands(build_parser()).items()
    )


# --- definitions ------------------------------------------------------------------------------


def definitions_reference() -> str:
    listing = json.loads(SNAPSHOT.read_text())
    assets = ["| asset | group | partitions | upstream | what it is |", "|---|---|---|---|---|"]
    for name, asset in listing["assets"].items():
        upstream = ", ".join(f"`{parent}`" for parent in asset["upstream"]) or "—"
        partitions = (asset["partitions"] or "—").lower()
        assets.append(
            f"| `{name}` | {asset['group']} | {partitions} | {upstream} | {asset['description']} |"
        )
    checks = ["| check | blocking | what it checks |", "|---|---|---|"]
    for name, check in listing["asset_checks"].items():
        blocking = "yes" if check["blocking"] else "no (warns)"
        checks.append(f"| `{name}` | {blocking} | {check['description']} |")
    sensors = ["| sensor | by default | what it does |", "|---|---|---|"]
    for name, sensor in listing["sensors"].items():
        status = sensor["default_status"].lower()
        sensors.append(f"| `{name}` | {status} | {sensor['description']} |")
    schedules = ["| schedule | cron | by default | what it does |", "|---|---|---|---|"]
    for name, schedule in listing["schedules"].items():
        schedules.append(
            f"| `{name}` | `{schedule['cron']}` | {schedule['default_status'].lower()} "
            f"| {schedule['description']} |"
        )
    jobs = ["| job | what it runs |", "|---|---|"]
    jobs += [f"| `{name}` | {description} |" for name, description in listing["jobs"].items()]
    return "\n\n".join(
        f"## {title}\n\n" + "\n".join(table)
        for title, table in (
            ("Assets", assets),
            ("Asset checks", checks),
            ("Sensors", sensors),
            ("Schedules", schedules),
            ("Jobs", jobs),
        )
    )


def benchmarks_overview() -> str:
    """One row per benchmark: its page, the commits its results record, its goals met."""
    rows = ["| benchmark | measured at | goals met |", "|---|---|---|"]
    for name, title in _benchmarks().items():
        commits, met, goals = set(), 0, 0
        for path in RESULTS.glob(f"{name}*.json"):
            data = json.loads(path.read_text())
            commits.add(data.get("commit") or "not recorded")
            verdicts = data.get("verdicts") or {}
            goals += len(verdicts)
            met += sum(bool(verdict.get("met")) for verdict in verdicts.values())
        shown = ", ".join(f"`{commit}`" for commit in sorted(commits))
        rows.append(f"| [{title}]({name}.md) | {shown} | {f'{met} of {goals}' if goals else '—'} |")
    return "\n".join(rows)


GENERATORS = {
    "settings": settings_table,
    "cli": cli_reference,
    "definitions": definitions_reference,
    "benchmarks": benchmarks_overview,
}


# --- benchmarks -------------------------------------------------------------------------------


def _docstring(script: Path) -> str:
    return ast.get_docstring(ast.parse(script.read_text())) or ""


def _summary_and_body(script: Path) -> tuple[str, str]:
    """The docstring's first paragraph on one line, and the rest."""
    summary, _, body = _docstring(script).partition("\n\n")
    return " ".join(summary.split()), body


def _title(summary: str) -> str:
    """A summary's head: up to its first colon, without the closing stop."""
    return summary.split(": ")[0].rstrip(".?")


def _benchmarks() -> dict[str, str]:
    """Each benchmark with results, by script name, titled by its docstring's summary."""
    return {
        script.stem: _title(_summary_and_body(script)[0])
        for script in sorted(BENCH.glob("*.py"))
        if any(RESULTS.glob(f"{script.stem}*.json"))
    }


def _benchmark_page(name: str) -> str:
    summary, body = _summary_and_body(BENCH / f"{name}.py")
    parts = [
        f"# {_title(summary)}",
        summary,
        f"Script: `bench/{name}.py`; re-run it as below, and it rewrites the files that follow "
        f"in `bench/results/`.",
        _indent_commands(body.strip("\n")),
    ]
    for results in sorted(RESULTS.glob(f"{name}*.json")):
        parts.append(_results_section(results))
    return "\n\n".join(parts) + "\n"


def _indent_commands(text: str) -> str:
    """Docstring lines indented by four spaces are commands: a fenced block keeps them apart."""
    out, block = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("    "):
            block.append(line[4:])
            continue
        if block:
            out += ["```bash", *block, "```"]
            block = []
        out.append(line)
    return "\n".join(out)


def _results_section(path: Path) -> str:
    data = json.loads(path.read_text())
    commit = data.get("commit")
    measured = f"measured at commit `{commit}`" if commit else "no commit recorded"
    parts = [f"## `bench/results/{path.name}`", f"*{measured}*"]
    if data.get("verdicts"):
        parts.append(_verdicts_table(data["verdicts"]))
    table = path.with_suffix(".md")
    if table.exists():
        parts.append(table.read_text().strip())
    image = path.with_suffix(".png")
    if image.exists():
        parts.append(f"![{path.stem}]({image.name})")
    raw = json.dumps(data, indent=2)
    if len(raw) <= RAW_JSON_LIMIT:
        parts.append('??? note "The results file"\n\n    ```json\n' + _indented(raw) + "\n    ```")
    else:
        parts.append(f"The results file ({len(raw) // 1000} kB) is too long to print here.")
    return "\n\n".join(parts)


def _verdicts_table(verdicts: dict[str, dict]) -> str:
    rows = ["| verdict | value | goal | met |", "|---|---|---|---|"]
    for name, verdict in verdicts.items():
        met = "met" if verdict.get("met") else f"**missed** {verdict.get('missed_by', '')}".strip()
        rows.append(f"| {name} | {verdict.get('value')} | {verdict.get('goal')} | {met} |")
    return "\n".join(rows)


def _indented(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.splitlines())
