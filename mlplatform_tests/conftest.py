from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mlplatform_tests.support.fixtures import make_projects_and_tags, write_source


def pytest_configure(config: pytest.Config) -> None:
    """A fresh clone has no dbt manifest yet: prepare it once, before definitions import."""
    from mlplatform.lib.dbt_project import dbt_project

    if not dbt_project.manifest_path.exists():
        dbt_project.preparer.prepare(dbt_project)


@pytest.fixture
def real_data() -> Path:
    """The real Made With ML data the package ships (its offline default source)."""
    from mlplatform.core.sources import SHIPPED_DATA_DIR

    return SHIPPED_DATA_DIR


@pytest.fixture
def source_dir(tmp_path: Path) -> Path:
    return write_source(tmp_path / "source", *make_projects_and_tags())


@pytest.fixture
def settings_for(tmp_path: Path):
    """Settings pointing at a temporary home (DuckDB file) and a given source."""
    from mlplatform.settings import Settings

    def build(source: Path | str, **overrides) -> Settings:
        base = Settings.from_env(
            {"MLPLATFORM_HOME": str(tmp_path / "home"), "MLPLATFORM_SOURCE": str(source)}
        )
        return dataclasses.replace(base, **overrides)

    return build


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first, so the two workers do not end on one long test while the other idles."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
