"""Dagster's command line as a user runs it: a throwaway instance configured like the project's
`dagster.yaml`, and `dagster asset materialize` in a process of its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from mlplatform.core.partitions import DEFAULT_FIRST_MONTH
from mlplatform.lib.partitions import MONTHLY_PARTITIONS
from mlplatform.settings import PROJECT_ROOT

BIN = Path(sys.executable).parent


def local_dagster_home(directory: Path) -> Path:
    """A DAGSTER_HOME holding the project's `dagster.yaml` (its pool limits, telemetry off) with
    every storage path moved under `directory`."""
    config = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())
    config["storage"] = {"sqlite": {"base_dir": str(directory / "storage")}}
    config["local_artifact_storage"]["config"]["base_dir"] = str(directory)
    config["compute_logs"]["config"]["base_dir"] = str(directory / "logs")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "dagster.yaml").write_text(yaml.safe_dump(config))
    return directory


# Every month up to the current one, as one run (the README's main command names the months of
# the shipped data; the months after them hold no rows).
ALL_MONTHS = f"{DEFAULT_FIRST_MONTH}...{MONTHLY_PARTITIONS.get_last_partition_key()}"


def materialize_command(selection: str, months: str = ALL_MONTHS) -> list[str]:
    """`dagster asset materialize` of `selection` in the code location, over `months`."""
    command = [str(BIN / "dagster"), "asset", "materialize", "-m", "mlplatform.definitions"]
    return [*command, "--select", selection, "--partition-range", months]


def spawn(command: list[str], env: dict[str, str]) -> subprocess.Popen:
    """`command` started from the project root in a session of its own (so its whole process
    group can be killed), its stdout and stderr merged and read as text."""
    return subprocess.Popen(
        command,
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
