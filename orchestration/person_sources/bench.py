"""`tessera bench sources`: how fast a declared CSV person source is landed and staged on DuckDB."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from orchestration.person_sources.load import load_duckdb
from orchestration.settings import Settings

DECLARATION = """\
person_sources:
  - name: bench
    file: people.csv
    record_id: Person Id
    fields:
      first_name: First Name
      last_name: Surname
      email: E-mail
      phone: Mobile
      date_of_birth: Date of Birth
      postcode: Postcode
      country: Country
    external_ids:
      member_no: Member No
    date_format: DD/MM/YYYY
"""


def _write_csv(path: Path, rows: int) -> None:
    """A synthetic visitor sheet: every 1000th row has a broken date, every 3rd a phone."""
    import duckdb

    duckdb.sql(
        f"""
        copy (
            select
                'P' || i as "Person Id",
                ['Anna', 'Bob', 'Cara', 'Dan', 'Eve', 'Łukasz', 'Zoë'][1 + i % 7] as "First Name",
                ['Lee', 'Stone', 'Diaz', 'Khan', 'Nowak', 'Müller'][1 + (i // 7) % 6] as "Surname",
                ' Person.' || i || '@Mail.org ' as "E-mail",
                case when i % 3 = 0 then '07700 ' || lpad(cast(i % 1000000 as varchar), 6, '0') end as "Mobile",
                case when i % 1000 = 0 then '31/02/1990'
                    else strftime(date '1950-01-01' + cast(i % 20000 as integer), '%d/%m/%Y') end
                    as "Date of Birth",
                'sw1a ' || (i % 9) || 'aa' as "Postcode",
                'GB' as "Country",
                case when i % 2 = 0 then 'M' || i end as "Member No"
            from range({int(rows)}) as t(i)
        ) to '{path}' (header true)
        """
    )


def bench_sources(rows: int, workdir: Path | None = None) -> dict[str, Any]:
    """Land a `rows`-row CSV person source, then build its staging models; report the seconds."""
    from orchestration.build.pipeline import run_dbt
    from orchestration.warehouse.connection import open_file
    from orchestration.warehouse.registry import get_warehouse

    root = Path(workdir or tempfile.mkdtemp(prefix="tessera-bench-sources-"))
    (root / "config").mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    _write_csv(root / "config" / "people.csv", rows)
    write_seconds = time.monotonic() - started
    (root / "config" / "person_sources.yml").write_text(DECLARATION)
    settings = Settings.from_env(
        {
            **os.environ,
            "TESSERA_TARGET": "duckdb",
            "TESSERA_DATA_DIR": str(root / "data"),
            "TESSERA_WAREHOUSE": str(root / "warehouse" / "tessera.duckdb"),
            "TESSERA_BUILD_DB": str(root / "warehouse" / "build" / "tessera.duckdb"),
            "TESSERA_PERSON_SOURCES": str(root / "config" / "person_sources.yml"),
        }
    )
    get_warehouse(settings).prepare_build()
    con = open_file(settings.build_db)
    try:
        started = time.monotonic()
        counts = load_duckdb(con, settings)
        con.execute("checkpoint warehouse")
        load_seconds = time.monotonic() - started
    finally:
        con.close()
    started = time.monotonic()
    results = run_dbt(
        settings,
        [
            "build",
            "--select",
            "identifier_blocklist base_person_sources__records stg_person_sources__records",
        ],
    )
    dbt_seconds = time.monotonic() - started
    node_seconds = {
        r["unique_id"].split(".")[-1]: round(float(r.get("execution_time") or 0.0), 3)
        for r in results.get("results", [])
        if r["unique_id"].startswith("model.")
    }
    failed = [r["unique_id"] for r in results.get("results", []) if r.get("status") in ("error", "fail")]
    con = open_file(settings.build_db, read_only=True)
    try:
        staged, quarantined = con.execute(
            "select count(*) filter (where quarantine_reason is null), count(*) filter (where quarantine_reason "
            "is not null) from base_person_sources__records"
        ).fetchone()  # type: ignore[misc]
    finally:
        con.close()
    loaded = sum(counts.values())
    return {
        "rows": loaded,
        "staged": staged,
        "quarantined": quarantined,
        "csv_write_seconds": round(write_seconds, 2),
        "load_seconds": round(load_seconds, 2),
        "load_rows_per_second": round(loaded / load_seconds) if load_seconds else None,
        "base_model_seconds": node_seconds.get("base_person_sources__records"),
        "stg_model_seconds": node_seconds.get("stg_person_sources__records"),
        "dbt_build_seconds": round(dbt_seconds, 2),
        "failed": failed,
    }
