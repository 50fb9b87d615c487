"""Which columns of a raw or loader table hold a person's identifiers: the only columns an exact term is
compared with (scan.match_condition).

An exact term is a short or all-digit one, a shop's numeric customer id "1234" say. Compared with every text
column it also equals another person's order id, order name, ticket id or page path, and an erase would
delete that other person's row. So in the tables a source writes, an exact term is compared only with the
columns declared here as holding a person's identifiers (their ids, anonymous and user ids, emails, phones,
loyalty cards); substring terms (emails, phones, device ids) are still searched in every text column, which
finds them in free text and JSON.

The declarations:
- the demo raw contract's tables (raw_<source>.<table>, docs/raw_schema.md): `RawTable.id_columns` in
  cluster.py, beside how each raw table's person is found;
- a loader's tables read in place (loaders.py): `PRESET_ID_COLUMNS`, per preset and table (the name without
  the declared prefix; "*" for any other table of the preset, such as Segment's per-event tables), from each
  loader's documented schema (the presets' dbt sources YAML under models/staging/<source>/base/<preset>/);
  the mapped events preset's one table, the columns its declaration maps as user_id and anonymous_id
  (`LoaderSource.id_columns`).

A loader's child tables whose rows name no person (Shopify's order lines) are the person's through their
parent row: `PRESET_CHILD_TABLES`; a demo raw table's, `RawTable.parent` (cluster.py: the demo's order items
through their order, survey responses through their ticket). The deletion and the scans (the check before
publishing, the proof) reach both through the parent (scan.parent_condition), the access export a loader's.

- Tessera's own models: `config: meta: tessera: id_columns: [...]` in the models' YAML, read from the dbt
  manifest (`model_id_columns`), for the tables of the schemas the models are built in.

Any other table (a model declaring no such column, the person-source landing tables, sync state, the
`retained` aggregates) has no declaration: there an exact term is compared with every text column, as before.
A column named here that a table lacks is ignored.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestration.privacy.cluster import RAW_TABLES
from orchestration.privacy.loaders import LoaderSource, loader_sources
from orchestration.privacy.places import dbt_manifest_path
from orchestration.privacy.scan import ParentLink
from orchestration.settings import Settings

log = logging.getLogger(__name__)

#: The model `meta` key under which a model's YAML declares its identifier columns: `tessera: {id_columns: [...]}`.
MODEL_META_KEY = "tessera"

SEGMENT = {
    "*": ("anonymous_id", "user_id"),
    # identify() traits are columns of identifies.
    "identifies": ("anonymous_id", "user_id", "email", "phone"),
    # previous_id is an earlier anonymous or user id of the same person.
    "aliases": ("anonymous_id", "user_id", "previous_id"),
    # One row per user id, keyed `id`; traits are columns.
    "users": ("id", "email", "phone"),
}

#: preset -> table (without prefix, "*" for any other) -> the columns holding a person's identifiers.
PRESET_ID_COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {
    "segment": SEGMENT,
    "rudderstack": SEGMENT,
    # atomic.events: the user id the tracker set, the first-party cookie id and the collector's cookie id.
    "snowplow": {"*": ("user_id", "domain_userid", "network_userid")},
    # Shopify: a customer is `customer.id`; every other table names them by customer_id.
    "fivetran": {
        "customer": ("id", "email", "phone"),
        "order": ("customer_id", "email", "phone"),
        "*": ("customer_id",),
    },
    "fivetran_hubspot": {
        "contact": ("id", "property_email", "property_phone", "property_mobilephone"),
        "*": ("contact_id",),
    },
    # Zendesk: a requester is `user.id` = ticket.requester_id (or submitter_id when they opened it).
    "fivetran_zendesk": {
        "user": ("id", "email", "phone"),
        "*": ("requester_id", "submitter_id", "user_id"),
    },
    "fivetran_klaviyo": {"person": ("id", "email", "phone_number"), "*": ("person_id",)},
    # The user's own event table: its declaration names the columns (LoaderSource.id_columns).
    "mapped": {},
}

#: preset -> child table (without prefix) -> (its parent table, the child's column holding the parent's `id`):
#: tables the preset reads whose rows name no person, theirs through the parent row (_<preset>__sources.yml).
PRESET_CHILD_TABLES: dict[str, dict[str, tuple[str, str]]] = {
    # Fivetran's Shopify schema: an order's line items and the discount codes applied to it carry only
    # order_id (order_discount_code has no id of its own: order_id and index).
    "fivetran": {"order_line": ("order", "order_id"), "order_discount_code": ("order", "order_id")},
}


def preset_id_columns(preset: str, table: str) -> frozenset[str]:
    """The identifier columns of one loader table (`table` without the declared prefix)."""
    declared = PRESET_ID_COLUMNS.get(preset)
    if declared is None:
        raise KeyError(f"no identifier columns are declared for the {preset} preset (id_columns.py)")
    return frozenset(c.lower() for c in declared.get(table.lower(), declared.get("*", ())))


def raw_id_columns(schema: str, table: str) -> frozenset[str] | None:
    """The identifier columns of one demo raw table (`raw_<source>`), or None when it is not one."""
    for raw in RAW_TABLES:
        if schema.lower() == f"raw_{raw.source}" and table.lower() == raw.table:
            return frozenset(c.lower() for c in raw.id_columns)
    return None


def raw_parent(schema: str, table: str) -> ParentLink | None:
    """A demo raw table's parent (`RawTable.parent`, cluster.py), in the same raw schema: the child's column
    holds the parent's raw id; None when the table is no demo raw table or has no parent."""
    for raw in RAW_TABLES:
        if raw.parent is None or schema.lower() != f"raw_{raw.source}" or table.lower() != raw.table:
            continue
        parent_table, column = raw.parent
        parent = next(p for p in RAW_TABLES if p.source == raw.source and p.table == parent_table)
        return ParentLink(schema, parent_table, column, parent.raw_id)
    return None


def model_id_columns(manifest: Mapping[str, Any]) -> dict[str, frozenset[str]]:
    """Per table a model (or seed, snapshot) builds, by its name (alias, lower case): the columns its YAML
    declares as holding a person's identifiers, `config: meta: tessera: id_columns: [...]` (an empty list:
    none, so an exact term is compared with no column). A model declaring nothing is left out (every text
    column). A declaration that is not a list of column names is an error naming the model."""
    declared: dict[str, frozenset[str]] = {}
    for node in (manifest.get("nodes") or {}).values():
        if node.get("resource_type") not in ("model", "seed", "snapshot"):
            continue
        meta = {**(node.get("meta") or {}), **((node.get("config") or {}).get("meta") or {})}
        tessera = meta.get(MODEL_META_KEY)
        if not isinstance(tessera, Mapping) or "id_columns" not in tessera:
            continue
        columns = tessera["id_columns"]
        if not isinstance(columns, list) or not all(isinstance(c, str) and c for c in columns):
            raise ValueError(
                f"{node.get('original_file_path', node['name'])}: model {node['name']}: "
                f"meta.{MODEL_META_KEY}.id_columns must be a list of column names, not {columns!r}"
            )
        declared[str(node.get("alias") or node["name"]).lower()] = frozenset(c.lower() for c in columns)
    return declared


@functools.lru_cache(maxsize=4)
def _read_manifest_declarations(path: Path, mtime_ns: int) -> dict[str, frozenset[str]]:
    return model_id_columns(json.loads(path.read_text()))


def manifest_id_columns(path: Path) -> dict[str, frozenset[str]]:
    """model_id_columns of the manifest at `path` (read once per version of the file); none when dbt has
    not parsed the project there yet: then every model's text columns are compared, as before."""
    try:
        mtime = path.stat().st_mtime_ns
    except FileNotFoundError:
        log.warning(
            "no dbt manifest at %s: exact terms are compared with every text column of the models", path
        )
        return {}
    return _read_manifest_declarations(path, mtime)


@dataclass(frozen=True)
class IdentifierColumns:
    """The identifier columns of every table a source writes (the demo raw tables, the tables of the
    loaders read in place: `loaders`, reached or not, since a table out of reach is never scanned anyway)
    and of Tessera's models that declare them (`models`, by table name, for tables of `model_schemas`)."""

    loaders: tuple[LoaderSource, ...] = field(default_factory=tuple)
    models: Mapping[str, frozenset[str]] = field(default_factory=dict)
    model_schemas: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls,
        loaders: Iterable[LoaderSource],
        models: Mapping[str, frozenset[str]] | None = None,
        model_schemas: Iterable[str] = (),
    ) -> IdentifierColumns:
        return cls(tuple(loaders), dict(models or {}), frozenset(s.lower() for s in model_schemas))

    def __call__(self, schema: str, table: str) -> frozenset[str] | None:
        for source in self.loaders:
            if source.holds(schema, table):
                if source.id_columns:
                    return frozenset(c.lower() for c in source.id_columns)
                return preset_id_columns(source.preset, table[len(source.prefix) :])
        raw = raw_id_columns(schema, table)
        if raw is not None or schema.lower() not in self.model_schemas:
            return raw
        return self.models.get(table.lower())

    def parent(self, schema: str, table: str) -> ParentLink | None:
        """A loader's child table's parent (PRESET_CHILD_TABLES), in the same schema and with the same
        prefix; a demo raw table's (raw_parent: raw_shop.order_items's is raw_shop.orders); None for any
        other table."""
        for source in self.loaders:
            if source.holds(schema, table):
                link = PRESET_CHILD_TABLES.get(source.preset, {}).get(table[len(source.prefix) :].lower())
                return ParentLink(schema, source.prefix + link[0], link[1]) if link is not None else None
        return raw_parent(schema, table)


def identifier_columns(
    settings: Settings, model_schemas: Iterable[str] = (), loaders: Iterable[LoaderSource] | None = None
) -> IdentifierColumns:
    """The identifier columns of the demo raw tables, of every declared loader's tables (or of `loaders`:
    those in the database being read), and of the models that declare theirs (dbt manifest), for the
    models' tables in `model_schemas` (the schemas the models are built or published in: DuckDB's `main`;
    Postgres's published and build schemas)."""
    return IdentifierColumns.of(
        loader_sources(settings) if loaders is None else loaders,
        manifest_id_columns(dbt_manifest_path(settings)),
        model_schemas,
    )
