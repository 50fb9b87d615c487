"""Erasure in the declared person sources (sources/person_sources.yml): their files are rewritten without the
person's rows, so the next load does not bring them back. Declared warehouse tables are handled with the
warehouse (DuckDB: in the build copy; Postgres: orchestration/privacy/postgres.py)."""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from orchestration.person_sources.config import PersonSource, PersonSourcesConfig
from orchestration.privacy.cluster import PersonSourceMatch
from orchestration.privacy.files import rewrite_parquet_without
from orchestration.privacy.scan import is_id_column, is_substring_term, normalise_terms
from orchestration.warehouse.files import written_aside

log = logging.getLogger(__name__)


@dataclass
class FileErasure:
    source: str  # name.table_label
    path: Path
    removed: int


def _row_matches(
    header: list[str], row: list[str], id_index: int | None, ids: set[str], terms: list[str]
) -> bool:
    """The person's row: its record id is theirs, or a field holds a term (the rules of scan.match_condition:
    long terms as substrings of any field, short or all-digit terms as the whole value of an id column)."""
    if id_index is not None and id_index < len(row) and row[id_index].strip() in ids:
        return True
    substring = [t for t in terms if is_substring_term(t)]
    exact = {t for t in terms if not is_substring_term(t)}
    for index, value in enumerate(row):
        lowered = value.lower()
        if any(t in lowered for t in substring):
            return True
        name = header[index] if index < len(header) else ""
        if exact and is_id_column(name) and lowered.strip() in exact:
            return True
    return False


def rewrite_csv_without(path: Path, source: PersonSource, ids: set[str], terms: list[str]) -> int:
    """Rewrite a declared CSV file without the person's rows; every other line is kept byte for byte (a
    malformed line too: the loader quarantines it, and it may be someone else's). Returns rows removed."""
    data = path.read_bytes()
    bom = data.startswith(b"\xef\xbb\xbf")
    # surrogateescape round-trips bytes that are not UTF-8 (the loader quarantines such lines).
    text = data[3 if bom else 0 :].decode("utf-8", errors="surrogateescape")
    lines = io.StringIO(text, newline="").readlines()
    consumed: list[str] = []

    def feed() -> Iterator[str]:
        for line in lines:
            consumed.append(line)
            yield line

    reader = csv.reader(feed(), delimiter=source.delimiter or ",", quotechar='"', doublequote=True)
    try:
        header = next(reader)
    except StopIteration:
        return 0
    kept = ["".join(consumed)]
    consumed.clear()
    id_index = header.index(source.record_id) if source.record_id in header else None
    wanted = normalise_terms(terms)
    removed = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error:
            # An unterminated quote runs to the end of the file; judge what was read as one row.
            row = ["".join(consumed)]
        raw = "".join(consumed)
        consumed.clear()
        if _row_matches(header, row, id_index, ids, wanted) or _row_matches([], [raw], None, set(), wanted):
            removed += 1
        else:
            kept.append(raw)
    if not removed:
        return 0
    with written_aside(path) as tmp:
        tmp.write_bytes(
            (b"\xef\xbb\xbf" if bom else b"") + "".join(kept).encode("utf-8", errors="surrogateescape")
        )
        os.chmod(tmp, path.stat().st_mode & 0o777)
    log.info("removed %d rows from %s", removed, path)
    return removed


def erase_in_files(
    config: PersonSourcesConfig, people: PersonSourceMatch, terms: list[str]
) -> list[FileErasure]:
    """Every declared CSV or Parquet file rewritten without the person's rows (by record id and by term)."""
    results = []
    for source in config.sources:
        if source.file is None or not source.file.exists():
            continue
        ids = people.record_ids.get((source.name, source.table_label), set())
        if source.kind == "csv":
            removed = rewrite_csv_without(source.file, source, ids, terms)
        else:
            removed = rewrite_parquet_without(source.file, terms, source.record_id, sorted(ids))
        results.append(FileErasure(f"{source.name}.{source.table_label}", source.file, removed))
    return results


def declared_files(config: PersonSourcesConfig) -> list[Path]:
    return [s.file for s in config.sources if s.file is not None and s.file.exists()]
