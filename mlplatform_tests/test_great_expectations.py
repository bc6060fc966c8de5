import json

import pandas as pd
import pytest

from mlplatform.core.sources import PROJECTS, TAGS, type_columns
from mlplatform.lib.checks import suite_check_result
from mlplatform.resources.great_expectations import GreatExpectationsResource
from mlplatform.settings import GX_PROJECT_DIR
from mlplatform_tests.support.fixtures import make_projects_and_tags


@pytest.fixture(scope="module")
def gx_resource() -> GreatExpectationsResource:
    return GreatExpectationsResource(project_dir=str(GX_PROJECT_DIR))


@pytest.fixture
def projects() -> pd.DataFrame:
    return type_columns(make_projects_and_tags(rows=10)[0].astype("string"), PROJECTS, "test")


def test_good_batches_pass(gx_resource, projects) -> None:
    tags = type_columns(make_projects_and_tags(rows=10)[1].astype("string"), TAGS, "test")
    assert gx_resource.validate(projects, "projects").success
    assert gx_resource.validate(tags, "tags").success


def _duplicate_id(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[3, "id"] = frame.loc[2, "id"]
    return frame


def _null_title(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[4, "title"] = pd.NA
    return frame


def _leaked_title_and_description(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[5, ["title", "description"]] = frame.loc[1, ["title", "description"]].values
    return frame


@pytest.mark.parametrize(
    ("corrupt", "expectation", "column", "sample"),
    [
        (_duplicate_id, "expect_column_values_to_be_unique", "id", 3),
        (_null_title, "expect_column_values_to_not_be_null", "title", None),
        (
            _leaked_title_and_description,
            "expect_compound_columns_to_be_unique",
            "title, description",
            None,
        ),
        (
            lambda f: f.drop(columns="description"),
            "expect_table_columns_to_match_ordered_list",
            "(table)",
            None,
        ),
    ],
)
def test_bad_batch_names_expectation_column_and_sample(
    gx_resource, projects, corrupt, expectation, column, sample
) -> None:
    outcome = gx_resource.validate(corrupt(projects), "projects")
    assert not outcome.success
    failed = {(f.expectation, f.column_label): f for f in outcome.failures}
    assert (expectation, column) in failed
    if sample is not None:
        assert sample in failed[(expectation, column)].sample
    rows = suite_check_result(outcome).metadata["results"].value.records
    assert any(r.data["expectation"] == expectation and not r.data["passed"] for r in rows)


def test_labeled_projects_suite_extends_projects_suite() -> None:
    def expectations(name: str) -> set[str]:
        suite = json.loads((GX_PROJECT_DIR / "expectations" / f"{name}.json").read_text())
        return {
            json.dumps([e["type"], e["kwargs"]], sort_keys=True)
            for e in suite["expectations"]
            if not e["type"].startswith("expect_table_columns")
        }

    projects, labeled = expectations("projects"), expectations("labeled_projects")
    assert projects < labeled
    assert {json.loads(e)[1].get("column") for e in labeled - projects} == {"tag"}
