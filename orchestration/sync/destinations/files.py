"""Files (CSV, Parquet or JSON Lines): one file per batch, written under a temporary name, then renamed."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, ClassVar, Literal

from orchestration.sync.destinations.base import (
    ALL_MODES,
    Batch,
    Destination,
    DestinationContext,
    DestinationSettings,
    Item,
    Limits,
    Record,
    RecordResult,
)
from orchestration.sync.errors import DestinationFatalError, RetryableError
from orchestration.warehouse.files import written_aside

EXTENSIONS = {"csv": "csv", "parquet": "parquet", "jsonl": "jsonl"}


class FilesSettings(DestinationSettings):
    """Each batch becomes `{directory}/{sync}__{batch id}.{ext}` with columns `_key`, `_operation` and the
    mapped fields. The name comes from the batch's idempotency key, so a batch repeated after a crash
    overwrites its own file instead of adding a second one. Readers never see a half-written file."""

    type: Literal["files"]
    directory: str
    format: Literal["csv", "parquet", "jsonl"] = "parquet"

    supported_modes: ClassVar[frozenset[str]] = ALL_MODES
    api_limits: ClassVar[Limits] = Limits(max_batch_size=100_000, requests=None)

    def uses_http(self) -> bool:
        return False

    def build(self, ctx: DestinationContext) -> Destination:
        return Files(self, ctx.sync_name, list(ctx.mapping), self.limits())


def _flat(value: Any) -> Any:
    return json.dumps(value, separators=(",", ":")) if isinstance(value, dict | list) else value


class Files(Destination):
    supports_idempotency_key = True

    def __init__(self, settings: FilesSettings, sync_name: str, columns: list[str], limits: Limits) -> None:
        super().__init__()
        self.settings = settings
        self.sync_name = sync_name
        self.columns = columns
        self.limits = limits
        self.directory = Path(settings.directory)

    def prepare(self, record: Record) -> Item:
        return Item(
            record.key, {"_key": record.key, **{c: _flat(record.fields.get(c)) for c in self.columns}}
        )

    def send_batch(self, batch: Batch) -> list[RecordResult]:
        return self._write(batch)

    def delete(self, batch: Batch) -> list[RecordResult]:
        return self._write(batch)

    def path_for(self, batch: Batch) -> Path:
        return (
            self.directory / f"{self.sync_name}__{batch.idempotency_key}.{EXTENSIONS[self.settings.format]}"
        )

    def _write(self, batch: Batch) -> list[RecordResult]:
        rows = [
            {"_key": item.body["_key"], "_operation": batch.operation, **item.body} for item in batch.items
        ]
        target = self.path_for(batch)
        self.requests += 1
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            data = self._encode(rows)
            with written_aside(target, durable=True) as aside:
                aside.write_bytes(data)
        except PermissionError as exc:
            raise DestinationFatalError(f"cannot write {target}: {exc}") from None
        except OSError as exc:
            raise RetryableError(f"cannot write {target}: {exc}") from None
        return [RecordResult(item.key, True) for item in batch.items]

    supports_erase = True
    erase_batch_size = 100_000

    def erase(self, records: list[Record], request_id: str) -> list[RecordResult]:
        """Rewrite every file this sync wrote without the rows of these keys (a file left empty is removed).
        Each file is replaced by a rename, so a reader sees the old file or the new one."""
        keys = {record.key for record in records}
        pattern = f"{self.sync_name}__*.{EXTENSIONS[self.settings.format]}"
        try:
            for path in sorted(self.directory.glob(pattern)):
                rows = self._read(path)
                kept = [row for row in rows if str(row.get("_key")) not in keys]
                if len(kept) == len(rows):
                    continue
                if not kept:
                    path.unlink()
                    continue
                with written_aside(path, durable=True) as aside:
                    aside.write_bytes(self._encode_rows(kept))
        except PermissionError as exc:
            raise DestinationFatalError(f"cannot rewrite files in {self.directory}: {exc}") from None
        except OSError as exc:
            raise RetryableError(f"cannot rewrite files in {self.directory}: {exc}") from None
        return [RecordResult(record.key, True) for record in records]

    def _read(self, path: Path) -> list[dict[str, Any]]:
        if self.settings.format == "jsonl":
            return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if self.settings.format == "csv":
            with open(path, newline="") as handle:
                return list(csv.DictReader(handle))
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()

    def _encode_rows(self, rows: list[dict[str, Any]]) -> bytes:
        """Rows read back from a file (with `_operation`) in the same format."""
        if self.settings.format == "csv":
            text = io.StringIO()
            writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
            return text.getvalue().encode()
        return self._encode(rows)

    def _encode(self, rows: list[dict[str, Any]]) -> bytes:
        fieldnames = ["_key", "_operation", *self.columns]
        if self.settings.format == "jsonl":
            return "".join(
                json.dumps(row, separators=(",", ":"), default=str) + "\n" for row in rows
            ).encode()
        if self.settings.format == "csv":
            text = io.StringIO()
            writer = csv.DictWriter(text, fieldnames=fieldnames, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
            return text.getvalue().encode()
        import pyarrow as pa  # only Parquet needs it
        import pyarrow.parquet as pq

        try:
            table = pa.Table.from_pylist(rows)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            # A column mixing types (say numbers and text) is written as text rather than refused.
            table = pa.Table.from_pylist(
                [{k: (None if v is None else str(v)) for k, v in row.items()} for row in rows]
            )
        table = table.select(fieldnames) if rows else table
        sink = io.BytesIO()
        pq.write_table(table, sink)
        return sink.getvalue()
