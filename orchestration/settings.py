"""Where Tessera keeps its files and which warehouse it talks to, read from the environment."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent

# The dbt command the build, the parse and the checks start: the dbt installed beside this interpreter
# (.venv/bin/dbt), unless this names another (the tests name a fork of a dbt started once, tests/dbt_zygote.py).
DBT_EXECUTABLE_ENV = "TESSERA_DBT_EXECUTABLE"


def dbt_executable() -> str:
    """The dbt command to start (DBT_EXECUTABLE_ENV)."""
    return os.environ.get(DBT_EXECUTABLE_ENV) or str(Path(sys.executable).parent / "dbt")


@dataclass(frozen=True)
class PostgresSettings:
    host: str
    port: int
    user: str
    password: str
    database: str
    build_schema: str
    published_schema: str

    def connect_kwargs(self) -> dict[str, object]:
        """Keyword arguments for psycopg2.connect (an empty password is left out, not sent empty)."""
        kwargs: dict[str, object] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "dbname": self.database,
        }
        if self.password:
            kwargs["password"] = self.password
        return kwargs


@dataclass(frozen=True)
class Settings:
    """Every path and connection setting, resolved once.

    TESSERA_TARGET      duckdb (default), postgres or spark (docs/spark.md)
    TESSERA_DATA_DIR    generated raw files (default: <repo>/data)
    TESSERA_WAREHOUSE   the published DuckDB file analysts read (default: <repo>/warehouse/tessera.duckdb)
    TESSERA_BUILD_DB    the DuckDB file dbt builds into (default: <repo>/warehouse/build/tessera.duckdb)
    TESSERA_PG_*        Postgres host, port, user, password, database, build schema
    TESSERA_PERSON_SOURCES  the person-source declarations (default: <repo>/sources/person_sources.yml)
    TESSERA_MASKED_FILE the masked DuckDB file every publish rewrites (default: warehouse/tessera_masked.duckdb,
                        once `tessera masked-file` wrote it)
    TESSERA_DUCKDB_MEMORY_LIMIT  how much memory each DuckDB database of a build may use before it spills to
                        disk: the build file's (dbt) and the matching step's own; DuckDB's syntax, e.g. 8GB or 40%
                        (default: 80%, DuckDB's own default)
    TESSERA_DUCKDB_TEMP_DIR  where they spill (default: beside the build file, <build file>.tmp)
    """

    target: str
    data_dir: Path
    published_db: Path
    build_db: Path
    postgres: PostgresSettings
    project_dir: Path = PROJECT_DIR
    # The YAML declaring person sources added without SQL (see docs/person_sources.md).
    person_sources_path: Path = PROJECT_DIR / "sources" / "person_sources.yml"
    # The masked file for analysts without PII access (orchestration/privacy/masking.py); None: the default one.
    masked_file: Path | None = None
    duckdb_memory_limit: str = "80%"
    duckdb_temp_dir: Path | None = None

    @property
    def duckdb_spill_dir(self) -> Path:
        """Where DuckDB spills what does not fit in its memory limit (README: Write-audit-publish)."""
        if self.duckdb_temp_dir is not None:
            return self.duckdb_temp_dir
        return self.build_db.with_name(self.build_db.name + ".tmp")

    @property
    def raw_dir(self) -> Path:
        return self.data_dir / "raw"

    @property
    def truth_path(self) -> Path:
        return self.data_dir / "truth" / "truth.parquet"

    @property
    def audit_path(self) -> Path:
        """The result of the last build's audit; publishing reads it."""
        return self.build_db.parent / f"audit.{self.target}.json"

    @property
    def freshness_path(self) -> Path:
        """dbt's record of the build's `dbt source freshness` (sources.json); the syncs read it to hold
        removals after a failed check (orchestration/sync/holds.py)."""
        return self.build_db.parent / f"freshness.{self.target}.json"

    @property
    def last_audit_path(self) -> Path:
        """The audit of the build that was published last."""
        return self.published_db.parent / f"last_audit.{self.target}.json"

    @property
    def landed_path(self) -> Path:
        """What the running build found landed before it read its sources (orchestration/build/landing.py)."""
        return self.build_db.parent / f"landed.{self.target}.json"

    @property
    def last_landed_path(self) -> Path:
        """What the build that was published last found landed: the sensor build_when_data_lands compares."""
        return self.published_db.parent / f"last_landed.{self.target}.json"

    @property
    def lock_path(self) -> Path:
        return self.published_db.parent / ".writer.lock"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)

        def path(name: str, default: Path) -> Path:
            value = env.get(name)
            p = Path(value) if value else default
            return p if p.is_absolute() else PROJECT_DIR / p

        target = env.get("TESSERA_TARGET", "duckdb")
        if target not in ("duckdb", "postgres", "spark"):
            raise ValueError(f"TESSERA_TARGET must be 'duckdb', 'postgres' or 'spark', not {target!r}")
        return cls(
            target=target,
            data_dir=path("TESSERA_DATA_DIR", PROJECT_DIR / "data"),
            published_db=path("TESSERA_WAREHOUSE", PROJECT_DIR / "warehouse" / "tessera.duckdb"),
            build_db=path("TESSERA_BUILD_DB", PROJECT_DIR / "warehouse" / "build" / "tessera.duckdb"),
            postgres=PostgresSettings(
                host=env.get("TESSERA_PG_HOST", "127.0.0.1"),
                port=int(env.get("TESSERA_PG_PORT", "5432")),
                user=env.get("TESSERA_PG_USER", "postgres"),
                password=env.get("TESSERA_PG_PASSWORD", ""),
                database=env.get("TESSERA_PG_DATABASE", "tessera"),
                build_schema=env.get("TESSERA_PG_BUILD_SCHEMA", "tessera_build"),
                published_schema=env.get("TESSERA_PG_SCHEMA", "tessera"),
            ),
            person_sources_path=path(
                "TESSERA_PERSON_SOURCES", PROJECT_DIR / "sources" / "person_sources.yml"
            ),
            masked_file=path("TESSERA_MASKED_FILE", Path()) if env.get("TESSERA_MASKED_FILE") else None,
            duckdb_memory_limit=env.get("TESSERA_DUCKDB_MEMORY_LIMIT") or "80%",
            duckdb_temp_dir=path("TESSERA_DUCKDB_TEMP_DIR", Path())
            if env.get("TESSERA_DUCKDB_TEMP_DIR")
            else None,
        )
