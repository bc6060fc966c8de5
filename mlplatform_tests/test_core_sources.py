import re
from pathlib import Path
from shutil import copytree
from shutil import ignore_patterns as ignore

import pandas as pd
import pytest

from mlplatform.core.sources import (
    OFFLINE_HINT,
    PROJECTS,
    TAGS,
    SourceFormatError,
    SourceNotFoundError,
    SourceUnavailableError,
    parse_as_of,
    read_table,
    tags_visible_as_of,
    visible_as_of,
)
from mlplatform.resources.source import MadeWithMLSource
from mlplatform.settings import DBT_PROJECT_DIR
from mlplatform_tests.support.fixtures import make_projects_and_tags, write_source
from mlplatform_tests.support.standins.http_source import serve_directory
from mlplatform_tests.support.webserver import free_port


def test_read_table_types_columns(source_dir: Path) -> None:
    projects = read_table(str(source_dir), PROJECTS)
    assert list(projects.columns) == ["id", "created_on", "title", "description"]
    assert str(projects["id"].dtype) == "Int64"
    assert str(projects["created_on"].dtype) == "datetime64[us]"
    assert str(projects["title"].dtype) == "string"
    assert len(projects) == 40


def test_bad_integer_names_file_column_and_line(tmp_path: Path) -> None:
    projects, tags = make_projects_and_tags(rows=5)
    projects["id"] = projects["id"].astype(object)
    projects.loc[1, "id"] = "abc"
    write_source(tmp_path, projects, tags)
    with pytest.raises(SourceFormatError) as error:
        read_table(str(tmp_path), PROJECTS)
    message = str(error.value)
    assert "projects.csv" in message and "'id'" in message and "row 3: 'abc'" in message


def test_bad_timestamp_names_line(tmp_path: Path) -> None:
    projects, tags = make_projects_and_tags(rows=5)
    projects.loc[4, "created_on"] = "yesterday"
    write_source(tmp_path, projects, tags)
    with pytest.raises(SourceFormatError, match=r"'created_on'.*row 6: 'yesterday'"):
        read_table(str(tmp_path), PROJECTS)


def test_missing_file_is_not_found_and_not_retryable(tmp_path: Path) -> None:
    with pytest.raises(SourceNotFoundError, match=r"tags\.csv") as error:
        read_table(str(tmp_path), TAGS)
    assert not error.value.retryable


def test_missing_column_is_left_for_validation(tmp_path: Path) -> None:
    projects, tags = make_projects_and_tags(rows=5)
    write_source(tmp_path, projects.drop(columns="description"), tags)
    assert "description" not in read_table(str(tmp_path), PROJECTS).columns


def test_as_of_hides_later_projects_and_their_tags(source_dir: Path) -> None:
    projects = read_table(str(source_dir), PROJECTS)
    visible = visible_as_of(projects, parse_as_of("2020-02-10"))
    assert visible["created_on"].max() <= pd.Timestamp("2020-02-10")
    assert len(visible) == 5  # every other day from 2020-02-01
    tags = tags_visible_as_of(read_table(str(source_dir), TAGS), visible)
    assert set(tags["id"]) == set(visible["id"])


def test_labels_arrive_when_they_were_given_not_with_their_projects(tmp_path: Path) -> None:
    """A tags file may say when each label was given (`labeled_on`; blank: with the project):
    as of a time, only labels given by then are known, and the raw table holds the tag only."""
    projects, tags = make_projects_and_tags(rows=6)  # 2020-02-01 .. 2020-02-11
    labeled_on = ["", "2020-02-05", "2020-03-01", "", "2020-03-20", ""]
    write_source(tmp_path, projects, tags.assign(labeled_on=labeled_on))

    def known(as_of: str | None) -> list[int]:
        source = MadeWithMLSource(location=str(tmp_path), as_of=as_of)
        frame = source.read_tags()
        assert list(frame.columns) == ["id", "tag"]
        return frame["id"].tolist()

    assert known("2020-02-28") == [1, 2, 4, 6]  # 3 and 5 are labeled in March
    assert known("2020-03-10") == [1, 2, 3, 4, 6]
    assert known(None) == [1, 2, 3, 4, 5, 6]
    # A label arriving changes no file, yet what a run would read changed.
    before = MadeWithMLSource(location=str(tmp_path), as_of="2020-03-10 00:00").fingerprint()
    after = MadeWithMLSource(location=str(tmp_path), as_of="2020-03-21 00:00").fingerprint()
    assert before != after

    write_source(tmp_path, projects, tags.assign(labeled_on=["", "soon", "", "", "", ""]))
    with pytest.raises(SourceFormatError, match=r"tags.csv: column 'labeled_on' .*row 3: 'soon'"):
        MadeWithMLSource(location=str(tmp_path)).read_tags()


def test_bad_as_of_names_the_variable() -> None:
    with pytest.raises(ValueError, match="MLPLATFORM_SOURCE_AS_OF"):
        parse_as_of("not a date")


def test_http_source_reads_and_classifies_errors(source_dir: Path) -> None:
    with serve_directory(source_dir) as server:
        assert len(read_table(server.url, PROJECTS)) == 40
        with pytest.raises(SourceNotFoundError, match="HTTP 404"):
            read_table(f"{server.url}/missing", PROJECTS)
    with serve_directory(source_dir, failures=1) as server:
        with pytest.raises(SourceUnavailableError, match="HTTP 503") as error:
            read_table(server.url, PROJECTS)
        assert error.value.retryable


def test_unreachable_url_says_how_to_work_offline() -> None:
    closed = f"http://127.0.0.1:{free_port()}/madewithml"  # nothing listens there
    with pytest.raises(SourceUnavailableError) as raised:
        read_table(closed, PROJECTS)
    assert str(raised.value).startswith(f"{closed}/projects.csv: ")
    assert str(raised.value).endswith(OFFLINE_HINT)


def test_missing_dbt_manifest_says_which_command_prepares_it(tmp_path: Path, monkeypatch) -> None:
    from dagster_dbt import DbtProject

    from mlplatform.lib import dbt_project as module

    unprepared = copytree(DBT_PROJECT_DIR, tmp_path / "dbt", ignore=ignore("target"))
    monkeypatch.setattr(module, "dbt_project", DbtProject(project_dir=unprepared))
    with pytest.raises(module.DbtManifestMissingError, match=re.escape(module.PREPARE_COMMAND)):
        module.require_manifest()
