"""The code stays ruff-clean (lint and format), so CI catches drift in style too."""

import subprocess

from mlplatform.settings import PROJECT_ROOT
from mlplatform_tests.support.commands import BIN

RUFF = str(BIN / "ruff")


def test_ruff_lint_and_format_are_clean() -> None:
    for command in ([RUFF, "check", "."], [RUFF, "format", "--check", "."]):
        completed = subprocess.run(
            command, cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
        )
        assert completed.returncode == 0, completed.stdout + completed.stderr
