"""The docs say what the code does: the site builds strict, its reference names every setting,
command and definition, and every shell block marked runnable works as written."""

from __future__ import annotations

import json
import operator
import os
import re
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlplatform.cli import build_parser
from mlplatform.cli import commands as cli_commands
from mlplatform.settings import PROJECT_ROOT, VARIABLES, Settings
from mlplatform_tests.support.commands import BIN
from mlplatform_tests.support.services import background, wait_for_http
from mlplatform_tests.support.webserver import free_port
from mlplatform_tests.test_definitions import SNAPSHOT

DOCS = PROJECT_ROOT / "docs"
# `<!-- runnable -->` before a bash block: run it, it must succeed. `<!-- runnable: serves URL -->`:
# a server, started in the background until its page's blocks have run, once URL answers.
RUNNABLE = re.compile(r"<!-- runnable(?:: serves (\S+))? -->\n```bash\n(.*?)\n```", re.DOTALL)
# Pages whose runnable blocks run in this order (each builds on what the one before left).
RUNNABLE_PAGES = (
    "README.md",
    "docs/tutorial/index.md",
    "docs/how-to/own-data.md",
    "docs/how-to/backfills.md",
    "docs/how-to/recovery.md",
    "docs/how-to/retention.md",
    "docs/how-to/extend.md",
    "docs/how-to/tests.md",
)
# Small trial counts: the commands are checked, not the model.
DOCS_ENVIRONMENT = {"MLPLATFORM_TUNING_TRIALS": "3"}
BLOCK_TIMEOUT_SECONDS = 900


class RecordingEnviron(dict):
    """An empty environment that remembers every variable asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []

    def get(self, key, default=None):
        self.asked.append(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.asked.append(key)
        return super().__getitem__(key)


def variables_read() -> set[str]:
    environ = RecordingEnviron()
    Settings.from_env(environ)
    return set(environ.asked)


@dataclass(frozen=True)
class Block:
    page: str
    commands: str
    serves: str | None  # the URL a server block answers on once it is up


def runnable_blocks(page: str) -> list[Block]:
    text = (PROJECT_ROOT / page).read_text()
    return [Block(page, commands, url or None) for url, commands in RUNNABLE.findall(text)]


def test_every_variable_read_is_in_the_reference_list() -> None:
    listed = [variable.name for variable in VARIABLES]
    assert len(listed) == len(set(listed)), "a variable is listed twice"
    assert variables_read() - set(listed) == set(), "read by Settings.from_env, not in VARIABLES"
    assert set(listed) - variables_read() == set(), "in VARIABLES, no longer read"
    defaults = Settings.from_env({})
    for variable in VARIABLES:
        assert variable.meaning.strip(), variable.name
        if variable.field:
            operator.attrgetter(variable.field)(defaults)  # names a real field


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built as `.ci/run` builds it: strict, so a broken link or a warning fails."""
    site_dir = tmp_path_factory.mktemp("site")
    subprocess.run(
        [str(BIN / "mkdocs"), "build", "--strict", "--site-dir", str(site_dir)],
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    return site_dir


def page_text(site: Path, page: str) -> str:
    return (site / page / "index.html").read_text()


def test_the_settings_reference_names_every_variable(site: Path) -> None:
    settings_page = page_text(site, "reference/settings")
    missing = [name for name in variables_read() if f"<code>{name}</code>" not in settings_page]
    assert sorted(missing) == []
    # A default comes from the code: the trial count's, as `Settings.from_env` gives it.
    trials = Settings.from_env({}).tuning.n_trials
    assert f"<code>MLPLATFORM_TUNING_TRIALS</code></td>\n<td><code>{trials}</code>" in settings_page


def test_the_cli_reference_names_every_command_and_option(site: Path) -> None:
    cli_page = page_text(site, "reference/cli")
    commands = list(cli_commands(build_parser()))
    assert {"predict", "serve", "summary", "recover", "prune"} <= set(commands)
    missing = [command for command in commands if f"usage: mlplatform {command}" not in cli_page]
    assert missing == []
    assert "--precision-mode" in cli_page and "--dry-run" in cli_page


def test_the_definitions_reference_names_every_definition(site: Path) -> None:
    page = page_text(site, "reference/definitions")
    listing = json.loads(SNAPSHOT.read_text())
    names = [name for kind in listing.values() for name in kind]
    assert len(names) > 30
    assert [name for name in names if f"<code>{name}</code>" not in page] == []


def test_each_benchmark_with_results_has_a_page(site: Path) -> None:
    results = PROJECT_ROOT / "bench" / "results"
    for script in (PROJECT_ROOT / "bench").glob("*.py"):
        if any(results.glob(f"{script.stem}*.json")):
            page = page_text(site, f"benchmarks/{script.stem}")
            assert f"bench/{script.stem}.py" in page
    scale = page_text(site, "benchmarks/scale")
    commit = json.loads((results / "scale.json").read_text())["commit"]
    assert commit in scale and "model_mb_at_1000x" in scale


def test_mkdocs_serve_shows_the_site(tmp_path: Path) -> None:
    """`uv run mkdocs serve` as the README says, on a free port instead of 8001."""
    address = f"127.0.0.1:{free_port()}"
    command = [str(BIN / "mkdocs"), "serve", "--dev-addr", address, "--no-livereload"]
    log = tmp_path / "mkdocs.log"
    environ = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    with background(command, environ, log, PROJECT_ROOT) as server:
        wait_for_http(f"http://{address}/reference/settings/", server, log)
        with urllib.request.urlopen(f"http://{address}/reference/settings/", timeout=30) as page:
            assert "MLPLATFORM_TUNING_TRIALS" in page.read().decode()


def test_the_runnable_blocks_are_marked_where_expected() -> None:
    """The marker is what the next test runs: losing it would silently untest a page."""
    readme = runnable_blocks("README.md")
    assert len(readme) == 1 and "uv run mlplatform summary" in readme[0].commands
    for page in RUNNABLE_PAGES[1:]:
        assert runnable_blocks(page), f"{page}: no runnable block"
    marked = {
        str(path.relative_to(PROJECT_ROOT))
        for path in DOCS.rglob("*.md")
        if "<!-- runnable -->" in path.read_text()
    }
    assert marked <= set(RUNNABLE_PAGES), "a page with runnable blocks is not in RUNNABLE_PAGES"


def checkout_copy(destination: Path) -> Path:
    """The working tree as a fresh clone would have it: tracked and new files, nothing ignored."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for name in filter(None, listed.split("\0")):
        source = PROJECT_ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination


def clean_environment() -> dict[str, str]:
    """A shell as a user opens it: this test run's virtualenv is neither active nor on PATH."""
    environ = {
        key: value
        for key, value in os.environ.items()
        if key not in {"VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT"}
        and not key.startswith("MLPLATFORM_")
    }
    environ["PATH"] = os.pathsep.join(
        entry for entry in environ["PATH"].split(os.pathsep) if Path(entry) != BIN
    )
    return {**environ, **DOCS_ENVIRONMENT}


def distinct_blocks() -> Iterator[Block]:
    """The pages' blocks in order; one seen before (the README's, in the tutorial) runs once."""
    seen: set[str] = set()
    for page in RUNNABLE_PAGES:
        for block in runnable_blocks(page):
            if block.commands not in seen:
                seen.add(block.commands)
                yield block


@pytest.mark.slow
def test_the_runnable_commands_work_as_written(tmp_path: Path) -> None:
    """README first (it installs and materializes), then the pages in order, in one checkout."""
    environ = clean_environment()
    if shutil.which("python3", path=environ["PATH"]) is None:
        pytest.skip("no python3 outside the virtualenv to run the README's install command")
    checkout = checkout_copy(tmp_path / "checkout")
    with ExitStack() as servers:
        page = None
        for index, block in enumerate(distinct_blocks()):
            if block.page != page:
                servers.close()  # a page's servers stop when its blocks have run
                page = block.page
            command = ["bash", "-euo", "pipefail", "-c", block.commands]
            if block.serves:
                log = tmp_path / f"server-{index}.log"
                server = servers.enter_context(background(command, environ, log, checkout))
                wait_for_http(block.serves, server, log, timeout=BLOCK_TIMEOUT_SECONDS)
                continue
            result = subprocess.run(
                command,
                cwd=checkout,
                env=environ,
                capture_output=True,
                text=True,
                timeout=BLOCK_TIMEOUT_SECONDS,
            )
            assert result.returncode == 0, (
                f"{block.page}: this block failed ({result.returncode}):\n{block.commands}\n"
                f"--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}"
            )
    # What the README promises the main command leaves behind.
    assert (checkout / ".mlplatform" / "warehouse.duckdb").exists()
    assert (checkout / "dbt_project" / "target" / "manifest.json").exists()
