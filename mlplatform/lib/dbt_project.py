"""The dbt project. Its manifest is prepared at install time, never parsed at import."""

from dagster_dbt import DbtProject

from mlplatform.settings import DBT_PROJECT_DIR

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)

# Under `dagster dev` only: re-parse so model edits show up without a reinstall.
dbt_project.prepare_if_dev()
