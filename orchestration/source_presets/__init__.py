"""Source presets: which system each source comes from and where its raw tables live (sources/presets.yml).

`config` reads and validates the YAML; `dbt_vars` hands the choice to dbt, which enables the matching
base models at parse time (models/staging/<source>/base/<preset>/), so plain dbt and Dagster see one config.
"""

from orchestration.source_presets.config import (
    PRESETS,
    PRESETS_FILE_ENV,
    SourcePresetConfigError,
    SourcePresets,
    dbt_vars,
    load_presets,
    presets_path,
)

__all__ = [
    "PRESETS",
    "PRESETS_FILE_ENV",
    "SourcePresetConfigError",
    "SourcePresets",
    "dbt_vars",
    "load_presets",
    "presets_path",
]
