"""Column types across warehouses: how a warehouse's declared types read back into DuckDB.

DuckDB is the engine every Python step uses in memory (syncs diff in it; the Postgres build copies
tables through it), so each warehouse's types map onto DuckDB's here, once.
"""

# Postgres column types (information_schema.columns.data_type) as DuckDB reads them back from CSV.
# Any other type (json, uuid, arrays, timestamptz, ...) travels as its text form.
POSTGRES_TO_DUCKDB_TYPES = {
    "text": "varchar",
    "character varying": "varchar",
    "character": "varchar",
    "boolean": "boolean",
    "smallint": "smallint",
    "integer": "integer",
    "bigint": "bigint",
    "real": "float",
    "double precision": "double",
    "numeric": "double",
    "date": "date",
    "timestamp without time zone": "timestamp",
}
