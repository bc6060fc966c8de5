"""Runs the versioned Great Expectations suites in `gx/` on pandas frames.

dagster-ge does not support GX 1.x, so this small resource does the job. Suites are read from
the file project's `expectations/*.json`; validation runs in an ephemeral context so a run
never writes into the repository.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from dagster import ConfigurableResource

from mlplatform.core.validation import SuiteOutcome, outcome_from_gx

if TYPE_CHECKING:
    from great_expectations.data_context import AbstractDataContext


class GreatExpectationsResource(ConfigurableResource):
    """Validates a frame against a named suite of the GX project at `project_dir`."""

    project_dir: str

    def suite_path(self, suite_name: str) -> Path:
        return Path(self.project_dir) / "expectations" / f"{suite_name}.json"

    def suite_definition(self, suite_name: str) -> dict[str, Any]:
        path = self.suite_path(suite_name)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no Great Expectations suite named {suite_name!r}")
        return json.loads(path.read_text())

    def validate(self, frame: pd.DataFrame, suite_name: str) -> SuiteOutcome:
        import great_expectations as gx

        suite = gx.ExpectationSuite(**self.suite_definition(suite_name))
        batch = (
            _pandas_asset(_ephemeral_context(), suite_name)
            .get_batch_definition("whole_frame")
            .get_batch(batch_parameters={"dataframe": frame})
        )
        result = batch.validate(suite, result_format="SUMMARY")
        return SuiteOutcome(
            suite=suite_name,
            rows=len(frame),
            expectations=tuple(
                outcome_from_gx(
                    r.expectation_config.type,
                    r.expectation_config.kwargs,
                    bool(r.success),
                    r.result or {},
                    (r.exception_info or {}).get("exception_message")
                    if (r.exception_info or {}).get("raised_exception")
                    else None,
                )
                for r in result.results
            ),
        )


@cache
def _ephemeral_context() -> AbstractDataContext:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.data_sources.add_pandas("frames")
    return context


def _pandas_asset(context: AbstractDataContext, name: str):
    datasource = context.data_sources.get("frames")
    try:
        return datasource.get_asset(name)
    except LookupError:
        asset = datasource.add_dataframe_asset(name)
        asset.add_batch_definition_whole_dataframe("whole_frame")
        return asset
