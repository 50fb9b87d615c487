"""The dbt project as Dagster sees it: one DbtProject, shared by assets, resources and the CLI."""

from __future__ import annotations

import os

from dagster_dbt import DbtProject

from orchestration.settings import PROJECT_DIR, Settings

settings = Settings.from_env()

# dbt reads these through profiles.yml; fixing them to absolute paths keeps the rendered profile
# stable wherever dbt is started from (a changed profile forces a full re-parse).
os.environ.setdefault("TESSERA_TARGET", settings.target)
os.environ["TESSERA_BUILD_DB"] = str(settings.build_db)
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")

tessera_project = DbtProject(
    project_dir=PROJECT_DIR,
    profiles_dir=PROJECT_DIR,
    target=settings.target,
)
# Under `dagster dev` the manifest is parsed on load; elsewhere `tessera` prepares it first.
tessera_project.prepare_if_dev()
