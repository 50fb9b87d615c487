"""Refuse Jinja in analyst audience SQL beyond what writes SQL text.

dbt renders a model's Jinja while it compiles, as whoever runs dbt. On Postgres the build compiles the
audiences (`tessera audiences check`, and the check before every build) logged in as the build's own
user, before the sandbox role takes over: a `{% do run_query('alter role …') %}`, an
`{{ adapter.execute(…) }}` or `{{ modules.… }}` in an analyst's file would run with that user's rights,
and the SQL checks see only the compiled text, too late. So an analyst file may use only expressions
that produce SQL text: ref(), var(), config() and an allow-list of dbt's cross-database macros and of
Tessera's pure SQL macros, with literal arguments. No statements ({% … %}), no other names, attributes
or filters. Checked with Jinja's own parser (jinja2, which dbt ships), before dbt sees the file."""

from __future__ import annotations

from pathlib import Path

import jinja2
from jinja2 import nodes

from orchestration.audiences.sqlcheck import AudienceSqlRefused

# Names called bare: they resolve relations and settings, and run no SQL.
PLAIN_CALLS = frozenset({"ref", "var", "config"})
# What config() may set: not hooks, sql_header or grants, which are SQL run (or rights given) besides
# the model's own SELECT.
CONFIG_KEYS = frozenset({"materialized", "tags", "alias", "docs", "meta"})
# dbt's cross-database macros: each returns SQL text for its arguments.
DBT_MACROS = frozenset(
    {
        "any_value",
        "bool_or",
        "cast_bool_to_text",
        "concat",
        "current_timestamp",
        "date_trunc",
        "dateadd",
        "datediff",
        "hash",
        "last_day",
        "length",
        "listagg",
        "position",
        "replace",
        "right",
        "safe_cast",
        "split_part",
        "string_literal",
        "type_bigint",
        "type_boolean",
        "type_float",
        "type_int",
        "type_numeric",
        "type_string",
        "type_timestamp",
    }
)
# Tessera's macros that write SQL text from their arguments and query nothing.
TESSERA_MACROS = frozenset({"rule_audience", "hash_bucket", "haversine_km"})
NAMESPACES = {"dbt": DBT_MACROS, "tessera": TESSERA_MACROS}

_ALLOWED = (
    "allowed: {{ ref('…') }}, {{ var('…') }}, {{ config(…) }}, {{ dbt.<cross-database macro>(…) }} and "
    f"{{{{ tessera.<{'|'.join(sorted(TESSERA_MACROS))}>(…) }}}}, with literal arguments"
)


def _literal(node: nodes.Node) -> bool:
    if isinstance(node, nodes.Const):
        return True
    if isinstance(node, nodes.Neg | nodes.Pos):
        return _literal(node.node)
    if isinstance(node, nodes.List | nodes.Tuple):
        return all(_literal(item) for item in node.items)
    if isinstance(node, nodes.Dict):
        return all(_literal(pair.key) and _literal(pair.value) for pair in node.items)
    return False


def _callee(call: nodes.Call) -> str | None:
    """The allowed name a call is to (`ref`, `dbt.dateadd`, …), or None."""
    target = call.node
    if isinstance(target, nodes.Name) and target.name in PLAIN_CALLS:
        return target.name
    if (
        isinstance(target, nodes.Getattr)
        and isinstance(target.node, nodes.Name)
        and target.attr in NAMESPACES.get(target.node.name, ())
    ):
        return f"{target.node.name}.{target.attr}"
    return None


def _expression_problem(node: nodes.Node) -> str | None:
    if not isinstance(node, nodes.Call):
        return "an expression that is not a call to an allowed macro"
    name = _callee(node)
    if name is None:
        return "a call to something not allowed"
    if name == "config":
        keys = sorted({keyword.key for keyword in node.kwargs} - CONFIG_KEYS)
        if node.args or keys:
            what = ", ".join(keys) if keys else "a positional argument"
            return f"config() with {what} (it may set only {', '.join(sorted(CONFIG_KEYS))})"
    arguments = [*node.args, *(keyword.value for keyword in node.kwargs)]
    if node.dyn_args is not None or node.dyn_kwargs is not None or not all(_literal(a) for a in arguments):
        return f"{name}() with an argument that is not a literal"
    return None


def check_analyst_jinja(audience: str, text: str, *, where: str) -> None:
    """Raise AudienceSqlRefused, naming the file and line, unless every piece of Jinja in `text` is an
    allowed expression (see the module's docstring)."""
    try:
        template = jinja2.Environment(extensions=["jinja2.ext.do"]).parse(text)
    except jinja2.TemplateSyntaxError as exc:
        raise AudienceSqlRefused(
            f"audience {audience}: {where}, line {exc.lineno}: not valid Jinja"
        ) from None
    for statement in template.body:
        if not isinstance(statement, nodes.Output):
            raise AudienceSqlRefused(
                f"audience {audience}: {where}, line {statement.lineno}: Jinja statements "
                "({% … %}) run while dbt compiles, with the build's rights; " + _ALLOWED
            )
        for node in statement.nodes:
            if isinstance(node, nodes.TemplateData):
                continue
            problem = _expression_problem(node)
            if problem:
                raise AudienceSqlRefused(
                    f"audience {audience}: {where}, line {node.lineno}: {problem}; " + _ALLOWED
                )


def check_analyst_files(models_dir: Path, project_models: frozenset[str]) -> list[str]:
    """Check every analyst model file of models/audiences/ (all but the project's own); the names checked."""
    checked = []
    for path in sorted(models_dir.glob("*.sql")):
        if path.stem in project_models:
            continue
        check_analyst_jinja(path.stem.removeprefix("audience_"), path.read_text(), where=str(path))
        checked.append(path.stem)
    return checked
