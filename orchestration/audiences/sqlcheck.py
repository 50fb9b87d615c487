"""Refuse audience SQL that is not exactly one read-only SELECT, using sqlglot's parser."""

from __future__ import annotations

import re
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

# A raw `sql:` condition may name models as {{ ref('name') }}; for parsing they become plain tables.
REF_PLACEHOLDER = re.compile(r"\{\{\s*ref\(\s*['\"]([A-Za-z0-9_]+)['\"]\s*\)\s*\}\}")

# Statements and clauses that write, lock or change the session, wherever they appear (a Postgres
# data-modifying CTE is a DELETE inside an otherwise valid SELECT).
_WRITES: tuple[type[exp.Expression], ...] = (
    exp.Insert,
    exp.Update,
    exp.Delete,
    exp.Merge,
    exp.Create,
    exp.Drop,
    exp.Alter,
    exp.TruncateTable,
    exp.Command,
    exp.Set,
    exp.Use,
    exp.Copy,
    exp.Grant,
    exp.Lock,
    exp.Transaction,
    exp.Commit,
    exp.Rollback,
)


class AudienceSqlRefused(ValueError):
    """An audience definition is not a single SELECT; the message names the audience and why."""


def _describe(statement: Any) -> str:
    return statement.key.upper().replace("TRUNCATETABLE", "TRUNCATE")


def check_single_select(audience: str, sql: str, dialect: str = "duckdb", *, what: str = "SQL") -> exp.Query:
    """Return the parsed query if `sql` is exactly one SELECT (set operations and CTEs included) that
    neither writes nor locks; otherwise raise AudienceSqlRefused naming `audience`."""
    text = REF_PLACEHOLDER.sub(lambda m: m.group(1), sql)
    try:
        statements = [s for s in sqlglot.parse(text, dialect=dialect) if s is not None]
    except ParseError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AudienceSqlRefused(
            f"audience {audience}: its {what} does not parse as SQL ({first}) (rule: parse)"
        ) from exc
    if not statements:
        raise AudienceSqlRefused(f"audience {audience}: its {what} is empty; an audience is one SELECT")
    if len(statements) > 1:
        kinds = ", ".join(_describe(s) for s in statements)
        raise AudienceSqlRefused(
            f"audience {audience}: its {what} holds {len(statements)} statements ({kinds}); "
            "an audience is exactly one SELECT (rule: statements)"
        )
    statement = statements[0]
    if not isinstance(statement, exp.Query):
        raise AudienceSqlRefused(
            f"audience {audience}: its {what} is a {_describe(statement)} statement, not a SELECT; "
            "audiences may only read (rule: statements)"
        )
    for node in statement.walk():
        if isinstance(node, _WRITES):
            raise AudienceSqlRefused(
                f"audience {audience}: its {what} contains a {_describe(node)} ({node.sql(dialect=dialect)[:80]!r}); "
                "audiences may only read (rule: statements)"
            )
        if isinstance(node, exp.Select) and node.args.get("into") is not None:
            raise AudienceSqlRefused(
                f"audience {audience}: its {what} is a SELECT … INTO, which creates a table; audiences may only read"
            )
        if isinstance(node, exp.Select) and node.args.get("locks"):
            raise AudienceSqlRefused(
                f"audience {audience}: its {what} takes row locks (FOR UPDATE/SHARE); audiences may only read"
            )
    return statement


# --- The sandbox: audience SQL may read only the project's models, with plain scalar, aggregate and
# window functions. An allow-list, not a deny-list: sqlglot turns every function it does not know
# into exp.Anonymous, so a deny-list would wave through whatever reader or admin function it has
# not heard of (DuckDB and Postgres each have hundreds), while an unknown name here is refused.
# Names are sqlglot's canonical names (the class's sql_names() or its key) or, for functions sqlglot
# does not model, the name as written; all lowercase.
def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


ALLOWED_FUNCTIONS: frozenset[str] = _words(
    """
    count count_if countif sum avg min max bool_and bool_or logical_and logical_or any_value arbitrary
    first last median mode quantile_cont quantile_disc percentile_cont percentile_disc stddev stddev_pop
    stddev_samp variance var_pop var_samp corr covar_pop covar_samp string_agg group_concat listagg
    array_agg arrayagg list approx_count_distinct approx_distinct arg_max arg_min argmax argmin max_by
    min_by
    row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value last_value nth_value
    coalesce ifnull nullif nvl if iff case greatest least exists
    cast try_cast trycast safe_cast
    abs ceil ceiling floor round trunc sign sqrt power pow exp ln log log10 log2 mod pi radians degrees
    sin cos tan asin acos atan atan2 cot div
    lower upper lcase ucase length len char_length character_length trim ltrim rtrim btrim substr
    substring left right concat concat_ws replace reverse lpad rpad split_part strpos position instr
    contains starts_with startswith ends_with endswith regexp_matches regexp_like regexp_replace
    regexp_extract regexp_full_match md5 sha256 initcap repeat ascii chr translate string_split
    split str_position stuff array_to_string
    date_trunc datetrunc timestamp_trunc timestamptrunc date_part datepart extract date_diff datediff
    datetime_diff timestamp_diff timestampdiff date_add dateadd date_sub datesub ts_or_ds_add
    timestamp_add timestampadd age now current_date current_timestamp current_time localtimestamp
    timezone to_utc_timestamp current_timezone
    make_date make_timestamp to_timestamp to_date to_char strftime strptime str_to_time str_to_date
    time_to_str unix_to_time epoch epoch_ms year month day dayofweek day_of_week dayofyear
    day_of_year week weekofyear week_of_year quarter hour minute second last_day date timestamp
    time_bucket date_from_parts
    array array_length array_size array_contains list_contains list_has list_value array_position
    unnest struct_pack
    json_extract json_extract_scalar json_extract_string json_extract_path_text jsonextract
    jsonextractscalar
    """
)

# Harmless functions one warehouse's compiled macros need, allowed for that warehouse only: Spark's
# hash_bucket (spark__hash_bucket) reads an md5 prefix as a number with conv(); DuckDB and Postgres
# have no conv().
DIALECT_ALLOWED_FUNCTIONS: dict[str, frozenset[str]] = {"spark": _words("conv")}

# A raw `sql:` condition names models only as {{ ref('name') }}: each becomes this marker, so that
# a bare table name (customers, pg_settings, information_schema.tables) stays distinguishable.
_REF_MARKER = "__tessera_ref__"
_NESTED_COMMENT = re.compile(r"/\*|\*/")


def _function_names(node: exp.Func) -> list[str]:
    if isinstance(node, exp.Anonymous):
        return [str(node.name).lower()]
    return [node.key.lower(), *(name.lower() for name in type(node).sql_names())]


def _function_label(node: exp.Func) -> str:
    return str(node.name).lower() if isinstance(node, exp.Anonymous) else type(node).sql_names()[0].lower()


def _parts(table: exp.Table) -> tuple[str, ...]:
    return tuple(str(part.name).lower() for part in table.parts)


def relation_parts(relation: str, dialect: str) -> tuple[str, ...]:
    """("db", "schema", "name") of a relation as dbt renders it, e.g. "tessera"."main"."customers"."""
    return _parts(exp.to_table(relation, dialect=dialect))


def _cte_names(table: exp.Table) -> set[str]:
    """The CTE names in scope where `table` stands. The query of a WITH sees all its CTEs; a CTE
    sees only those defined before it (all of them under WITH RECURSIVE): a later or its own name
    there means a real table, e.g. `with a as (select * from pg_settings), pg_settings as (…)`."""
    names: set[str] = set()
    child: Any = table
    parent = table.parent
    while parent is not None:
        if isinstance(parent, exp.With):
            ctes = list(parent.expressions)
            position = next((i for i, cte in enumerate(ctes) if cte is child), len(ctes))
            seen = ctes if parent.args.get("recursive") else ctes[:position]
            names.update(str(cte.alias).lower() for cte in seen)
        else:
            with_ = parent.args.get("with_") or parent.args.get("with")
            if isinstance(with_, exp.With) and child is not with_:
                names.update(str(cte.alias).lower() for cte in with_.expressions)
        child, parent = parent, parent.parent
    return names


def check_sandboxed(
    audience: str,
    sql: str,
    dialect: str = "duckdb",
    *,
    what: str = "SQL",
    allowed_relations: set[tuple[str, ...]] | None = None,
) -> exp.Query:
    """Refuse audience SQL that could reach past the project's models; return the parsed query.

    On top of check_single_select: every function must be on ALLOWED_FUNCTIONS (rule "functions"),
    and every table must be a project model (rule "tables"). With `allowed_relations` (compiled
    SQL), a table must be one of those relations, written out in full as dbt renders refs; without
    it (a raw `sql:` condition before compiling) a table must be written as {{ ref('model') }}.
    CTE names are allowed wherever they are in scope. Raises AudienceSqlRefused."""
    marked = sql
    if allowed_relations is None:
        if _REF_MARKER in sql.lower():
            raise AudienceSqlRefused(
                f"audience {audience}: its {what} names {_REF_MARKER}…, which is reserved (rule: tables); "
                "name models as {{ ref('<model>') }}"
            )
        marked = REF_PLACEHOLDER.sub(lambda m: _REF_MARKER + m.group(1), sql)
    where = f"audience {audience}: its {what}"
    _DIALECT_TEXT_RULES.get(dialect, _no_rules)(where, marked)
    statement = check_single_select(audience, marked, dialect, what=what)
    _DIALECT_TREE_RULES.get(dialect, _no_rules)(where, statement)
    for node in statement.walk():
        for comment in node.comments or []:
            if _NESTED_COMMENT.search(comment):
                raise AudienceSqlRefused(
                    f"{where} nests a comment inside a comment (rule: comments); the warehouse and the "
                    "check could disagree about where it ends"
                )
    allowed = ALLOWED_FUNCTIONS | DIALECT_ALLOWED_FUNCTIONS.get(dialect, frozenset())
    for func in statement.find_all(exp.Func):
        if isinstance(func, exp.Binary | exp.Unary):
            continue  # operators (and, or, not, ||, glob, …) that sqlglot models as functions
        if isinstance(func.parent, exp.Dot) and func.parent.expression is func:
            raise AudienceSqlRefused(
                f"{where} calls the schema-qualified function {func.parent.sql(dialect=dialect)[:80]!r} "
                "(rule: functions); call built-in functions by their plain name"
            )
        if not any(name in allowed for name in _function_names(func)):
            label = _function_label(func)
            kind = "table function" if isinstance(func.parent, exp.Table) else "function"
            raise AudienceSqlRefused(
                f"{where} calls the {kind} {label}(), which is not on the audience SQL allow-list "
                "(rule: functions): audience SQL may use scalar, aggregate and window functions only, "
                "never file readers, table functions or admin functions (docs/audiences.md)"
            )
    for table in statement.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            label = table.this.sql(dialect=dialect)[:80]
            raise AudienceSqlRefused(
                f"{where} reads from {label!r}, which is not a table (rule: tables): audience SQL may "
                "read only the project's models"
            )
        parts = _parts(table)
        written = table.sql(dialect=dialect)
        if len(parts) == 1 and parts[0] in _cte_names(table):
            continue
        if allowed_relations is None:
            if len(parts) == 1 and parts[0].startswith(_REF_MARKER) and len(parts[0]) > len(_REF_MARKER):
                continue
            raise AudienceSqlRefused(
                f"{where} reads the table {written!r} (rule: tables): audience SQL may read only the "
                "project's models, named as {{ ref('<model>') }}"
            )
        if parts not in allowed_relations:
            raise AudienceSqlRefused(
                f"{where} reads the table {written!r}, which is not one of the models it refs (rule: "
                "tables): audience SQL may read only the project's models, named as {{ ref('<model>') }}"
            )
    return statement


# --- What a warehouse's SQL can do beyond the rules above, refused for that warehouse only (the
# dialect is the build's target, so DuckDB and Postgres keep exactly the rules above).


def _no_rules(where: str, sql: Any) -> None:
    return None


# Spark substitutes `${…}` in a statement's text before parsing it, inside strings and comments too:
# `${env:NAME}` is the Thrift server's environment variable, `${system:NAME}` a JVM system property,
# `${spark.some.conf}` a setting; so a literal in analyst SQL could carry a secret into a table.
_SPARK_SUBSTITUTION = re.compile(r"\$\{")
# The data sources Spark reads a path from as `<source>.\`<path>\`` (ResolveSQLOnFile): pyspark's own,
# and those a cluster commonly adds. Any table name that is not a plain identifier is refused too.
SPARK_FILE_SOURCES: frozenset[str] = _words(
    "parquet orc json csv text avro binaryfile xml hive delta iceberg hudi jdbc libsvm image noop kafka"
)
_PLAIN_NAME = re.compile(r"[a-z_][a-z0-9_]*")


def _spark_text_rules(where: str, sql: str) -> None:
    if _SPARK_SUBSTITUTION.search(sql):
        raise AudienceSqlRefused(
            f"{where} holds '${{', which Spark replaces before it parses the statement (rule: "
            "substitution): ${env:…}, ${system:…} and ${<setting>} read the server's environment, JVM "
            "properties and settings, strings and comments included"
        )


def _spark_tree_rules(where: str, statement: exp.Query) -> None:
    for transform in statement.find_all(exp.QueryTransform):
        raise AudienceSqlRefused(
            f"{where} pipes rows through a program ({transform.sql(dialect='spark')[:80]!r}) (rule: "
            "transform): SELECT TRANSFORM … USING runs a command on the cluster's workers"
        )
    for table in statement.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            continue  # check_sandboxed refuses it (rule: tables)
        parts = _parts(table)
        written = table.sql(dialect="spark")
        if (len(parts) > 1 and parts[-2] in SPARK_FILE_SOURCES) or not all(
            _PLAIN_NAME.fullmatch(part) for part in parts
        ):
            raise AudienceSqlRefused(
                f"{where} reads {written[:80]!r}, a file path or a name that is not a plain table name "
                "(rule: files): on Spark `<format>.`<path>`` reads any file the cluster can; audience "
                "SQL may read only the project's models"
            )


_DIALECT_TEXT_RULES = {"spark": _spark_text_rules}
_DIALECT_TREE_RULES = {"spark": _spark_tree_rules}
