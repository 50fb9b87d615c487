"""Person sources added by configuration alone: a file or warehouse table mapped to the identity fields.

`config` reads and validates sources/person_sources.yml; `load` lands every declared source in
raw_person_sources.records / .external_ids, which models/staging/person_sources/ stages.
"""

from orchestration.person_sources.config import (
    PersonSource,
    PersonSourceConfigError,
    PersonSourcesConfig,
    load_config,
)
from orchestration.person_sources.load import PersonSourceLoadError, load_duckdb, load_postgres

__all__ = [
    "PersonSource",
    "PersonSourceConfigError",
    "PersonSourceLoadError",
    "PersonSourcesConfig",
    "load_config",
    "load_duckdb",
    "load_postgres",
]
