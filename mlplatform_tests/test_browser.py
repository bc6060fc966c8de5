"""The Dagster UI as a person sees it: `dagster dev` on 127.0.0.1, driven by headless Chromium.

The instance holds a champion and a drift report before the server starts; under `dagster dev`
the daemon then runs the sensors as it would for a user. Screenshots land in docs/screenshots/
for the docs, so the pictures there are the ones these tests looked at.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import AssetSelection, DagsterInstance

from mlplatform.core.drift import DriftConfig
from mlplatform.core.sources import DEFAULT_SOURCE, PROJECTS, TAGS, read_table
from mlplatform.settings import PROJECT_ROOT, Settings
from mlplatform_tests.support.commands import BIN, local_dagster_home
from mlplatform_tests.support.dataops import DATAOPS
from mlplatform_tests.support.fixtures import write_source
from mlplatform_tests.support.mlops import QUICK_TRAINING, materialize_all
from mlplatform_tests.support.webserver import dagster_server, graphql

# One worker runs them all: they share one `dagster dev` (module fixtures) under xdist.
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOTS = PROJECT_ROOT / "docs" / "screenshots"
# A title a person might post: markup that must show as text, never run or break a table. An
# <img onerror> runs when inserted as HTML (a <script> inserted that way never would).
MARKUP_TITLE = '<img src=x onerror="window.__injected=1"> a | b ![x](http://127.0.0.1:9/x.png)'
# The champion learns the real data up to the end of August; September's rows are new to it.
TRAINED_UNTIL = "2020-08-31 23:59:59"
# Pages show these months, not the latest materialization: the daemon's source sensor ingests every
# month again on its first tick, and automation follows each, in whatever order runs finish.
MARKUP_MONTH, MONITORED_MONTH = "2020-02-01", "2020-09-01"
GROUPS = {
    "ingestion": ["projects", "tags"],
    "transformation": ["labeled_projects"],
    "training": ["trained_model"],
    "deployment": ["model_evaluation", "champion_model"],
    "monitoring": ["drift_report", "champion_performance"],
}


def _playwright():
    if not CHROMIUM.exists():
        pytest.skip(
            f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)"
        )
    return pytest.importorskip("playwright.sync_api", reason="browser tests need playwright")


@pytest.fixture(scope="module")
def platform_home(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """An instance with a champion trained until `TRAINED_UNTIL`, and its drift report and
    performance on the rows since."""
    root = tmp_path_factory.mktemp("ui")
    projects = read_table(DEFAULT_SOURCE, PROJECTS)
    projects.loc[0, "title"] = MARKUP_TITLE
    source = write_source(root / "source", projects, read_table(DEFAULT_SOURCE, TAGS))
    env = {
        "MLPLATFORM_HOME": str(root / "home"),
        "MLPLATFORM_SOURCE": str(source),
        "MLPLATFORM_TUNING_TRIALS": str(QUICK_TRAINING.n_trials),
    }
    dagster_home = local_dagster_home(root / "dagster")
    instance = DagsterInstance.from_config(str(dagster_home))
    settings = Settings.from_env(env)
    as_of = Settings.from_env({**env, "MLPLATFORM_SOURCE_AS_OF": TRAINED_UNTIL})
    assert materialize_all(as_of, instance=instance).success
    assert materialize_all(
        settings, DATAOPS | AssetSelection.assets("drift_report", "champion_performance"), instance
    ).success
    instance.dispose()
    return dagster_home, env


@pytest.fixture(scope="module")
def ui(platform_home) -> Iterator[str]:
    """`dagster dev` (webserver, daemon, code server) on 127.0.0.1; yields its base URL."""
    dagster_home, env = platform_home
    server_env = {**env, "DAGSTER_HOME": str(dagster_home), "PATH": str(BIN)}
    command = [str(BIN / "dagster"), "dev", "-w", "workspace.yaml"]
    with dagster_server(command, server_env, dagster_home / "dev.log") as url:
        graphql(url, "mutation { setNuxSeen }")  # the first-visit community pop-up
        yield url


@pytest.fixture(scope="module")
def browser(ui):
    playwright_api = _playwright()
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        playwright_api.expect.set_options(timeout=60_000)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, ui):
    page = browser.new_page(viewport={"width": 1600, "height": 1000}, base_url=ui)
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    yield page
    assert not page.dialogs, f"a dialog opened: {page.dialogs}"
    page.close()


def expect(locator):
    return _playwright().expect(locator)


def metadata_row(page, key: str):
    """A row of the shown materialization's metadata table (the innermost row that matches: a
    partition's page holds its metadata table inside another table)."""
    return (
        page.locator("tr")
        .filter(has=page.locator("td:first-child", has_text=re.compile(rf"^{re.escape(key)}$")))
        .last
    )


def metadata_value(page, key: str) -> str:
    """A number's cell, once the page has filled it in (a partition's metadata loads after the
    page)."""
    cell = metadata_row(page, key).locator("td").nth(1)  # the key's cell, then its value
    expect(cell).to_have_text(re.compile(r"\d"))
    return cell.inner_text()


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name))


def test_asset_graph_shows_every_asset_in_its_group(page) -> None:
    page.set_viewport_size({"width": 1900, "height": 1600})  # the graph only draws what shows
    page.goto("/asset-groups")
    expect(page.locator("foreignObject").first).to_be_attached()
    page.keyboard.press("Alt+e")  # expand all groups
    for group, assets in GROUPS.items():
        header = page.locator("[class*='ExpandedGroupNode_groupNodeHeaderBox']")
        expect(header.filter(has_text=re.compile(rf"^{group}$"))).to_have_count(1)
        for asset in assets:
            # Long names are shown cut in the middle ("champ…_performance").
            cut = f"{re.escape(asset[:5])}….*{re.escape(asset[-8:])}"
            shown = re.compile(rf"^({re.escape(asset)}|{cut})")
            node = page.locator("[class*='AssetNode_assetNodeContainer']")
            expect(node.filter(has_text=shown)).to_have_count(1)
    screenshot(page, "asset-graph.png")


def test_labeled_projects_shows_passed_checks_row_count_and_preview(page) -> None:
    page.goto("/assets/labeled_projects")
    expect(page.get_by_text("Latest materialization")).to_be_visible()
    row_count = page.locator("div").filter(has=page.get_by_text("Row count", exact=True)).last
    expect(row_count).to_contain_text("955")
    preview = metadata_row(page, "preview").locator("table")
    expect(preview.locator("th")).to_have_text(["id", "created_on", "title", "description", "tag"])
    expect(preview.locator("tbody tr")).to_have_count(5)

    page.goto("/assets/labeled_projects?view=checks")
    checks = ["gx_suite", "unique_labeled_projects_id", "not_null_labeled_projects_tag"]
    for check in checks:
        expect(page.get_by_text(check, exact=True).first).to_be_visible()
    expect(page.get_by_text("Succeeded", exact=True)).to_have_count(7)  # gx_suite + 6 dbt tests
    expect(page.get_by_text("Failed", exact=True)).to_have_count(0)
    screenshot(page, "checks.png")


def test_markup_in_a_title_shows_as_text(page) -> None:
    page.goto(f"/assets/projects?view=partitions&partition={MARKUP_MONTH}")
    preview = metadata_row(page, "preview").locator("table")
    expect(preview.locator("th")).to_have_count(4)  # the pipe did not add a column
    expect(preview.locator("tbody tr").first.locator("td").nth(2)).to_have_text(MARKUP_TITLE[:60])
    assert preview.locator("script, img").count() == 0
    assert page.evaluate("window.__injected") is None


def test_model_evaluation_shows_the_comparison_and_the_verdict(page) -> None:
    page.goto("/assets/model_evaluation")
    expect(metadata_row(page, "verdict")).to_contain_text("first_model")
    comparison = metadata_row(page, "comparison").locator("table")
    expect(comparison.locator("th")).to_have_text(["metric", "n", "challenger"])
    expect(comparison).to_contain_text("weighted f1")
    expect(metadata_row(page, "reasons")).to_contain_text("no champion to compare with")
    comparison.scroll_into_view_if_needed()
    screenshot(page, "model-evaluation.png")


def test_drift_report_shows_its_tests_and_its_plot(page) -> None:
    page.goto(f"/assets/drift_report?view=partitions&partition={MONITORED_MONTH}")
    new_rows = int(metadata_value(page, "new_rows"))
    assert new_rows >= DriftConfig().min_rows
    tests = metadata_row(page, "tests").locator("table")
    expect(tests.locator("tbody tr")).to_have_count(4)
    expect(tests.locator("th")).to_have_text(["test", "statistic", "shifts when", "shifted"])
    expect(metadata_row(page, "drift_rule")).to_contain_text("drift is confirmed when")
    tests.scroll_into_view_if_needed()
    screenshot(page, "drift-report.png")

    metadata_row(page, "plot").get_by_text("[Show Markdown]").click()
    plot = page.get_by_role("dialog").locator("img")
    expect(plot).to_be_visible()
    width = plot.evaluate("image => image.decode().then(() => image.naturalWidth)")
    assert width > 300, "the drift plot did not render as an image"
    page.wait_for_timeout(600)  # the dialog fades in
    plot.screenshot(path=str(SCREENSHOTS / "drift-plot.png"))


def test_champion_performance_shows_intervals_rules_and_a_plot(page) -> None:
    page.goto(f"/assets/champion_performance?view=partitions&partition={MONITORED_MONTH}")
    expect(metadata_row(page, "status")).to_contain_text("measured")
    new_rows = int(metadata_value(page, "new_rows"))
    assert new_rows > 0
    low, value, high = (
        float(metadata_value(page, key)) for key in ("new_f1_low", "new_f1", "new_f1_high")
    )
    assert 0 <= low <= value <= high <= 1
    rules = metadata_row(page, "rules")
    for rule in ("decay", "growth"):
        expect(rules).to_contain_text(rule)
    rules.scroll_into_view_if_needed()
    screenshot(page, "champion-performance.png")
    metadata_row(page, "plot").get_by_text("[Show Markdown]").click()
    plot = page.get_by_role("dialog").locator("img")
    width = plot.evaluate("image => image.decode().then(() => image.naturalWidth)")
    assert width > 300, "the performance plot did not render as an image"
    page.wait_for_timeout(600)  # the dialog fades in
    plot.screenshot(path=str(SCREENSHOTS / "performance-plot.png"))


def test_materialize_button_launches_a_run_that_succeeds(page, ui) -> None:
    page.goto("/assets/tags")
    # "Materialize…": a partitioned asset asks which months (enabled once they have loaded).
    button = page.locator("button").filter(has_text=re.compile(r"^Materialize…$"))
    expect(button).to_be_enabled(timeout=120_000)
    button.click()
    # One batch lands both raw tables: the UI says projects comes along and asks to confirm.
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Additional assets will be materialized")
    expect(dialog.get_by_role("link", name="projects")).to_be_visible()
    dialog.get_by_role("button", name="Confirm").click()
    # Then which months: one month is one run.
    dialog = page.get_by_role("dialog").filter(has_text="Partition selection")
    expect(dialog).to_be_visible()
    # The dialog opens on the last 90 days; August 2020 is older.
    dialog.get_by_role("button", name="Show all partitions").click()
    months = dialog.get_by_role("textbox").first
    months.fill("2020-08-01")
    months.press("Enter")
    dialog.get_by_role("button", name="Launch 1 run").click()
    toast = page.get_by_text(re.compile(r"^Launched run [0-9a-f]{8}$"))
    expect(toast).to_be_visible()
    short_id = toast.inner_text().split()[-1]
    status = _wait_for_run(ui, short_id)
    assert status == "SUCCESS", f"run {short_id} ended {status}"


def _wait_for_run(url: str, short_id: str, timeout: float = 600) -> str:
    """Poll the GraphQL API until the run that starts with `short_id` ends."""
    query = "{ runsOrError(limit: 20) { ... on Runs { results { runId status } } } }"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = graphql(url, query)[0]["runsOrError"]["results"]
        status = next(r["status"] for r in runs if r["runId"].startswith(short_id))
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            return status
        time.sleep(2)
    return "TIMEOUT"
