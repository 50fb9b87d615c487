"""The dbt project as Dagster sees it: one DbtProject, shared by assets, resources and the CLI."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from orchestration.settings import PROJECT_DIR, Settings

settings = Settings.from_env()

# dbt reads these through profiles.yml; fixing them to absolute paths keeps the rendered profile
# stable wherever dbt is started from (a changed profile forces a full re-parse).
os.environ.setdefault("TESSERA_TARGET", settings.target)
os.environ["TESSERA_BUILD_DB"] = str(settings.build_db)
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
# dagster-dbt looks for `dbt` on PATH: use the one installed beside this interpreter (.venv/bin).
_bin = str(Path(sys.executable).parent)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")

tessera_project = DbtProject(
    project_dir=PROJECT_DIR,
    profiles_dir=PROJECT_DIR,
    target=settings.target,
)
# Under `dagster dev` the manifest is parsed on load; elsewhere `tessera` prepares it first.
tessera_project.prepare_if_dev()
