"""The dbt project. Its manifest is prepared at install time, never parsed at import."""

from dagster_dbt import DbtProject

from mlplatform.settings import DBT_PROJECT_DIR

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
# dagster-dbt gives each invocation its own folder here (`<op>-<run>-<id>`): retention prunes them.
DBT_TARGET_DIR = dbt_project.project_dir / dbt_project.target_path
PREPARE_COMMAND = (
    "uv run dagster-dbt project prepare-and-package --file mlplatform/lib/dbt_project.py"
)


class DbtManifestMissingError(FileNotFoundError):
    """The code location cannot load before dbt's manifest is prepared."""


def require_manifest() -> None:
    if not dbt_project.manifest_path.exists():
        raise DbtManifestMissingError(
            f"dbt manifest not found at {dbt_project.manifest_path}: run `{PREPARE_COMMAND}` "
            "once after installing (the README's main command does)"
        )


# Under `dagster dev` only: re-parse so model edits show up without a reinstall.
dbt_project.prepare_if_dev()
